import ArgumentParser
import Dispatch
import Foundation
import SegMedia
import SegPipeline
import SFNet
import Synchronization

/// `segstream run`: segment a video file, stream or camera into an annotated video plus machine outputs.
struct Run: ParsableCommand {
    /// x264 preset of `run`'s output when none is given. On a 2-core machine the encoder competes with the network:
    /// at 1024×512 x264 ultrafast costs 3.1 ms of CPU a frame, veryfast 12.5 ms, for the same SSIM at crf 23 and
    /// 2.2× the bytes (BENCHMARKS.md, "The pipeline ratio"); throughput wins for the file tool. `serve`'s
    /// recordings keep `EncoderSettings`' veryfast (hours of video on disk).
    static let defaultPreset = "ultrafast"

    static let configuration = CommandConfiguration(
        abstract: "Segment a video: file, '-' (stdin), URL (rtsp/http/udp/tcp) or /dev/videoN.",
        discussion: """
            The network runs at --size, or by default at the frame's size times --scale and the model's \
            network_scale (the bundled model: 1.75), rounded to multiples of 32, the long side at most 1024 × \
            network_scale; labels are brought back to the frame's size by nearest neighbour. The \
            output keeps the source's timestamps (variable frame rate stays correct) and copies its audio. On \
            SIGINT/SIGTERM or an input error, frames in flight are finished and the output is closed properly, so \
            it always plays. Telemetry (FPS, per-stage latency p50/p95/p99, drops) goes to stderr as JSON lines \
            every few seconds and at the end, or to --telemetry FILE.
            """)

    @Argument(help: "Input: a file, '-' for stdin, a URL FFmpeg opens, or a V4L2 device (/dev/videoN).")
    var input: String

    @Option(name: [.short, .customLong("output")], help: "Annotated video (.mp4, .mkv or .mov).")
    var output: String?

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Network input size WxH (default: automatic, see above).")
    var size: String?

    @Option(name: .long, help: "Scale the frame by this factor before rounding to multiples of 32 (with the automatic size).")
    var scale: Double?

    @Option(name: .long, help: "Stop after this many frames.")
    var maxFrames: Int?

    @Option(name: .long, help: "Skip frames before this time, in seconds.")
    var start: Double?

    @Option(name: .long, help: "Overlay opacity 0…1 (default 0.5).")
    var alpha: Double = 0.5

    @Option(name: .long, help: "overlay, mask or side-by-side (default overlay).")
    var visualize: VisualizationMode = .overlay

    @Option(name: .long, help: "Comma-separated class names or ids to show (default: all).")
    var classes: String?

    @Option(name: .long, help: "Legend lists the classes present in each frame or all shown classes: present|all|none.")
    var legend: String = "present"

    @Flag(name: .long, help: "No FPS/latency line on the video.")
    var noHud = false

    @Option(name: .long, help: "Write a train-id PNG per frame (000000.png, …) into this directory.")
    var masks: String?

    @Option(name: .long, help: "Write one JSON line per frame and a final summary to this file.")
    var json: String?

    @OptionGroup(title: "Panoptic") var panoptic: PanopticCLIOptions

    @Option(name: .long, help: "Write telemetry JSON lines here instead of stderr.")
    var telemetry: String?

    @Option(name: .long, help: "Seconds between telemetry records (default 5).")
    var telemetryInterval: Double = 5

    @Option(name: .long, help: "When inference falls behind: wait (every frame; default for files) or oldest (drop frames that waited longer than --max-wait, oldest first; default for live sources).")
    var drop: String?

    @Option(name: .long, help: "With --drop oldest: seconds a decoded frame may wait for inference before it is dropped (default 1; 0 keeps only the newest frame).")
    var maxWait: Double = 1

    @Option(name: .long, help: "x264 constant rate factor (default 23).")
    var crf: Double = 23

    @Option(name: .long, help: "x264 preset (default ultrafast: a quarter of veryfast's CPU time, larger files).")
    var preset: String = Run.defaultPreset

    @Flag(name: .long, inversion: .prefixedNo, help: "Progress bar on stderr (default: when stderr is a terminal).")
    var progress: Bool?

