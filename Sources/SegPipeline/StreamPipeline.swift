import CoreMetrics
import CSegKernels
import Foundation
import SegEngine
import SegMedia
import SegPanoptic
import SFNet

/// One video stream through the network: decode → preprocess → inference → render → encode, each stage on
/// its own thread, linked by bounded queues, from an injected `FrameSource` to pluggable `FrameSink`s.
///
/// - **Queues**: only the entrance queue (decode → preprocess) may drop frames (`.dropOldest`, the default
///   for live sources: a frame that waited longer than `maxWait` is dropped and counted, so latency stays
///   bounded while a burst is absorbed); the others always wait, so an admitted frame always reaches the sinks.
///   Frame buffers circulate through a free list of slots: no per-frame allocation.
/// - **Sinks** run on the encode thread, in the order given: first the `.output` sinks (annotated video,
///   masks; their time is the encode stage), then the `.report` sinks (JSON lines, telemetry, progress),
///   which see the frame's complete timings. A sink that throws is reported: the run stops, its other
///   frames in flight are finished, every sink is finished, and `run` throws the first error.
/// - **Metrics** go to the swift-metrics factory given at `init` (`PipelineMetric` lists them).
/// - **Stop and restart**: `run` blocks until the source ends, `maxFrames`, a failure, or its `RunStop`
///   is requested (from any thread); then it can be called again with a new source and new sinks. Runs of
///   one pipeline never overlap.
/// - **Inference**: the model is shared (one loaded model serves many pipelines); the pipeline owns its
///   `InferenceSession` (`model.makeSession()`, on the process-wide worker pool), the one place that runs it.
public final class StreamPipeline: Sendable {
    /// How a run treats its frames; everything about outputs lives in the sinks.
    public struct Configuration: Sendable {
        /// A fixed network input size; nil derives it from the first frame (`InputRule`).
        public var networkSize: NetworkSize?
        /// Multiplies the frame size before rounding to multiples of 32 (when `networkSize` is nil).
        public var scale: Double = 1
        /// Stop after this many admitted frames.
        public var maxFrames: Int?
        /// Frames before this presentation time (seconds) are decoded and skipped.
        public var start: Double?
        /// nil = `.wait` for files, `.dropOldest` for live sources.
        public var dropPolicy: QueueOverflowPolicy?
        /// With `.dropOldest`: the longest a decoded frame waits for its turn before it is dropped as stale
        /// (seconds). A reconnect hands over the frames read while probing the stream in one burst, and networks
        /// deliver in bursts: these are kept and caught up on instead of dropped. 0 keeps only the newest frame
        /// (a one-frame entrance: the lowest latency when inference cannot keep up, and drops at every burst).
        public var maxWait: Double = 1
        /// At most this many frames wait at the entrance of a dropping run (bounds the decoded frames held).
        public static let maxWaitingFrames = 16
        /// The annotated frame, drawn when a sink wants it.
        public var style = RenderStyle()
        /// Panoptic segmentation in the render stage (components, fusion, stable ids; drawn as instances, and
        /// given to the sinks as `ProcessedFrame.panoptic`); nil = semantic only.
        public var panoptic: PanopticOptions?
        /// Sees every network input (frame index, the 8-bit planes with their affine) on the inference thread
        /// just before the forward pass; it is only valid inside the call (`normalized()` makes the fp32 tensor).
        /// Tests use it to compare inputs across commands.
        var networkInputObserver: (@Sendable (Int, NetworkInput) -> Void)?
        public init() {}
    }

    public let configuration: Configuration
    /// The model's configuration (classes, palette, input rule).
    public let modelConfig: SFNetConfig
    private let metrics: any MetricsFactory
    /// This stream's session on the shared model (its buffers, scratch and pool turns). Not Sendable: used
    /// only by the inference thread of the current run, and runs never overlap (`running`).
    private nonisolated(unsafe) let inference: InferenceSession
    private let running = Locked<RunStop?>(nil)

