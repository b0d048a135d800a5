import CoreMetrics
import Foundation
import SegMedia
import SegPipeline

/// The metrics the daemon itself reports (beside the pipelines' `PipelineMetric`s).
public enum ServeMetric {
    /// Counter, dimension `source`: connections opened after a source's first one.
    public static let reconnects = "segstream_reconnects_total"
}

/// What the daemon shows to other threads (the HTTP side, docs/http.md): one consistent picture of every source,
/// taken by ``ServeDaemon/status()``. URLs are redacted; nothing here carries a credential.
public struct DaemonStatus: Sendable {
    /// Models loaded and the configuration applied (false while starting and while a reload is applied).
    public var ready: Bool
    /// The loop makes progress: the same predicate as the systemd watchdog's pings.
    public var progressing: Bool
    public var sources: [SourceStatus]
}

public struct SourceStatus: Sendable {
    public var name: String
    public var redactedURL: String
    /// `connecting`, `running`, `backing off` or `stopped` (``SourcePhase/name``).
    public var state: String
    /// Frames processed per second over the loop's last tick (nil before the first).
    public var fps: Double?
    public var framesDecoded: Int
    public var framesProcessed: Int
    /// Frames dropped, by reason (`inference_busy`: the entrance queue kept a newer frame).
    public var dropped: [String: Int]
    /// Frames decoded but left out by `fps:` pacing (not drops).
    public var skipped: Int
    public var reconnects: Int
    /// Seconds since the last decoded frame (nil before the first).
    public var lastFrameAge: Double?
    /// The frame size of the current connection.
    public var width: Int?
    public var height: Int?
    /// End-to-end latency (decode to the end of the pipeline) of recent frames, exponentially weighted, seconds.
    public var latency: Double?
    /// The last error, redacted.
    public var lastError: String?
    /// The model's class names and palette colours (the page's legend).
    public var classNames: [String]
    public var palette: [[UInt8]]
}

/// Per-source totals of the pipeline's counters and a weighted mean of its frame latency, kept for
/// ``DaemonStatus`` beside whatever metrics backend the daemon was given (a second factory of a
/// `MultiplexMetricsHandler`). Keys are the `stream` dimension (the source's name).
final class LiveCounts: MetricsFactory, Sendable {
    struct Counts {
        var decoded = 0
        var processed = 0
        var dropped: [String: Int] = [:]
        var latency: Double?
    }
    private let table = Locked<[String: Counts]>([:])

    func counts(_ name: String) -> Counts { table.withLock { $0[name] ?? Counts() } }