    // [safety #11] Crash safety and the end of live inputs.
    @Flag(name: .long, help: "Write a classic MP4 with the index at the front (plays only once finished: a hard kill leaves nothing playable). Default: fragmented MP4, playable up to ~1 s before a kill.")
    var faststart = false

    @Flag(name: .long, help: "Count the end of a stream, pipe or device as done (exit 0). Default: it is an error (exit 69) unless you stopped the run.")
    var eofOk = false

    @Option(name: .long, help: "Seconds a stream, pipe or device may send nothing before it counts as lost (default 10, and 15 to open; this sets both).")
    var inputTimeout: Double?

    func validate() throws {
        if let size, parseSize(size) == nil { throw ValidationError("--size must be WxH with positive integers, e.g. 1024x512") }
        if let scale, !(scale > 0 && scale <= 8) { throw ValidationError("--scale must be in (0, 8]") }
        if size != nil && scale != nil { throw ValidationError("give --size or --scale, not both") }
        if let maxFrames, maxFrames < 1 { throw ValidationError("--max-frames must be at least 1") }
        if let start, start < 0 { throw ValidationError("--start must not be negative") }
        if !(0...1).contains(alpha) { throw ValidationError("--alpha must be between 0 and 1") }
        if !["present", "all", "none"].contains(legend) { throw ValidationError("--legend must be present, all or none") }
        if let drop, !["wait", "oldest"].contains(drop) { throw ValidationError("--drop must be wait or oldest") }
        if !(0...10).contains(maxWait) { throw ValidationError("--max-wait must be between 0 and 10 seconds") }
        if !(telemetryInterval > 0) { throw ValidationError("--telemetry-interval must be positive") }
        if !(0...51).contains(crf) { throw ValidationError("--crf must be between 0 and 51") }
        if let inputTimeout, !(inputTimeout > 0) { throw ValidationError("--input-timeout must be positive") }
        if let output {
            let ext = URL(fileURLWithPath: output).pathExtension.lowercased()
            if !["mp4", "mkv", "mov", "m4v"].contains(ext) {
                throw ValidationError("the output must end in .mp4, .mkv or .mov (got '\(output)')")
            }
        }
    }

    func parseSize(_ text: String) -> NetworkSize? { NetworkSize(parsing: text, .widthByHeight) }