    /// `pool`: the workers the forward passes fan out to (default the process-wide one; `profile --sweep` gives
    /// each thread count its own).
    public init(model: any SegmentationModel, configuration: Configuration = Configuration(),
                metrics: any MetricsFactory = MetricsSystem.factory, pool: WorkerPool = .shared) {
        self.configuration = configuration
        modelConfig = model.config
        self.metrics = metrics
        inference = model.makeSession(pool: pool)
    }

    /// The input rule of this pipeline's runs.
    public var inputRule: InputRule { InputRule(config: modelConfig, fixedSize: configuration.networkSize, scale: configuration.scale) }

    /// Size of the annotated frame for a frame of this size (side by side doubles the width).
    public func renderedSize(frameWidth: Int, frameHeight: Int) -> (width: Int, height: Int) {
        FrameRenderer.outputSize(style: configuration.style, frameWidth: frameWidth, frameHeight: frameHeight)
    }

    /// Stops the run in progress, if any (same as requesting its `RunStop`).
    public func requestStop() { running.withLock { $0 }?.request() }

    /// Runs `source` through the stages into `sinks` until the source ends, `maxFrames`, a failure or `stop`.
    /// Throws the first sink or preprocessing failure (after finishing every sink), `MediaError.invalidInput`
    /// when the source gave no frame at all, or `PipelineError.alreadyRunning`; an input that breaks
    /// mid-stream ends the run normally with `RunSummary.inputError` set.
    public func run(source: any FrameSource, sinks: [any FrameSink], stop: RunStop = RunStop()) throws -> RunSummary {
        try running.withLock { current in
            guard current == nil else { throw PipelineError.alreadyRunning }
            current = stop
        }
        defer { running.withLock { $0 = nil } }
        stop.attach(source.makeInterrupter())

        let stream = source.streamInfo
        let run = RunContext(configuration: configuration, stream: stream, stop: stop,
                             metrics: RunMetrics(factory: metrics, stream: stream.name))
        run.shared.withLock { $0.networkSize = configuration.networkSize }
        let policy = configuration.dropPolicy ?? (stream.isLive ? .dropOldest : .wait)
        let entrance: BoundedQueue<DemuxedFrame>
        if policy == .dropOldest {
            let maxWait = configuration.maxWait, dropped = run.metrics.framesDropped
            entrance = maxWait > 0
                ? BoundedQueue(capacity: Configuration.maxWaitingFrames, policy: .dropOldest,
                               isStale: { Telemetry.now() - $0.queuedAt > maxWait }, onDrop: { dropped.increment() })
                : BoundedQueue(capacity: 1, policy: .dropOldest, onDrop: { dropped.increment() })
        } else {
            entrance = BoundedQueue(capacity: stream.isLive ? 1 : 3, policy: .wait)
        }
        let toInference = BoundedQueue<FrameSlot>(capacity: 2, policy: .wait)
        let toRender = BoundedQueue<FrameSlot>(capacity: 2, policy: .wait)
        let toEncode = BoundedQueue<FrameSlot>(capacity: 2, policy: .wait)
        let slotCount = 8
        let freeSlots = BoundedQueue<FrameSlot>(capacity: slotCount, policy: .wait)
        for _ in 0..<slotCount { freeSlots.push(FrameSlot()) }

        let wantsRender = sinks.contains { $0.wantsRenderedFrame }
        let rule = inputRule, modelConfig = self.modelConfig, inference = UnsafeTransfer(self.inference)
        let sourceTransfer = UnsafeTransfer(source), sinksTransfer = UnsafeTransfer(sinks)
        run.metrics.streamUp.record(1)
        let done = DispatchGroup()
        func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
            done.enter()
            let thread = Thread {
                body()
                done.leave()
            }
            thread.name = "segstream." + name
            thread.stackSize = 4 << 20
            thread.start()
        }
        spawn("decode") { run.decode(sourceTransfer.value, into: entrance) }
        spawn("preprocess") {
            run.preprocess(from: entrance, freeSlots: freeSlots, into: toInference, rule: rule, keepFrame: wantsRender)
        }
        spawn("inference") { run.infer(from: toInference, into: toRender, session: inference.value, rule: rule) }
        spawn("render") {
            run.render(from: toRender, into: toEncode, draw: wantsRender, modelConfig: modelConfig)
        }
        spawn("encode") { run.output(from: toEncode, freeSlots: freeSlots, sinks: sinksTransfer.value) }
        done.wait()
        run.metrics.streamUp.record(0)

