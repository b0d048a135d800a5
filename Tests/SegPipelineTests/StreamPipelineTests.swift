import CoreMetrics
import Foundation
import MetricsTestKit
import SegEngine
import SegMedia
import SFNet
import Testing
@testable import SegPipeline

/// The stream pipeline with injected sources and sinks, against the model run directly on the same inputs.
@Suite("Stream pipeline", .serialized)
struct StreamPipelineTests {
    static let modelURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("SFNetTests/Fixtures/df1_w16_ac0.safetensors")

    static func loadModel() throws -> any SegmentationModel { try loadSegmentationModel(contentsOf: modelURL) }

    @Test("synthetic frames in: each sink sees every frame, labels equal the model's on the same inputs")
    func labelsMatchTheModel() throws {
        let source = SyntheticSource(width: 77, height: 45, frames: 5)
        var configuration = StreamPipeline.Configuration()
        configuration.networkSize = NetworkSize(width: 96, height: 64)
        let pipeline = StreamPipeline(model: try Self.loadModel(), configuration: configuration, metrics: TestMetrics())
        let collector = CollectingSink(role: .output, wantsRendered: true)
        let reporter = CollectingSink(role: .report)
        let summary = try pipeline.run(source: source, sinks: [collector, reporter])
        #expect(summary.frames == 5 && summary.dropped == 0 && !summary.interrupted && summary.inputError == nil)
        #expect(summary.networkSize == NetworkSize(width: 96, height: 64))
        #expect(collector.frames.map(\.index) == Array(0..<5) && reporter.frames.map(\.index) == Array(0..<5))
        #expect(collector.frames.map(\.pts) == (0..<5).map { MediaTime(value: Int64($0), timeBase: Rational(1, 10)) })
        #expect(collector.finished == 1 && reporter.finished == 1)

        // The reference: an independent model instance, fed by the input rule directly, labels resized here.
        let reference = try Self.loadModel().makeSession()
        let builder = NetworkInputBuilder(rule: pipeline.inputRule)
        for (i, got) in collector.frames.enumerated() {
            let frame = source.makeFrame(i)
            let input = try builder.tensor(from: frame)
            let expected = reference.predictLabels(input: input)
            #expect(got.networkLabels == expected, "frame \(i): network labels")
            var atFrameSize = [UInt8](repeating: 0, count: 77 * 45)
            for y in 0..<45 { for x in 0..<77 { atFrameSize[y * 77 + x] = expected[(y * 64 / 45) * 96 + x * 96 / 77] } }
            #expect(got.labels == atFrameSize, "frame \(i): labels at the frame's size")
            var counts = [UInt32](repeating: 0, count: 256)
            for l in expected { counts[Int(l)] += 1 }
            #expect(got.classCounts == counts)
            #expect(got.renderedSize == (77, 45) && got.rendered)
            #expect(reporter.frames[i].stageSeconds.allSatisfy { $0 >= 0 } && reporter.frames[i].encodeSeconds > 0)
        }
    }

    /// A live source whose frames all arrive at once (as a reconnect's probe backlog does): with the default
    /// `maxWait` the burst is caught up on, nothing dropped; with a short one and a slow consumer, the frames
    /// that waited too long are dropped and counted, and the newest is always processed.
    @Test("live entrance: a burst within max_wait is kept whole; frames older than max_wait are dropped, the newest kept")
    func liveBurstBoundedByAge() throws {
        let model = try Self.loadModel()
        var configuration = StreamPipeline.Configuration()
        configuration.networkSize = NetworkSize(width: 64, height: 32)
        let kept = StreamPipeline(model: model, configuration: configuration, metrics: TestMetrics())
        let all = CollectingSink(role: .report)
        let whole = try kept.run(source: SyntheticSource(width: 40, height: 24, frames: 12, live: true), sinks: [all])
        #expect(whole.frames == 12 && whole.dropped == 0)
        #expect(all.frames.map(\.index) == Array(0..<12))

        configuration.maxWait = 0.05
        let metrics = TestMetrics()
        let bounded = StreamPipeline(model: model, configuration: configuration, metrics: metrics)
        let slow = CollectingSink(role: .report) { _ in Thread.sleep(forTimeInterval: 0.03) }
        let summary = try bounded.run(source: SyntheticSource(width: 40, height: 24, frames: 12, live: true), sinks: [slow])
        #expect(summary.dropped > 0 && summary.frames + summary.dropped == 12)
        #expect(slow.frames.last?.pts == MediaTime(value: 11, timeBase: Rational(1, 10)))
        #expect(try metrics.expectCounter(PipelineMetric.framesDropped, [("stream", "synthetic"), ("reason", "inference_busy")]).totalValue == Int64(summary.dropped))
    }