    func run() throws {
        try reportingErrors {
            if !input.contains("://"), input != "-", !input.hasPrefix("/dev/video"), !FileManager.default.fileExists(atPath: input) {
                throw CLIError("no such input: \(input)", .noInput)
            }
            let model = try modelOptions.loadModel()
            var style = RenderStyle(mode: visualize, alpha: alpha, showLegend: legend != "none",
                                    legendContent: legend == "all" ? .all : .present, showHUD: !noHud)
            if let classes {
                let names = classes.split(separator: ",").map { String($0) }
                do {
                    style.visibleClasses = try RenderStyle.visibility(selecting: names, classNames: model.config.classNames)
                } catch {
                    throw CLIError("--classes: \(error)", .usage)
                }
            }
            var configuration = StreamPipeline.Configuration()
            configuration.networkSize = size.flatMap(parseSize)
            configuration.scale = scale ?? 1
            configuration.maxFrames = maxFrames
            configuration.start = start
            configuration.dropPolicy = drop.map { $0 == "wait" ? .wait : .dropOldest }
            configuration.maxWait = maxWait
            configuration.style = style
            configuration.panoptic = try panoptic.options(for: model.config)

            // Refuse an output that is the input (opening an output truncates it), before anything is opened.
            try OutputSafety.refuseSameFile(input: input, outputs: [output, json, telemetry, masks, panoptic.panopticOut])
            // Open everything before any work, in this order: input, masks directory, output, JSON, telemetry.
            var sourceOptions = SourceOptions()
            sourceOptions.keepAudio = output != nil
            sourceOptions.endOfStreamIsDone = eofOk
            if let inputTimeout {
                sourceOptions.readTimeout = inputTimeout
                sourceOptions.openTimeout = inputTimeout
            }
            let source = try VideoSource(input, options: sourceOptions)
            let stream = source.streamInfo
            let metrics = TelemetryMetrics()
            let pipeline = StreamPipeline(model: model, configuration: configuration, metrics: metrics)
            var sinks: [any FrameSink] = []
            if let masks { sinks.append(try MasksDirectorySink(directory: masks)) }
            if let out = panoptic.panopticOut { sinks.append(try PanopticDirectorySink(directory: out)) }
            if let output {
                var encoder = EncoderSettings()
                encoder.crf = crf
                encoder.preset = preset
                encoder.faststart = faststart
                let size = pipeline.renderedSize(frameWidth: stream.width, frameHeight: stream.height)
                // H.264 needs at least 2×2: a smaller video is the input's fault (65), not a usage error.
                try VideoWriter.checkFrameSize(width: size.width, height: size.height, input: input)
                sinks.insert(try AnnotatedVideoSink(path: output, stream: stream, size: size, settings: encoder, metrics: metrics), at: 0)
            }
            let extra: [String: Any] = ["input": input, "output": output ?? NSNull()]
            if let json {
                sinks.append(try JSONLinesSink(path: json, classNames: model.config.classNames, telemetry: metrics, extra: extra))
            }
            let telemetryOut = try telemetry.map { try LineOutput(path: $0) } ?? LineOutput.standardError
            sinks.append(TelemetrySink(out: telemetryOut, telemetry: metrics, interval: telemetryInterval, extra: extra))
            let estimated = stream.estimatedFrameCount
            let total = maxFrames.map { m in estimated.map { min($0, m) } ?? m } ?? estimated
            let showProgress = progress ?? (isatty(STDERR_FILENO) != 0)
            if showProgress { sinks.append(ProgressSink(bar: ProgressBar(total: total, enabled: true))) }

            let stop = RunStop()
            let signals = SignalStopper { _ in stop.request() }
            let summary = try pipeline.run(source: source, sinks: sinks, stop: stop)
            signals.cancel()
            let message = String(format: "segstream: %d frames in %.1f s (%.2f fps) at %@, %d dropped, %d corrupt packets skipped",
                                 summary.frames, summary.seconds, summary.fps, summary.networkSize?.description ?? "0x0",
                                 summary.dropped, summary.corruptPackets)
            FileHandle.standardError.write(Data((message + "\n").utf8))
            if let error = summary.inputError {
                // The output was finished and plays; the exit code still says the input broke.
                throw error
            }
            if let signal = signals.received { throw ExitCode(128 + signal) }
        }
    }
}

/// The progress bar as a report sink: redrawn at most five times a second, finished with a newline.
final class ProgressSink: FrameSink {
    private let bar: ProgressBar
    private let start = Telemetry.now()
    private var last = 0.0
    private var frames = 0

    init(bar: ProgressBar) { self.bar = bar }

    var role: SinkRole { .report }

    func consume(_ frame: ProcessedFrame) throws {
        frames += 1
        let now = Telemetry.now()
        guard now - last > 0.2 else { return }
        bar.draw(frames: frames, fps: Double(frames) / max(now - start, 1e-9))
        last = now
    }

    func finish(_ summary: RunSummary) throws { bar.finish() }
}

extension VisualizationMode: ExpressibleByArgument {}

/// Turns SIGINT and SIGTERM into a graceful stop (the run finishes its output), once; a second signal
/// of the same kind falls back to the default action.
final class SignalStopper {
    /// The first signal, written by a Dispatch handler and read by the thread that runs the command.
    private final class FirstSignal: Sendable {
        let value = Mutex<Int32?>(nil)
    }
    private var sources: [any DispatchSourceSignal] = []
    private let receivedSignal = FirstSignal()

    init(onSignal: @escaping @Sendable (Int32) -> Void) {
        let received = receivedSignal
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                received.value.withLock { if $0 == nil { $0 = sig } }
                FileHandle.standardError.write(Data("\nsegstream: signal \(sig), finishing the output (send it again to abort)\n".utf8))
                signal(sig, SIG_DFL)
                onSignal(sig)
            }
            source.resume()
            sources.append(source)
        }
    }

    var received: Int32? { receivedSignal.value.withLock { $0 } }

    func cancel() {
        for source in sources { source.cancel() }
    }
}