        // The threads are joined: the sinks are this thread's again.
        let state = run.shared.withLock { $0 }
        let frames = state.frames
        let elapsed = Telemetry.now() - run.started
        let summary = RunSummary(
            frames: frames, dropped: entrance.dropped, damage: state.damage, seconds: elapsed,
            fps: Double(frames) / max(elapsed, 1e-9), networkSize: state.networkSize, inputError: state.inputError,
            interrupted: stop.isRequested && state.inputError == nil && state.firstError == nil,
            producedNothing: frames == 0 && state.inputError == nil && !stop.isRequested && state.firstError == nil)
        let audio = run.pendingAudio.withLock { a in defer { a.removeAll() }; return a }
        var finishError: (any Error)?
        for (i, sink) in sinks.enumerated() {
            if !state.failedSinks.contains(i) && !audio.isEmpty { try? sink.consumeAudio(audio) }
            do { try sink.finish(summary) } catch { if finishError == nil { finishError = error } }
        }
        while let slot = freeSlots.depth > 0 ? freeSlots.pop() : nil { slot.releaseBuffers() }

        if let error = state.firstError ?? finishError { throw error }
        if summary.producedNothing {
            throw MediaError(.invalidInput, "no video frames", path: stream.name,
                             detail: configuration.start != nil ? "nothing at or after --start" : "the stream decoded to no frames")
        }
        return summary
    }
}

/// Misuse of a `StreamPipeline`.
public enum PipelineError: Error, CustomStringConvertible {
    /// `run` was called while another run of the same pipeline was in progress.
    case alreadyRunning
    public var description: String { "a stream pipeline runs one stream at a time" }
}

/// A run's stop flag: set once from any thread (a signal handler, a supervisor), it ends reading (waking a
/// blocked read), lets the frames in flight finish and the sinks close. One per run.
public final class RunStop: Sendable {
    private struct State {
        var requested = false
        var interrupt: (@Sendable () -> Void)?
    }
    private let state = Locked(State())

    public init() {}

    public func request() {
        let interrupt = state.withLock { s -> (@Sendable () -> Void)? in
            s.requested = true
            return s.interrupt
        }
        interrupt?()
    }

    public var isRequested: Bool { state.withLock { $0.requested } }

    /// The source's interrupter, called now if a stop came first.
    func attach(_ interrupt: @escaping @Sendable () -> Void) {
        let requested = state.withLock { s -> Bool in
            s.interrupt = interrupt
            return s.requested
        }
        if requested { interrupt() }
    }
}

/// What a finished run reports.
public struct RunSummary: Sendable {
    /// Frames that left the last stage.
    public var frames: Int
    /// Frames the entrance queue dropped.
    public var dropped: Int
    public var damage: SourceDamage
    public var seconds: Double
    public var fps: Double
    /// The network's input size (nil when no frame reached the network and none was fixed).
    public var networkSize: NetworkSize?
    /// Set when reading stopped early on an input error; the sinks were still finished.
    public var inputError: MediaError?
    /// The run was stopped (`RunStop`) and nothing failed.
    public var interrupted: Bool
    /// No frame came out, the input did not break and nobody stopped the run: `run` throws after finishing
    /// the sinks, which may discard their outputs.
    public var producedNothing: Bool

    public var corruptPackets: Int { damage.corruptPackets }
}