    @Test("quantize's calibration inputs equal what run feeds the network for the same frames, bit for bit")
    func calibrationEqualsRunInput() throws {
        let clip = try TestClips.testsrc(width: 200, height: 120, frames: 10)
        let model = try Self.loadModel()
        let recorder = InputRecorder()
        var configuration = StreamPipeline.Configuration()
        configuration.networkInputObserver = { index, input in recorder.record(index, input) }
        let pipeline = StreamPipeline(model: model, configuration: configuration, metrics: TestMetrics())
        _ = try pipeline.run(source: try VideoSource(clip), sinks: [])
        let inputs = recorder.inputs
        #expect(inputs.count == 10 && inputs.map(\.index) == Array(0..<10))
        let picks = CalibrationFrames.selection(total: 10, count: 4).sorted()
        let calibration = try CalibrationFrames.load([clip], count: 4, rule: InputRule(config: model.config))
        #expect(calibration.count == picks.count)
        for (input, frame) in zip(calibration, picks) {
            let fed = inputs[frame]
            #expect(input.width == fed.width && input.height == fed.height, "frame \(frame)")
            let bytes = 3 * input.width * input.height
            let same = (0..<bytes).allSatisfy { input.data[$0].bitPattern == fed.data[$0] }
            #expect(same, "frame \(frame): calibration input differs from run's")
        }
    }

    @Test("a stop ends the run with its frames finished; a new run after it works")
    func stopThenRestart() throws {
        let pipeline = StreamPipeline(model: try Self.loadModel(), metrics: TestMetrics())
        let stop = RunStop()
        let stopper = CollectingSink(role: .report) { frame in if frame.index == 2 { stop.request() } }
        let endless = SyntheticSource(width: 64, height: 32, frames: Int.max)
        let first = try pipeline.run(source: endless, sinks: [stopper], stop: stop)
        #expect(first.interrupted && first.inputError == nil)
        // Frames already admitted when the stop came are finished, in order; reading stopped: after frame 2 at
        // most the 8 slots, the entrance queue (3), one frame between them and one read in progress.
        #expect(first.frames >= 3 && first.frames == stopper.frames.count)
        #expect(first.frames <= 3 + 8 + 3 + 2, "\(first.frames) frames after a stop at frame 2")
        #expect(stopper.frames.map(\.index) == Array(0..<first.frames))

        let again = CollectingSink(role: .output)
        let second = try pipeline.run(source: SyntheticSource(width: 64, height: 32, frames: 4), sinks: [again])
        #expect(!second.interrupted && second.frames == 4 && again.frames.count == 4)
    }

    @Test("requestStop from another thread wakes a source blocked in a read")
    func stopWakesABlockedRead() throws {
        let pipeline = StreamPipeline(model: try Self.loadModel(), metrics: TestMetrics())
        let source = BlockingSource(width: 64, height: 32, framesBeforeBlocking: 2)
        let sink = CollectingSink(role: .output)
        let blocked = source.blocked
        let stopper = Thread {
            blocked.wait()
            pipeline.requestStop()
        }
        stopper.start()
        let summary = try pipeline.run(source: source, sinks: [sink])
        #expect(summary.interrupted && summary.inputError == nil && summary.frames == 2 && sink.frames.count == 2)
    }

