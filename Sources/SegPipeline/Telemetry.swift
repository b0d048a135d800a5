import Foundation
import SegMedia

/// The pipeline's stages, in the order a frame passes through them.
public enum Stage: String, CaseIterable, Sendable {
    case decode, preprocess, inference, render, encode
}

/// Frames-per-second and latency bookkeeping for one run, reported as JSON lines.
///
/// Filled by `TelemetryMetrics` (the swift-metrics backend the stage threads report to) and read by the
/// reporting sinks. Every record is one JSON object per line: `{"type":"telemetry",…}` every interval and
/// `{"type":"summary",…}` at the end. FPS counts frames that left the last stage; `latency` is per frame from
/// demux to encoded.
public final class Telemetry: Sendable {
    private struct State {
        var stageTotals = [Stage: LatencyStats]()
        var stageWindow = [Stage: LatencyStats]()
        var endToEnd = LatencyStats()
        var framesDone = 0
        var windowFrames = 0
        var windowStart: Double
    }
    private let state: Locked<State>
    public let start: Double

    public init(now: Double = Telemetry.now()) {
        start = now
        state = Locked(State(windowStart: now))
    }

    public static func now() -> Double { monotonicSeconds() }

    public func record(_ stage: Stage, seconds: Double) {
        state.withLock {
            $0.stageTotals[stage, default: LatencyStats()].record(seconds: seconds)
            $0.stageWindow[stage, default: LatencyStats()].record(seconds: seconds)
        }
    }

    /// A frame left the last stage, `seconds` after it was demuxed.
    public func frameDone(latencySeconds seconds: Double) {
        state.withLock {
            $0.endToEnd.record(seconds: seconds)
            $0.framesDone += 1
            $0.windowFrames += 1
        }
    }

    public var frames: Int { state.withLock { $0.framesDone } }

    /// Counters the caller owns (drops, corrupt packets, …), merged into each record.
    public typealias Counters = [String: Int]

    /// A periodic record over the window since the previous one (stage percentiles for the window, overall fps).
    public func windowRecord(counters: Counters, now: Double = Telemetry.now()) -> [String: Any] {
        let start = self.start
        return state.withLock { s -> [String: Any] in
            let window = max(now - s.windowStart, 1e-9)
            var stages = [String: Any]()
            for stage in Stage.allCases { if let st = s.stageWindow[stage], st.count > 0 { stages[stage.rawValue] = st.summary } }
            let record: [String: Any] = [
                "type": "telemetry", "elapsed_s": round2(now - start), "frames": s.framesDone,
                "fps": round2(Double(s.windowFrames) / window),
                "fps_total": round2(Double(s.framesDone) / max(now - start, 1e-9)),
                "stages_ms": stages, "latency_ms": s.endToEnd.summary, "counters": counters,
            ]
            s.stageWindow.removeAll(keepingCapacity: true)
            s.windowFrames = 0
            s.windowStart = now
            return record
        }
    }

    /// The final record, over the whole run.
    public func summaryRecord(counters: Counters, extra: [String: Any] = [:], now: Double = Telemetry.now()) -> [String: Any] {
        let start = self.start
        var record = state.withLock { s -> [String: Any] in
            var stages = [String: Any]()
            for stage in Stage.allCases { if let st = s.stageTotals[stage], st.count > 0 { stages[stage.rawValue] = st.summary } }
            return [
                "type": "summary", "elapsed_s": round2(now - start), "frames": s.framesDone,
                "fps": round2(Double(s.framesDone) / max(now - start, 1e-9)),
                "stages_ms": stages, "latency_ms": s.endToEnd.summary, "counters": counters,
            ]
        }
        record.merge(extra) { _, new in new }
        return record
    }

    /// Mean milliseconds of one stage over the whole run.
    public func meanMilliseconds(_ stage: Stage) -> Double {
        state.withLock { $0.stageTotals[stage]?.meanMilliseconds ?? 0 }
    }
}

func round2(_ v: Double) -> Double { (v * 100).rounded() / 100 }

/// One JSON object per line, keys sorted so records diff cleanly.
public func jsonLine(_ object: [String: Any]) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
          let text = String(data: data, encoding: .utf8)
    else { return "{}" }
    return text
}