/// Moves a non-Sendable value to the one thread that uses it during a run (the source to the decode thread,
/// the sinks to the encode thread, the inference state to the inference thread); the sender does not touch
/// it again until that thread has been joined. Safe by that protocol, which the compiler cannot see.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A decoded frame and when its data arrived (the start of its end-to-end latency).
struct DemuxedFrame: Sendable {
    let frame: VideoFrame
    /// When its packet was read, or its time came (`VideoFrame.arrivedAt`): the start of its end-to-end latency.
    let arrivedAt: Double
    /// When it entered the entrance queue (its age there decides whether it went stale).
    let queuedAt: Double
}

/// Buffers for one frame in flight, reused frame after frame (allocated again only when a size changes).
/// `@unchecked Sendable` because it moves between stage threads through the queues: exactly one stage
/// holds a slot at a time (it popped it and has not pushed it yet), and the queues' lock orders the hand-over.
final class FrameSlot: @unchecked Sendable {
    var index = 0
    var pts = MediaTime(seconds: 0)
    var arrivedAt = 0.0
    var stageSeconds = [Double](repeating: 0, count: Stage.allCases.count)
    var frameWidth = 0
    var frameHeight = 0
    /// The decoded frame at its own size, in the encoder's YUV 4:2:0 (the render stage draws on it).
    let frame = YUV420Buffer()
    var framePlanes: YUV420Planes?
    /// The network's input pixels (the rule's affine makes them the network input): 3 bytes a pixel, where
    /// the fp32 tensor took 12.
    let pixels = PixelPlanes()
    var networkLabels = AlignedBytes()
    var frameLabels = AlignedBytes()
    let output = YUV420Buffer()
    /// The annotated frame (in `output`), when this run draws.
    var rendered: YUV420Planes?
    var classCounts = [UInt32](repeating: 0, count: 256)
    var panoptic: PanopticResult?
    /// The instance head's output for this frame (panoptic runs with the head as instance source).
    var instanceHead: InstanceHeadOutput?

    func releaseBuffers() {
        frame.release()
        networkLabels.release()
        frameLabels.release()
        output.release()
    }
}

/// One run's shared state and stage bodies. Everything here is Sendable: queues, the stop flag, metric
/// handles and a lock over what the stages report to the run (errors, counters, the network size).
final class RunContext: Sendable {
    struct Shared {
        var firstError: (any Error)?
        var inputError: MediaError?
        var networkSize: NetworkSize?
        /// The source's counters, copied by the decode thread after each read (the source itself is that
        /// thread's alone).
        var damage = SourceDamage()
        var frames = 0
        var failedSinks: Set<Int> = []
    }

    let configuration: StreamPipeline.Configuration
    let stream: StreamInfo
    let stop: RunStop
    let metrics: RunMetrics
    let started = Telemetry.now()
    let shared = Locked(Shared())
    /// Audio packets read by the decode thread, written by the encode thread before the next frame.
    let pendingAudio = Locked<[MediaPacket]>([])

    init(configuration: StreamPipeline.Configuration, stream: StreamInfo, stop: RunStop, metrics: RunMetrics) {
        self.configuration = configuration
        self.stream = stream
        self.stop = stop
        self.metrics = metrics
    }

    private func record(_ error: any Error) {
        shared.withLock { if $0.firstError == nil { $0.firstError = error } }
        stop.request()
    }

    // MARK: stages