    @Test("a failing sink stops the run, gets no more frames, and its error is thrown after every sink finished")
    func sinkFailureIsReported() throws {
        let pipeline = StreamPipeline(model: try Self.loadModel(), metrics: TestMetrics())
        let failing = CollectingSink(role: .output) { frame in if frame.index == 1 { throw SinkFailure() } }
        let other = CollectingSink(role: .report)
        #expect(throws: SinkFailure.self) {
            try pipeline.run(source: SyntheticSource(width: 64, height: 32, frames: 40), sinks: [failing, other])
        }
        #expect(failing.frames.map(\.index) == [0, 1], "no frame after the failure")
        #expect(failing.finished == 1 && other.finished == 1)
        #expect(other.frames.count < 40, "the run stopped early")
    }

    @Test("a source that gives no frame is an error; a broken one ends the run with inputError")
    func emptyAndBrokenSources() throws {
        let pipeline = StreamPipeline(model: try Self.loadModel(), metrics: TestMetrics())
        let sink = CollectingSink(role: .output)
        let error = try #require(throws: MediaError.self) {
            try pipeline.run(source: SyntheticSource(width: 64, height: 32, frames: 0), sinks: [sink])
        }
        #expect(error.kind == .invalidInput && sink.finished == 1 && sink.lastSummary?.producedNothing == true)
        let broken = SyntheticSource(width: 64, height: 32, frames: 3, failAfter: true)
        let summary = try pipeline.run(source: broken, sinks: [])
        #expect(summary.frames == 3 && summary.inputError?.kind == .unavailable && !summary.interrupted)
    }

    @Test("metrics: counts equal frames, one stage sample per frame, source damage and gauges")
    func metricsThroughATestBackend() throws {
        let metrics = TestMetrics()
        let pipeline = StreamPipeline(model: try Self.loadModel(), metrics: metrics)
        let source = SyntheticSource(width: 64, height: 32, frames: 6)
        let summary = try pipeline.run(source: source, sinks: [CollectingSink(role: .output)])
        let d = [("stream", "synthetic")]
        #expect(try metrics.expectCounter(PipelineMetric.framesDecoded, d).totalValue == 6)
        #expect(try metrics.expectCounter(PipelineMetric.framesProcessed, d).totalValue == 6)
        #expect(metrics.counters(label: PipelineMetric.framesDropped).allSatisfy { $0.totalValue == 0 })
        for stage in Stage.allCases {
            #expect(try metrics.expectTimer(PipelineMetric.stageLatency, d + [("stage", stage.rawValue)]).values.count == 6, "\(stage)")
            // Queue waits: one per frame on each side a stage has a queue (decode has no input, encode no output).
            for side in ["input", "output"] {
                let waits = try metrics.expectTimer(PipelineMetric.stageWait, d + [("stage", stage.rawValue), ("queue", side)]).values
                let expected = (stage == .decode && side == "input") || (stage == .encode && side == "output") ? 0 : 6
                #expect(waits.count == expected && waits.allSatisfy { $0 >= 0 }, "\(stage) \(side): \(waits)")
            }
        }
        let latency = try metrics.expectTimer(PipelineMetric.frameLatency, d)
        #expect(latency.values.count == 6 && latency.values.allSatisfy { $0 > 0 })
        // The synthetic source counts one corrupt packet per frame and a synthesized timestamp every other.
        #expect(try metrics.expectCounter(PipelineMetric.corruptPackets, d).totalValue == 6)
        #expect(try metrics.expectCounter(PipelineMetric.synthesizedTimestamps, d).totalValue == 3)
        #expect(summary.damage == SourceDamage(corruptPackets: 6, corruptFrames: 0, synthesizedTimestamps: 3))
        #expect(try metrics.expectGauge(PipelineMetric.streamUp, d).values == [1, 0])
        #expect(try metrics.expectGauge(PipelineMetric.lastFramePTS, d).lastValue == 0.5)
    }

    @Test("a frame's latency starts when it arrives, not when the decode stage began waiting for it")
    func latencyStartsAtArrival() throws {
        // A camera's frame does not exist until the camera sends it: the time nextFrame() blocks for it is the
        // source's pace, not latency (it was counted before, and put a frame period into every frame's latency).
        let metrics = TestMetrics()
        let pipeline = StreamPipeline(model: try Self.loadModel(), metrics: metrics)
        let interval = 0.6
        let sink = CollectingSink(role: .output)
        _ = try pipeline.run(source: SyntheticSource(width: 64, height: 32, frames: 3, live: true, interval: interval), sinks: [sink])
        let latency = try metrics.expectTimer(PipelineMetric.frameLatency, [("stream", "synthetic")]).values
        #expect(latency.count == 3 && latency.allSatisfy { $0 > 0 && Double($0) / 1e9 < interval }, "\(latency) ns")
        let decode = try metrics.expectTimer(PipelineMetric.stageLatency, [("stream", "synthetic"), ("stage", "decode")]).values
        #expect(decode.count == 3 && decode.allSatisfy { Double($0) / 1e9 < interval }, "decode stage \(decode) ns: the wait is not work")
    }

    @Test("the JSON-lines telemetry is a metrics backend: its records count what the pipeline reported")
    func telemetryBackend() throws {
        let telemetry = TelemetryMetrics()
        let pipeline = StreamPipeline(model: try Self.loadModel(), metrics: telemetry)
        let path = TestClips.directory.appendingPathComponent("telemetry-\(UUID().uuidString).jsonl").path
        let sink = TelemetrySink(out: try LineOutput(path: path), telemetry: telemetry, interval: 0, extra: ["input": "synthetic"])
        _ = try pipeline.run(source: SyntheticSource(width: 64, height: 32, frames: 4), sinks: [sink])
        #expect(telemetry.telemetry.frames == 4 && telemetry.count(PipelineMetric.framesProcessed) == 4)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(lines.count == 5)
        #expect(lines.dropLast().map { $0["frames"] as? Int } == [1, 2, 3, 4])
        let summary = try #require(lines.last)
        #expect(summary["type"] as? String == "summary" && summary["frames"] as? Int == 4 && summary["input"] as? String == "synthetic")
        let counters = try #require(summary["counters"] as? [String: Int])
        #expect(counters["corrupt_packets"] == 4 && counters["synthesized_timestamps"] == 2 && counters["dropped"] == 0)
        let stages = try #require(summary["stages_ms"] as? [String: Any])
        #expect(Set(stages.keys) == Set(Stage.allCases.map(\.rawValue)))
    }
}

