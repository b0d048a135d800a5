import Foundation

/// The pipeline's stages, in the order a frame passes through them.
public enum Stage: String, CaseIterable, Sendable {
    case decode, preprocess, inference, render, encode
}

/// Frames-per-second and latency bookkeeping for one run, reported as JSON lines.
///
/// Stage threads call `record`; the reporter thread calls `snapshot`. Every record is one JSON object per
/// line: `{"type":"telemetry",…}` every interval and `{"type":"summary",…}` at the end. FPS counts frames
/// that left the last stage; `latency` is per frame from demux to encoded.
public final class Telemetry: @unchecked Sendable {
    private let lock = NSLock()
    private var stageTotals = [Stage: LatencyStats]()
    private var stageWindow = [Stage: LatencyStats]()
    private var endToEnd = LatencyStats()
    private var framesDone = 0
    private var windowFrames = 0
    private var windowStart: Double
    public let start: Double

    public init(now: Double = Telemetry.now()) {
        start = now
        windowStart = now
    }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    public func record(_ stage: Stage, seconds: Double) {
        lock.lock()
        stageTotals[stage, default: LatencyStats()].record(seconds: seconds)
        stageWindow[stage, default: LatencyStats()].record(seconds: seconds)
        lock.unlock()
    }

    /// A frame left the last stage, `seconds` after it was demuxed.
    public func frameDone(latencySeconds seconds: Double) {
        lock.lock()
        endToEnd.record(seconds: seconds)
        framesDone += 1
        windowFrames += 1
        lock.unlock()
    }

    public var frames: Int {
        lock.lock()
        defer { lock.unlock() }
        return framesDone
    }

    /// Counters the caller owns (drops, corrupt packets, …), merged into each record.
    public typealias Counters = [String: Int]

    /// A periodic record over the window since the previous one (stage percentiles for the window, overall fps).
    public func windowRecord(counters: Counters, now: Double = Telemetry.now()) -> [String: Any] {
        lock.lock()
        defer { lock.unlock() }
        let window = max(now - windowStart, 1e-9)
        var stages = [String: Any]()
        for stage in Stage.allCases { if let s = stageWindow[stage], s.count > 0 { stages[stage.rawValue] = s.summary } }
        let record: [String: Any] = [
            "type": "telemetry", "elapsed_s": round2(now - start), "frames": framesDone,
            "fps": round2(Double(windowFrames) / window),
            "fps_total": round2(Double(framesDone) / max(now - start, 1e-9)),
            "stages_ms": stages, "latency_ms": endToEnd.summary, "counters": counters,
        ]
        stageWindow.removeAll(keepingCapacity: true)
        windowFrames = 0
        windowStart = now
        return record
    }

    /// The final record, over the whole run.
    public func summaryRecord(counters: Counters, extra: [String: Any] = [:], now: Double = Telemetry.now()) -> [String: Any] {
        lock.lock()
        defer { lock.unlock() }
        var stages = [String: Any]()
        for stage in Stage.allCases { if let s = stageTotals[stage], s.count > 0 { stages[stage.rawValue] = s.summary } }
        var record: [String: Any] = [
            "type": "summary", "elapsed_s": round2(now - start), "frames": framesDone,
            "fps": round2(Double(framesDone) / max(now - start, 1e-9)),
            "stages_ms": stages, "latency_ms": endToEnd.summary, "counters": counters,
        ]
        record.merge(extra) { _, new in new }
        return record
    }

    /// Mean milliseconds of one stage over the whole run (the HUD shows inference time).
    public func meanMilliseconds(_ stage: Stage) -> Double {
        lock.lock()
        defer { lock.unlock() }
        return stageTotals[stage]?.meanMilliseconds ?? 0
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
