import CoreMetrics
import Foundation

/// The metrics a stream pipeline reports through swift-metrics, each with a `stream` dimension (the source's
/// name); the stage timer also has `stage` (decode, preprocess, inference, render, encode). Prometheus-style
/// names; timers are in nanoseconds as swift-metrics records them.
public enum PipelineMetric {
    /// Timer: time one frame spent in one stage (`stage` dimension).
    public static let stageLatency = "segstream_stage_latency_seconds"
    /// Timer: time one stage spent blocked on a queue for one frame (`stage` and `queue` dimensions; `queue` is
    /// `input`, waiting for a frame to work on, or `output`, waiting for room downstream: the next queue or a
    /// free frame buffer). The encode stage has no output queue; the decode stage no input queue.
    public static let stageWait = "segstream_stage_wait_seconds"
    /// Timer: demux to the end of the encode stage, per frame.
    public static let frameLatency = "segstream_frame_latency_seconds"
    /// Counter: frames read from the source and admitted to the pipeline (after `--start`).
    public static let framesDecoded = "segstream_frames_decoded_total"
    /// Counter: frames that left the last stage.
    public static let framesProcessed = "segstream_frames_processed_total"
    /// Counter: frames dropped by the entrance queue (live sources, `.dropOldest`), dimension `reason` =
    /// `inference_busy` (the only drop there is: a newer frame arrived while inference was busy).
    public static let framesDropped = "segstream_frames_dropped_total"
    /// Counters: the source's damage (`SourceDamage`).
    public static let corruptPackets = "segstream_corrupt_packets_total"
    public static let corruptFrames = "segstream_corrupt_frames_total"
    public static let synthesizedTimestamps = "segstream_synthesized_timestamps_total"
    /// Counter: output timestamps the video writer had to move to keep them increasing.
    public static let adjustedOutputTimestamps = "segstream_adjusted_output_timestamps_total"
    /// Gauge: 1 while a run reads its source, 0 after.
    public static let streamUp = "segstream_stream_up"
    /// Gauge: presentation time (seconds) of the last frame that left the pipeline.
    public static let lastFramePTS = "segstream_last_frame_pts_seconds"
}

/// The handles one run reports to, made from the pipeline's factory.
struct RunMetrics: Sendable {
    /// Which side of a stage a queue wait was on (`PipelineMetric.stageWait`).
    enum QueueSide: String, CaseIterable { case input, output }

    let stage: [Stage: CoreMetrics.Timer]
    let wait: [Stage: [QueueSide: CoreMetrics.Timer]]
    let frameLatency: CoreMetrics.Timer
    let framesDecoded: Counter
    let framesProcessed: Counter
    let framesDropped: Counter
    let corruptPackets: Counter
    let corruptFrames: Counter
    let synthesizedTimestamps: Counter
    let streamUp: Gauge
    let lastFramePTS: Gauge

    init(factory: any MetricsFactory, stream: String) {
        let d = [("stream", stream)]
        var stage = [Stage: CoreMetrics.Timer]()
        for s in Stage.allCases {
            stage[s] = CoreMetrics.Timer(label: PipelineMetric.stageLatency, dimensions: d + [("stage", s.rawValue)], factory: factory)
        }
        self.stage = stage
        var wait = [Stage: [QueueSide: CoreMetrics.Timer]]()
        for s in Stage.allCases {
            for side in QueueSide.allCases {
                wait[s, default: [:]][side] = CoreMetrics.Timer(
                    label: PipelineMetric.stageWait, dimensions: d + [("stage", s.rawValue), ("queue", side.rawValue)], factory: factory)
            }
        }
        self.wait = wait
        frameLatency = CoreMetrics.Timer(label: PipelineMetric.frameLatency, dimensions: d, factory: factory)
        framesDecoded = Counter(label: PipelineMetric.framesDecoded, dimensions: d, factory: factory)
        framesProcessed = Counter(label: PipelineMetric.framesProcessed, dimensions: d, factory: factory)
        framesDropped = Counter(label: PipelineMetric.framesDropped, dimensions: d + [("reason", "inference_busy")], factory: factory)
        corruptPackets = Counter(label: PipelineMetric.corruptPackets, dimensions: d, factory: factory)
        corruptFrames = Counter(label: PipelineMetric.corruptFrames, dimensions: d, factory: factory)
        synthesizedTimestamps = Counter(label: PipelineMetric.synthesizedTimestamps, dimensions: d, factory: factory)
        streamUp = Gauge(label: PipelineMetric.streamUp, dimensions: d, factory: factory)
        lastFramePTS = Gauge(label: PipelineMetric.lastFramePTS, dimensions: d, factory: factory)
    }