    func decode(_ source: any FrameSource, into entrance: BoundedQueue<DemuxedFrame>) {
        var reported = SourceDamage()
        func publishDamage() {
            let damage = source.damage
            guard damage != reported else { return }
            metrics.add(damage: damage, since: reported)
            shared.withLock { $0.damage = damage }
            reported = damage
        }
        defer {
            publishDamage()
            entrance.close()
        }
        var admitted = 0
        while !stop.isRequested {
            if let max = configuration.maxFrames, admitted >= max { break }
            let frame: VideoFrame?
            let started = Telemetry.now()
            do {
                frame = try source.nextFrame()
            } catch let error as MediaError {
                if error.kind != .interrupted || !stop.isRequested { shared.withLock { $0.inputError = error } }
                break
            } catch {
                let wrapped = MediaError(.internalError, "decode", path: stream.name, detail: "\(error)")
                shared.withLock { $0.inputError = wrapped }
                break
            }
            publishDamage()
            let audio = source.takeAudioPackets()
            if !audio.isEmpty { pendingAudio.withLock { $0.append(contentsOf: audio) } }
            guard let frame else { break }
            if let start = configuration.start, frame.pts < start { continue }
            // A frame's latency starts when its data was here, not when we began to wait for it: a live source
            // blocks in nextFrame() until the camera sends, a paced file sleeps until the frame's time. The
            // decode stage is the work after that.
            let arrived = min(frame.arrivedAt, Telemetry.now())
            metrics.record(.decode, seconds: Telemetry.now() - max(started, arrived))
            metrics.framesDecoded.increment()
            admitted += 1
            let pushing = Telemetry.now()
            entrance.push(DemuxedFrame(frame: frame, arrivedAt: arrived, queuedAt: pushing))   // the queue counts drops
            metrics.recordWait(.decode, .output, seconds: Telemetry.now() - pushing)
        }
    }

    /// The network size is fixed by the first frame unless given: a later resolution change keeps it, so the
    /// network's cost stays predictable (frames are scaled to it).
    /// `keepFrame`: copy the frame itself into the slot (in the encoder's YUV), for the render stage to draw on.
    func preprocess(from entrance: BoundedQueue<DemuxedFrame>, freeSlots: BoundedQueue<FrameSlot>,
                    into next: BoundedQueue<FrameSlot>, rule: InputRule, keepFrame: Bool) {
        defer { next.close() }
        let converter = FrameConverter(quality: .bilinear)
        let builder = NetworkInputBuilder(rule: rule)
        var size = configuration.networkSize
        var index = 0
        var waitStarted = Telemetry.now()
        while let demuxed = entrance.pop() {
            let popped = Telemetry.now()
            metrics.recordWait(.preprocess, .input, seconds: popped - waitStarted)
            let frame = demuxed.frame
            guard let slot = freeSlots.pop() else { break }
            let started = Telemetry.now()
            // Waiting for a free frame buffer is waiting for room downstream, as a full queue is.
            var outputWait = started - popped
            let network: NetworkSize
            if let size {
                network = size
            } else {
                network = builder.networkSize(for: frame)
                size = network
                shared.withLock { $0.networkSize = network }
            }
            slot.index = index
            slot.pts = frame.timestamp
            slot.arrivedAt = demuxed.arrivedAt
            slot.frameWidth = frame.width
            slot.frameHeight = frame.height
            do {
                if keepFrame {
                    let planes = slot.frame.reserve(width: frame.width, height: frame.height)
                    try converter.convertToYUV420(frame, into: planes)
                    slot.framePlanes = planes
                }
                try builder.fill(slot.pixels, size: network, from: frame)
            } catch {
                record(error)
                freeSlots.push(slot)
                break
            }
            slot.stageSeconds[Stage.preprocess.index] = Telemetry.now() - started
            metrics.record(.preprocess, seconds: slot.stageSeconds[Stage.preprocess.index])
            index += 1
            let pushing = Telemetry.now()
            next.push(slot)
            waitStarted = Telemetry.now()
            outputWait += waitStarted - pushing
            metrics.recordWait(.preprocess, .output, seconds: outputWait)
        }
        while entrance.pop() != nil {}  // drain frames left behind after a failure so the decoder can exit
    }

