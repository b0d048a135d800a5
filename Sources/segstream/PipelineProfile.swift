import ArgumentParser
import CoreMetrics
import Foundation
import SegEngine
import SegMedia
import SegPipeline
import SFNet

/// Every stage time and queue wait one pipeline run reports through swift-metrics
/// (`PipelineMetric.stageLatency`, `PipelineMetric.stageWait`), kept sample by sample: the backend of
/// `segstream profile INPUT`. Other metrics are ignored.
final class StageSamples: MetricsFactory {
    enum Kind: Hashable, Sendable { case busy, inputWait, outputWait }
    struct Key: Hashable, Sendable {
        let stage: Stage
        let kind: Kind
    }

    private let samples = Locked<[Key: [Double]]>([:])

    /// Seconds per frame, in the order recorded.
    func seconds(_ stage: Stage, _ kind: Kind) -> [Double] { samples.withLock { $0[Key(stage: stage, kind: kind)] ?? [] } }

    fileprivate func record(_ key: Key, seconds: Double) { samples.withLock { $0[key, default: []].append(seconds) } }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        guard let stage = dimensions.first(where: { $0.0 == "stage" }).flatMap({ Stage(rawValue: $0.1) }) else { return IgnoredMetric() }
        switch label {
        case PipelineMetric.stageLatency:
            return SampleTimer(backend: self, key: Key(stage: stage, kind: .busy))
        case PipelineMetric.stageWait:
            switch dimensions.first(where: { $0.0 == "queue" })?.1 {
            case "input": return SampleTimer(backend: self, key: Key(stage: stage, kind: .inputWait))
            case "output": return SampleTimer(backend: self, key: Key(stage: stage, kind: .outputWait))
            default: return IgnoredMetric()
            }
        default:
            return IgnoredMetric()
        }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { IgnoredMetric() }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { IgnoredMetric() }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

private final class SampleTimer: TimerHandler {
    let backend: StageSamples
    let key: StageSamples.Key
    init(backend: StageSamples, key: StageSamples.Key) { self.backend = backend; self.key = key }
    func recordNanoseconds(_ duration: Int64) { backend.record(key, seconds: Double(duration) / 1e9) }
}

private final class IgnoredMetric: TimerHandler, CounterHandler, RecorderHandler {
    func recordNanoseconds(_ duration: Int64) {}
    func increment(by amount: Int64) {}
    func reset() {}
    func record(_ value: Int64) {}
    func record(_ value: Double) {}
}

/// When each frame left the pipeline (a report sink: it runs after the encode stage's output sinks).
final class FrameExitTimes: FrameSink {
    private(set) var times: [Double] = []
    var role: SinkRole { .report }
    func consume(_ frame: ProcessedFrame) throws { times.append(Telemetry.now()) }
}

/// `segstream profile INPUT`: the real pipeline (`StreamPipeline`, as `run -o` runs it) on a clip.
struct PipelineProfiler {
    var clip: String
    var modelOptions: ModelOptions
    /// HEIGHT×WIDTH, or nil for `run`'s automatic size.
    var networkSize: NetworkSize?
    var frames: Int?
    var output: String?
    var encoder: EncoderSettings
    var iterations: Int
    var warmup: Int