    func record(_ s: Stage, seconds: Double) {
        stage[s]!.recordNanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// Time `s` spent blocked on its input or output queue for one frame.
    func recordWait(_ s: Stage, _ side: QueueSide, seconds: Double) {
        wait[s]![side]!.recordNanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// Adds what the source counted since `previous`.
    func add(damage: SourceDamage, since previous: SourceDamage) {
        if damage.corruptPackets > previous.corruptPackets { corruptPackets.increment(by: damage.corruptPackets - previous.corruptPackets) }
        if damage.corruptFrames > previous.corruptFrames { corruptFrames.increment(by: damage.corruptFrames - previous.corruptFrames) }
        if damage.synthesizedTimestamps > previous.synthesizedTimestamps {
            synthesizedTimestamps.increment(by: damage.synthesizedTimestamps - previous.synthesizedTimestamps)
        }
    }
}

/// The JSON-lines telemetry as a swift-metrics backend: stage and frame timers feed a `Telemetry` (HDR
/// histograms, windows), counters are summed by label. One backend per run (it ignores dimensions); give it
/// to `StreamPipeline` as its factory, alone or beside others with `MultiplexMetricsHandler`, and to the
/// reporting sinks (`TelemetrySink`, `JSONLinesSink`) that write its records.
public final class TelemetryMetrics: MetricsFactory {
    public let telemetry: Telemetry
    private let counts = Locked<[String: Int64]>([:])

    public init(telemetry: Telemetry = Telemetry()) { self.telemetry = telemetry }

    /// A counter's total so far (0 if never incremented).
    public func count(_ label: String) -> Int { Int(counts.withLock { $0[label] ?? 0 }) }

    /// The `counters` object of telemetry and summary records.
    public var recordCounters: Telemetry.Counters {
        ["dropped": count(PipelineMetric.framesDropped), "corrupt_packets": count(PipelineMetric.corruptPackets),
         "corrupt_frames": count(PipelineMetric.corruptFrames),
         "synthesized_timestamps": count(PipelineMetric.synthesizedTimestamps),
         "adjusted_output_timestamps": count(PipelineMetric.adjustedOutputTimestamps)]
    }

    /// The final record of a run: telemetry over the whole run, counters, and the run's outcome.
    public func summaryRecord(_ summary: RunSummary, extra: [String: Any] = [:]) -> [String: Any] {
        var fields = extra
        fields["network_size"] = summary.networkSize.map { "\($0)" } ?? NSNull()
        fields["interrupted"] = summary.interrupted
        fields["input_error"] = summary.inputError.map { $0.description } ?? NSNull()
        return telemetry.summaryRecord(counters: recordCounters, extra: fields)
    }

    fileprivate func add(_ label: String, _ amount: Int64) { counts.withLock { $0[label, default: 0] += amount } }
    fileprivate func reset(_ label: String) { counts.withLock { $0[label] = 0 } }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        TelemetryCounter(backend: self, label: label)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        NoopRecorder()
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        switch label {
        case PipelineMetric.stageLatency:
            if let name = dimensions.first(where: { $0.0 == "stage" })?.1, let stage = Stage(rawValue: name) {
                return StageTimer(telemetry: telemetry, stage: stage)
            }
        case PipelineMetric.frameLatency:
            return FrameTimer(telemetry: telemetry)
        default:
            break
        }
        return NoopTimer()
    }

    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}
}

private final class TelemetryCounter: CounterHandler {
    let backend: TelemetryMetrics
    let label: String
    init(backend: TelemetryMetrics, label: String) { self.backend = backend; self.label = label }
    func increment(by amount: Int64) { backend.add(label, amount) }
    func reset() { backend.reset(label) }
}

private final class StageTimer: TimerHandler {
    let telemetry: Telemetry
    let stage: Stage
    init(telemetry: Telemetry, stage: Stage) { self.telemetry = telemetry; self.stage = stage }
    func recordNanoseconds(_ duration: Int64) { telemetry.record(stage, seconds: Double(duration) / 1e9) }
}

private final class FrameTimer: TimerHandler {
    let telemetry: Telemetry
    init(telemetry: Telemetry) { self.telemetry = telemetry }
    func recordNanoseconds(_ duration: Int64) { telemetry.frameDone(latencySeconds: Double(duration) / 1e9) }
}

private final class NoopTimer: TimerHandler {
    func recordNanoseconds(_ duration: Int64) {}
}

private final class NoopRecorder: RecorderHandler {
    func record(_ value: Int64) {}
    func record(_ value: Double) {}
}