    fileprivate func update(_ name: String, _ body: (inout Counts) -> Void) {
        table.withLock { body(&$0[name, default: Counts()]) }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let name = dimensions.first { $0.0 == "stream" }?.1 ?? ""
        switch label {
        case PipelineMetric.framesDecoded:
            return LiveCounter(counts: self, name: name) { counts, n in counts.decoded += n }
        case PipelineMetric.framesProcessed:
            return LiveCounter(counts: self, name: name) { counts, n in counts.processed += n }
        case PipelineMetric.framesDropped:
            let reason = dimensions.first { $0.0 == "reason" }?.1 ?? "unknown"
            return LiveCounter(counts: self, name: name) { counts, n in counts.dropped[reason, default: 0] += n }
        default:
            return LiveCounter(counts: self, name: name) { _, _ in }
        }
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        IgnoredRecorder()
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        guard label == PipelineMetric.frameLatency, let name = dimensions.first(where: { $0.0 == "stream" })?.1 else {
            return IgnoredTimer()
        }
        return LatencyTimer(counts: self, name: name)
    }

    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

private final class LiveCounter: CounterHandler, Sendable {
    let counts: LiveCounts
    let name: String
    let add: @Sendable (inout LiveCounts.Counts, Int) -> Void
    init(counts: LiveCounts, name: String = "", add: @escaping @Sendable (inout LiveCounts.Counts, Int) -> Void) {
        self.counts = counts
        self.name = name
        self.add = add
    }
    func increment(by amount: Int64) { counts.update(name) { add(&$0, Int(amount)) } }
    func reset() {}
}

private final class LatencyTimer: TimerHandler, Sendable {
    let counts: LiveCounts
    let name: String
    init(counts: LiveCounts, name: String) { self.counts = counts; self.name = name }
    func recordNanoseconds(_ duration: Int64) {
        let seconds = Double(duration) / 1e9
        // Weight 0.2: about the last five frames, steady enough to read, quick to follow a change.
        counts.update(name) { $0.latency = $0.latency.map { $0 * 0.8 + seconds * 0.2 } ?? seconds }
    }
}

private final class IgnoredTimer: TimerHandler, Sendable { func recordNanoseconds(_ duration: Int64) {} }
private final class IgnoredRecorder: RecorderHandler, Sendable {
    func record(_ value: Int64) {}
    func record(_ value: Double) {}
}

/// The latest annotated frame of one source, kept only while someone looks: the HTTP side asks for it
/// (``requestFrame(now:)``) and the source's ``SnapshotSink`` copies rendered frames only for
/// ``watchWindow`` seconds after a request. With nobody watching it costs one lock and a comparison per frame.
public final class SnapshotStore: Sendable {
    public struct Frame: Sendable {
        /// YUV 4:2:0 (limited-range BT.709), planes back to back: luma `width` a row, chroma (width + 1) / 2.
        public var yuv: [UInt8]
        public var width: Int
        public var height: Int
        /// Counts the frames stored, so a reader can tell a new one.
        public var sequence: Int
    }
    /// How long after the last request frames keep being copied.
    public static let watchWindow = 5.0

    private struct State {
        var frame: Frame?
        var requestedAt = -Double.infinity
        var sequence = 0
    }
    private let state = Locked(State())

    public init() {}

    /// The latest frame (nil before one was copied since the watch began), and from now on frames are copied for
    /// ``watchWindow`` s.
    public func requestFrame(now: Double = Telemetry.now()) -> Frame? {
        state.withLock {
            // A frame kept from before the last watch lapsed is stale: the caller waits for a fresh one.
            if now - $0.requestedAt >= Self.watchWindow { $0.frame = nil }
            $0.requestedAt = now
            return $0.frame
        }
    }

    /// Whether a viewer asked recently (the sink's check).
    func isWatched(now: Double) -> Bool { state.withLock { now - $0.requestedAt < Self.watchWindow } }

    func store(_ picture: YUV420Planes) {
        let w = picture.width, h = picture.height, cw = picture.chromaWidth, ch = picture.chromaHeight
        var copy = [UInt8](repeating: 0, count: w * h + 2 * cw * ch)
        copy.withUnsafeMutableBufferPointer { out in
            for y in 0..<h { (out.baseAddress! + y * w).update(from: picture.y + y * picture.lumaStride, count: w) }
            for y in 0..<ch {
                (out.baseAddress! + w * h + y * cw).update(from: picture.u + y * picture.chromaStride, count: cw)
                (out.baseAddress! + w * h + cw * ch + y * cw).update(from: picture.v + y * picture.chromaStride, count: cw)
            }
        }
        state.withLock {
            $0.sequence += 1
            $0.frame = Frame(yuv: copy, width: w, height: h, sequence: $0.sequence)
        }
    }
}

/// Hands rendered frames to a ``SnapshotStore`` while it is watched. The render stage runs for it on every frame
/// (the pipeline decides per run whether to render): that is the price of a page that can be opened at any time.
final class SnapshotSink: FrameSink {
    private let store: SnapshotStore
    init(store: SnapshotStore) { self.store = store }
    var role: SinkRole { .report }
    var wantsRenderedFrame: Bool { true }
    func consume(_ frame: ProcessedFrame) throws {
        guard let picture = frame.rendered, store.isWatched(now: Telemetry.now()) else { return }
        store.store(picture)
    }
}