    func measure() throws -> PipelineProfileReport {
        guard FileManager.default.fileExists(atPath: clip) else { throw CLIError("no such input: \(clip)", .noInput) }
        let model = try modelOptions.loadModel()
        let measured = try PipelineRun(clip: clip, networkSize: networkSize, frames: frames, output: output, encoder: encoder)
            .run(model: model, pool: .shared)
        let summary = measured.summary, size = measured.networkSize, stream = measured.stream

        // The network alone at the same size and threads, on the clip's first frame fed as `run` feeds it (the
        // 8-bit planes): the rate the pipeline is measured against (the issue's end-to-end / inference-only ratio).
        let rule = InputRule(config: model.config, fixedSize: size)
        let planes = PixelPlanes()
        try NetworkInputBuilder(rule: rule).fill(planes, size: size, from: try StillFrame(path: clip).frame)
        let inferenceTimes = model.makeSession().timedPasses(rule.networkInput(planes), warmup: warmup, iterations: iterations)
            .map { $0 / 1000 }

        let cores = ProcessInfo.processInfo.activeProcessorCount
        return PipelineProfileReport(
            input: clip, frameWidth: stream.width, frameHeight: stream.height, arch: model.config.arch.rawValue,
            precision: model.precision.rawValue, isa: KernelISA.active.name, networkSize: size,
            threads: modelOptions.threadCount, cores: cores, encoder: encoder, frames: summary.frames,
            seconds: summary.seconds, exitTimes: measured.exitTimes, stages: measured.stages, inferenceOnlySeconds: inferenceTimes,
            warmup: warmup, output: output, cpuSeconds: measured.cpuSeconds, loadAverage: Self.loadAverage())
    }

    /// User + system CPU time of this process so far (every thread: the stages, the engine's workers, x264's).
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// The 1-minute load average: how busy the machine was (other processes compete for the same cores).
    static func loadAverage() -> Double? {
        var loads = [Double](repeating: 0, count: 3)
        return getloadavg(&loads, 3) >= 1 ? loads[0] : nil
    }
}

/// One sampled run of the real pipeline on a clip, as `run -o` runs it (encode included): what `profile INPUT`
/// and `profile --sweep --pipeline-frames` measure.
struct PipelineRun {
    var clip: String
    /// HEIGHT×WIDTH, or nil for `run`'s automatic size.
    var networkSize: NetworkSize?
    var frames: Int?
    /// Where the annotated video goes; nil: a temporary file, removed.
    var output: String?
    var encoder: EncoderSettings

    struct Result {
        let summary: RunSummary
        let stream: StreamInfo
        let networkSize: NetworkSize
        let stages: [PipelineProfileReport.StageRow]
        let exitTimes: [Double]
        /// CPU time the process used during the run (all its threads).
        let cpuSeconds: Double
    }