struct SinkFailure: Error {}

/// Frames from a seeded generator: smooth colour fields with blocks, different per frame, 10 fps.
final class SyntheticSource: FrameSource {
    let width: Int, height: Int, frames: Int
    let failAfter: Bool
    /// Reported as a live source (a camera): the pipeline then drops instead of waiting.
    let live: Bool
    /// Seconds `nextFrame` waits before each frame exists, as a camera's next frame does not exist yet.
    let interval: Double
    private var next = 0
    private var counted = SourceDamage()

    init(width: Int, height: Int, frames: Int, failAfter: Bool = false, live: Bool = false, interval: Double = 0) {
        self.width = width
        self.height = height
        self.frames = frames
        self.failAfter = failAfter
        self.live = live
        self.interval = interval
    }

    var streamInfo: StreamInfo {
        StreamInfo(name: "synthetic", width: width, height: height, timeBase: Rational(1, 10), frameRate: Rational(10, 1),
                   isLive: live)
    }

    var damage: SourceDamage { counted }

    func makeFrame(_ i: Int) -> VideoFrame {
        var pixels = [UInt8](repeating: 0, count: 3 * width * height)
        var state = UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
        for y in 0..<height {
            for x in 0..<width {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let block = ((x / 8) + (y / 8) + i) % 3
                pixels[3 * (y * width + x) + block] = UInt8(truncatingIfNeeded: (x * 255 / max(width - 1, 1)) ^ Int(state >> 59))
                pixels[3 * (y * width + x) + (block + 1) % 3] = UInt8(y * 255 / max(height - 1, 1))
            }
        }
        return pixels.withUnsafeBufferPointer {
            VideoFrame(rgb24: $0.baseAddress!, width: width, height: height, rowStride: 3 * width,
                       timestamp: MediaTime(value: Int64(i), timeBase: Rational(1, 10)), index: i)
        }
    }