    func infer(from queue: BoundedQueue<FrameSlot>, into next: BoundedQueue<FrameSlot>, session: InferenceSession,
               rule: InputRule) {
        defer { next.close() }
        var waitStarted = Telemetry.now()
        while let slot = queue.pop() {
            let started = Telemetry.now()
            metrics.recordWait(.inference, .input, seconds: started - waitStarted)
            let input = rule.networkInput(slot.pixels)
            let labels = slot.networkLabels.reserve(input.width * input.height)
            configuration.networkInputObserver?(slot.index, input)
            slot.instanceHead = session.predictLabels(
                input: input, outputHeight: input.height, outputWidth: input.width,
                into: UnsafeMutableBufferPointer(start: labels, count: input.width * input.height),
                instances: configuration.panoptic?.source == .head)
            slot.stageSeconds[Stage.inference.index] = Telemetry.now() - started
            metrics.record(.inference, seconds: slot.stageSeconds[Stage.inference.index])
            let pushing = Telemetry.now()
            next.push(slot)
            waitStarted = Telemetry.now()
            metrics.recordWait(.inference, .output, seconds: waitStarted - pushing)
        }
    }

    func render(from queue: BoundedQueue<FrameSlot>, into next: BoundedQueue<FrameSlot>, draw: Bool, modelConfig: SFNetConfig) {
        defer { next.close() }
        let style = configuration.style
        let renderer = draw ? FrameRenderer(palette: modelConfig.palette, classNames: modelConfig.classNames, style: style) : nil
        let panoptic = configuration.panoptic.map { PanopticSegmenter(options: $0, track: true) }
        var recentFPS = RecentRate()
        var waitStarted = Telemetry.now()
        while let slot = queue.pop() {
            let started = Telemetry.now()
            metrics.recordWait(.render, .input, seconds: started - waitStarted)
            let input = slot.pixels
            let w = slot.frameWidth, h = slot.frameHeight
            let netLabels = slot.networkLabels.pointer!
            // Labels come back to the frame's size by nearest neighbour: the network's labels already come from
            // bilinear-upsampled logits at the network's input size, so this only repeats pixels.
            let frameLabels = slot.frameLabels.reserve(w * h)
            seg_u8_resize_nearest(netLabels, input.width, input.width, input.height, frameLabels, w, w, h)
            for i in 0..<256 { slot.classCounts[i] = 0 }
            seg_u8_histogram(netLabels, input.width * input.height, &slot.classCounts)
            if let panoptic {
                slot.panoptic = panoptic.segment(labels: UnsafeBufferPointer(start: frameLabels, count: w * h), width: w, height: h,
                                                 head: slot.instanceHead)
            }
            if let renderer {
                let size = renderer.outputSize(frameWidth: w, frameHeight: h)
                let planes = slot.output.reserve(width: size.width, height: size.height)
                slot.rendered = planes
                let frame = RenderPicture.yuv420(slot.framePlanes!), out = RenderPicture.yuv420(planes)
                let hud = HUDText(fps: recentFPS.tick(Telemetry.now()),
                                  inferenceMilliseconds: slot.stageSeconds[Stage.inference.index] * 1000,
                                  latencyMilliseconds: (Telemetry.now() - slot.arrivedAt) * 1000, frameIndex: slot.index)
                if let result = slot.panoptic {
                    result.map.segments.withUnsafeBufferPointer { segments in
                        let instances = InstanceOverlay(segments: segments.baseAddress!, segmentClasses: result.map.segmentClasses,
                                                        instanceIDs: result.instanceIDs)
                        renderer.render(frame: frame, labels: frameLabels, labelRowStride: w, hud: style.showHUD ? hud : nil,
                                        into: out, instances: instances)
                    }
                } else {
                    renderer.render(frame: frame, labels: frameLabels, labelRowStride: w, hud: style.showHUD ? hud : nil, into: out)
                }
            }
            slot.stageSeconds[Stage.render.index] = Telemetry.now() - started
            metrics.record(.render, seconds: slot.stageSeconds[Stage.render.index])
            let pushing = Telemetry.now()
            next.push(slot)
            waitStarted = Telemetry.now()
            metrics.recordWait(.render, .output, seconds: waitStarted - pushing)
        }
    }