    func run(model: any SegmentationModel, pool: WorkerPool) throws -> Result {
        var configuration = StreamPipeline.Configuration()
        configuration.networkSize = networkSize
        configuration.maxFrames = frames
        let samples = StageSamples()
        let pipeline = StreamPipeline(model: model, configuration: configuration, metrics: samples, pool: pool)

        var sourceOptions = SourceOptions()
        sourceOptions.keepAudio = true
        let source = try VideoSource(clip, options: sourceOptions)
        let stream = source.streamInfo
        guard !stream.isLive else { throw CLIError("profile needs a file, not a live source: \(clip)", .usage) }

        // The annotated video goes to --output, or to a temporary file removed afterwards: encode is part of the
        // pipeline being measured.
        let temporaryDirectory = output == nil
            ? FileManager.default.temporaryDirectory.appendingPathComponent("segstream-profile-\(getpid())-\(UUID().uuidString)") : nil
        if let temporaryDirectory { try FileManager.default.createDirectory(at: temporaryDirectory, withIntermediateDirectories: true) }
        defer { if let temporaryDirectory { try? FileManager.default.removeItem(at: temporaryDirectory) } }
        let videoPath = output ?? temporaryDirectory!.appendingPathComponent("profile.mp4").path
        if let output { try OutputSafety.refuseSameFile(input: clip, outputs: [output]) }
        let rendered = pipeline.renderedSize(frameWidth: stream.width, frameHeight: stream.height)
        try VideoWriter.checkFrameSize(width: rendered.width, height: rendered.height, input: clip)
        let video = try AnnotatedVideoSink(path: videoPath, stream: stream, size: rendered, settings: encoder, metrics: samples)
        let exits = FrameExitTimes()
        let cpuBefore = PipelineProfiler.processCPUSeconds()
        // SIGINT/SIGTERM finish the frames in flight and close the video (as in `run`); then the temporary file goes.
        let stop = RunStop()
        let signals = SignalStopper { _ in stop.request() }
        let summary = try pipeline.run(source: source, sinks: [video, exits], stop: stop)
        signals.cancel()
        if let signal = signals.received { throw ExitCode(128 + signal) }
        let cpuSeconds = PipelineProfiler.processCPUSeconds() - cpuBefore
        if let error = summary.inputError { throw error }
        guard let size = summary.networkSize else { throw CLIError("no frame reached the network", .dataError) }
        let stages = Stage.allCases.map { stage in
            PipelineProfileReport.StageRow(stage: stage, busy: samples.seconds(stage, .busy),
                                           inputWait: stage == .decode ? nil : samples.seconds(stage, .inputWait),
                                           outputWait: stage == .encode ? nil : samples.seconds(stage, .outputWait))
        }
        return Result(summary: summary, stream: stream, networkSize: size, stages: stages, exitTimes: exits.times,
                      cpuSeconds: cpuSeconds)
    }
}

/// What `segstream profile INPUT` prints: a table, or one JSON object.
struct PipelineProfileReport {
    struct StageRow {
        let stage: Stage
        /// Seconds per frame in the stage's own work.
        let busy: [Double]
        /// Seconds per frame blocked on the input / output queue; nil where the stage has no such queue.
        let inputWait: [Double]?
        let outputWait: [Double]?
        func medianMs() -> Double { busy.isEmpty ? 0 : 1000 * Statistics.median(busy) }
        func p95Ms() -> Double { busy.isEmpty ? 0 : 1000 * Statistics.percentile(busy, 95) }
        func busyFraction(of seconds: Double) -> Double { busy.reduce(0, +) / max(seconds, 1e-9) }
        static func limiting(_ rows: [StageRow], seconds: Double) -> StageRow {
            rows.max { $0.busyFraction(of: seconds) < $1.busyFraction(of: seconds) }!
        }
        static func meanMs(_ values: [Double]?) -> Double? {
            values.map { $0.isEmpty ? 0 : 1000 * $0.reduce(0, +) / Double($0.count) }
        }
    }

    let input: String
    let frameWidth: Int
    let frameHeight: Int
    let arch: String
    let precision: String
    let isa: String
    let networkSize: NetworkSize
    let threads: Int
    let cores: Int
    let encoder: EncoderSettings
    let frames: Int
    /// Wall time of the run, from its start to the last sink's finish (what `run` reports fps over).
    let seconds: Double
    let exitTimes: [Double]
    let stages: [StageRow]
    let inferenceOnlySeconds: [Double]
    let warmup: Int
    let output: String?
    /// CPU time the process used during the run (all its threads).
    let cpuSeconds: Double
    let loadAverage: Double?

    var fps: Double { Double(frames) / max(seconds, 1e-9) }
    /// Frames per second between the first and the last frame out: the rate once the pipeline is full.
    var steadyFPS: Double? {
        guard exitTimes.count >= 2, let first = exitTimes.first, let last = exitTimes.last, last > first else { return nil }
        return Double(exitTimes.count - 1) / (last - first)
    }
    var inferenceOnlyMs: Double { 1000 * Statistics.median(inferenceOnlySeconds) }
    var inferenceOnlyFPS: Double { 1000 / inferenceOnlyMs }
    var ratio: Double { fps / inferenceOnlyFPS }
    /// The stage busy for the largest share of the run: the one that sets the pace.
    var limitingStage: StageRow { StageRow.limiting(stages, seconds: seconds) }