    func nextFrame() throws -> VideoFrame? {
        guard next < frames else {
            if failAfter { throw MediaError(.unavailable, "the synthetic stream dropped", path: "synthetic") }
            return nil
        }
        defer { next += 1 }
        if interval > 0 { Thread.sleep(forTimeInterval: interval) }
        counted.corruptPackets += 1
        if next % 2 == 1 { counted.synthesizedTimestamps += 1 }
        return makeFrame(next)
    }
}

/// Gives `framesBeforeBlocking` frames, then blocks in `nextFrame` until interrupted (signalling `blocked`).
final class BlockingSource: FrameSource {
    private final class Wake: Sendable {
        let interrupted = DispatchSemaphore(value: 0)
    }
    let blocked = DispatchSemaphore(value: 0)
    private let wake = Wake()
    private let inner: SyntheticSource
    private let limit: Int
    private var given = 0

    init(width: Int, height: Int, framesBeforeBlocking: Int) {
        inner = SyntheticSource(width: width, height: height, frames: framesBeforeBlocking)
        limit = framesBeforeBlocking
    }

    var streamInfo: StreamInfo { inner.streamInfo }

    func nextFrame() throws -> VideoFrame? {
        if given < limit {
            given += 1
            return try inner.nextFrame()
        }
        blocked.signal()
        wake.interrupted.wait()
        throw MediaError(.interrupted, "read interrupted", path: "blocking")
    }

    func makeInterrupter() -> @Sendable () -> Void {
        let wake = self.wake
        return { wake.interrupted.signal() }
    }
}

/// Copies what each frame carries, and optionally acts on it (stop, fail).
final class CollectingSink: FrameSink {
    struct Copy {
        var index: Int
        var pts: MediaTime
        var labels: [UInt8]
        var networkLabels: [UInt8]
        var classCounts: [UInt32]
        var rendered: Bool
        var renderedSize: (Int, Int)
        var stageSeconds: [Double]
        var encodeSeconds: Double
    }
    let role: SinkRole
    let wantsRenderedFrame: Bool
    private let action: (ProcessedFrame) throws -> Void
    private(set) var frames: [Copy] = []
    private(set) var finished = 0
    private(set) var lastSummary: RunSummary?

    init(role: SinkRole, wantsRendered: Bool = false, action: @escaping (ProcessedFrame) throws -> Void = { _ in }) {
        self.role = role
        wantsRenderedFrame = wantsRendered
        self.action = action
    }

    func consume(_ frame: ProcessedFrame) throws {
        let n = frame.networkSize.width * frame.networkSize.height
        frames.append(Copy(index: frame.index, pts: frame.pts,
                           labels: Array(UnsafeBufferPointer(start: frame.labels, count: frame.width * frame.height)),
                           networkLabels: Array(UnsafeBufferPointer(start: frame.networkLabels, count: n)),
                           classCounts: frame.classCounts, rendered: frame.rendered != nil,
                           renderedSize: (frame.renderedWidth, frame.renderedHeight), stageSeconds: frame.stageSeconds,
                           encodeSeconds: frame.seconds(.encode)))
        try action(frame)
    }

    func finish(_ summary: RunSummary) throws {
        finished += 1
        lastSummary = summary
    }
}

/// A copy of every network input a pipeline fed its session (`networkInputObserver`), in order, as the fp32
/// tensor the engine computes from it.
final class InputRecorder: Sendable {
    private let recorded = Locked<[(index: Int, width: Int, height: Int, data: [UInt32])]>([])

    func record(_ index: Int, _ fed: NetworkInput) {
        let input = fed.normalized()
        let n = input.channels * input.width * input.height
        let copy = (index, input.width, input.height, (0..<n).map { input.data[$0].bitPattern })
        recorded.withLock { $0.append(copy) }
    }

    var inputs: [(index: Int, width: Int, height: Int, data: [UInt32])] { recorded.withLock { $0 } }
}