    /// The encode stage: output sinks (their time is the stage's), the frame's metrics, then report sinks.
    func output(from queue: BoundedQueue<FrameSlot>, freeSlots: BoundedQueue<FrameSlot>, sinks: [any FrameSink]) {
        var failed = Set<Int>()
        defer { shared.withLock { $0.failedSinks = failed } }
        let outputs = sinks.indices.filter { sinks[$0].role == .output }
        let reports = sinks.indices.filter { sinks[$0].role == .report }
        func deliver(_ indices: [Int], _ frame: ProcessedFrame, audio: [MediaPacket]) {
            for i in indices where !failed.contains(i) {
                do {
                    if !audio.isEmpty { try sinks[i].consumeAudio(audio) }
                    try sinks[i].consume(frame)
                } catch {
                    failed.insert(i)
                    record(error)
                }
            }
        }
        var waitStarted = Telemetry.now()
        while let slot = queue.pop() {
            let started = Telemetry.now()
            metrics.recordWait(.encode, .input, seconds: started - waitStarted)
            let audio = pendingAudio.withLock { a in defer { a.removeAll(keepingCapacity: true) }; return a }
            slot.stageSeconds[Stage.encode.index] = 0
            deliver(outputs, ProcessedFrame(slot, latencySeconds: started - slot.arrivedAt), audio: audio)
            let now = Telemetry.now()
            slot.stageSeconds[Stage.encode.index] = now - started
            metrics.record(.encode, seconds: now - started)
            metrics.frameLatency.recordNanoseconds(Int64(((now - slot.arrivedAt) * 1e9).rounded()))
            metrics.framesProcessed.increment()
            metrics.lastFramePTS.record(slot.pts.seconds)
            shared.withLock { $0.frames += 1 }
            deliver(reports, ProcessedFrame(slot, latencySeconds: now - slot.arrivedAt), audio: [])
            freeSlots.push(slot)
            waitStarted = Telemetry.now()
        }
    }
}

extension ProcessedFrame {
    init(_ slot: FrameSlot, latencySeconds: Double) {
        let input = slot.pixels
        self.init(index: slot.index, pts: slot.pts, width: slot.frameWidth, height: slot.frameHeight,
                  labels: UnsafePointer(slot.frameLabels.pointer!),
                  networkSize: NetworkSize(width: input.width, height: input.height),
                  networkLabels: UnsafePointer(slot.networkLabels.pointer!), classCounts: slot.classCounts,
                  rendered: slot.rendered, stageSeconds: slot.stageSeconds, latencySeconds: latencySeconds,
                  panoptic: slot.panoptic)
    }
}

extension Stage {
    var index: Int { Stage.allCases.firstIndex(of: self)! }
}

/// A growable 64-byte-aligned byte buffer that keeps its memory between frames.
struct AlignedBytes {
    private(set) var pointer: UnsafeMutablePointer<UInt8>?
    private(set) var capacity = 0

    mutating func reserve(_ count: Int) -> UnsafeMutablePointer<UInt8> {
        if count > capacity {
            pointer.map { free($0) }
            var raw: UnsafeMutableRawPointer?
            posix_memalign(&raw, 64, max(count, 64))
            pointer = raw!.assumingMemoryBound(to: UInt8.self)
            capacity = count
        }
        return pointer!
    }

    func release() { pointer.map { free($0) } }
}

/// Frames per second over the last second or so, for the HUD.
struct RecentRate {
    private var times = [Double](repeating: 0, count: 32)
    private var count = 0
    private var next = 0

    mutating func tick(_ now: Double) -> Double {
        times[next] = now
        next = (next + 1) % times.count
        count = min(count + 1, times.count)
        guard count > 1 else { return 0 }
        let oldest = times[(next - count + times.count) % times.count]
        return Double(count - 1) / max(now - oldest, 1e-9)
    }
}