    func text() -> String {
        var out: [String] = []
        out.append("segstream profile: pipeline on \(input) (\(frameWidth)x\(frameHeight)), \(arch) \(precision) at "
                   + "\(networkSize.height)x\(networkSize.width) (HxW), \(threads) thread\(threads == 1 ? "" : "s") on "
                   + "\(cores) core\(cores == 1 ? "" : "s"), kernels \(isa)")
        out.append("encode: x264 \(encoder.preset) crf \(String(format: "%g", encoder.crf)), "
                   + (encoder.threads == 0 ? "auto threads" : "\(encoder.threads) threads")
                   + (output.map { ", into \($0)" } ?? ", into a temporary file"))
        var line = String(format: "end to end: %d frames in %.2f s, %.2f fps", frames, seconds, fps)
        if let steadyFPS { line += String(format: " (%.2f fps from the first frame out to the last)", steadyFPS) }
        out.append(line)
        out.append(String(format: "inference only: %.2f fps (median %.2f ms of %d passes, same size and threads, after %d warm-up)",
                          inferenceOnlyFPS, inferenceOnlyMs, inferenceOnlySeconds.count, warmup))
        out.append(String(format: "ratio: end to end / inference only = %.1f%%", 100 * ratio))
        var cpu = String(format: "cpu: %.2f s over %.2f s of the run = %.2f of %d cores busy (all threads: stages, engine workers, x264)",
                         cpuSeconds, seconds, cpuSeconds / max(seconds, 1e-9), cores)
        if let loadAverage { cpu += String(format: "; load average %.2f", loadAverage) }
        out.append(cpu)
        out.append("stage         median ms    p95 ms    busy   in-wait ms  out-wait ms  (waits: mean per frame)")
        for row in stages {
            let name = row.stage.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
            func wait(_ v: Double?) -> String { v.map { String(format: "%12.2f", $0) } ?? String(repeating: " ", count: 11) + "-" }
            out.append(name + String(format: " %10.2f %9.2f %6.1f%%", row.medianMs(), row.p95Ms(), 100 * row.busyFraction(of: seconds))
                       + wait(StageRow.meanMs(row.inputWait)) + " " + wait(StageRow.meanMs(row.outputWait)))
        }
        let limit = limitingStage
        out.append(String(format: "limiting stage: %@ (busy %.1f%% of the run)", limit.stage.rawValue, 100 * limit.busyFraction(of: seconds)))
        return out.joined(separator: "\n")
    }

    func jsonObject() -> [String: Any] {
        var stageObjects: [String: Any] = [:]
        for row in stages {
            stageObjects[row.stage.rawValue] = [
                "frames": row.busy.count, "median_ms": row.medianMs(), "p95_ms": row.p95Ms(),
                "mean_ms": StageRow.meanMs(row.busy)!, "busy_fraction": row.busyFraction(of: seconds),
                "input_wait_ms": StageRow.meanMs(row.inputWait).map { $0 as Any } ?? NSNull(),
                "output_wait_ms": StageRow.meanMs(row.outputWait).map { $0 as Any } ?? NSNull(),
            ] as [String: Any]
        }
        return [
            "mode": "pipeline", "input": input, "frame_size": "\(frameWidth)x\(frameHeight)", "arch": arch,
            "precision": precision, "isa": isa, "size": "\(networkSize.height)x\(networkSize.width)",
            "height": networkSize.height, "width": networkSize.width, "threads": threads, "cores": cores,
            "encoder": ["preset": encoder.preset, "crf": encoder.crf, "threads": encoder.threads] as [String: Any],
            "frames": frames, "seconds": seconds, "fps": fps, "steady_fps": steadyFPS.map { $0 as Any } ?? NSNull(),
            "inference_only_fps": inferenceOnlyFPS, "inference_only_ms": inferenceOnlyMs,
            "inference_only_times_ms": inferenceOnlySeconds.map { $0 * 1000 }, "ratio": ratio,
            "limiting_stage": limitingStage.stage.rawValue, "stages": stageObjects,
            "output": output.map { $0 as Any } ?? NSNull(), "cpu_seconds": cpuSeconds,
            "cores_busy": cpuSeconds / max(seconds, 1e-9), "load_average": loadAverage.map { $0 as Any } ?? NSNull(),
        ]
    }
}
