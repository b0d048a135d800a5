import CSegKernels
import Foundation
import SegEngine
import SegMedia
import SFNet

/// Everything `segstream run` can be asked to do, already validated by the CLI.
public struct RunOptions: Sendable {
    public var input: String
    /// Annotated video path (container from the extension); nil writes no video.
    public var output: String?
    /// The network's input size; nil derives it from the first frame with `NetworkSize.automatic`.
    public var networkSize: NetworkSize?
    /// Multiplies the frame size before rounding to a multiple of 32 (when `networkSize` is nil).
    public var scale: Double = 1
    public var maxFrames: Int?
    /// Frames before this presentation time (seconds) are decoded and skipped.
    public var start: Double?
    /// nil = `.wait` for files, `.dropOldest` for live sources.
    public var dropPolicy: QueueOverflowPolicy?
    public var style = RenderStyle()
    public var masksDirectory: String?
    public var jsonPath: String?
    /// JSON lines every `telemetryInterval` seconds and at the end; nil = stderr.
    public var telemetryPath: String?
    public var telemetryInterval: Double = 5
    public var showProgress: Bool = isatty(STDERR_FILENO) != 0
    public var encoder = EncoderSettings()
    public var sourceOptions = SourceOptions()

    public init(input: String) { self.input = input }
}

/// The network's input size in pixels.
public struct NetworkSize: Sendable, Equatable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    public var description: String { "\(width)x\(height)" }

    /// The default: the frame's aspect ratio kept, scaled by `scale` × `modelScale` (the model file's
    /// `network_scale`), each side rounded to the nearest multiple of 32 (so every level of the network's
    /// pyramid is exact), the long side at most 1024 × `modelScale`.
    public static func automatic(frameWidth: Int, frameHeight: Int, scale: Double = 1, modelScale: Double = 1) -> NetworkSize {
        var w = Double(frameWidth) * scale * modelScale, h = Double(frameHeight) * scale * modelScale
        let cap = max(32, (1024 * modelScale / 32).rounded(.down) * 32)
        let long = max(w, h)
        if long > cap {
            w *= cap / long
            h *= cap / long
        }
        func round32(_ v: Double) -> Int { max(32, Int((v / 32).rounded()) * 32) }
        return NetworkSize(width: min(round32(w), Int(cap)), height: min(round32(h), Int(cap)))
    }
}

/// What a finished run reports.
public struct RunSummary: Sendable {
    public var frames: Int
    public var dropped: Int
    public var corruptPackets: Int
    public var seconds: Double
    public var fps: Double
    public var networkSize: NetworkSize
    /// Set when reading stopped early on an input error; the output was still finished and plays.
    public var inputError: MediaError?
    public var interrupted: Bool
}

/// Buffers for one frame in flight, reused frame after frame (allocated again only when a size changes).
final class FrameSlot: @unchecked Sendable {
    var index = 0
    var pts = MediaTime(seconds: 0)
    var demuxedAt = 0.0
    var stageSeconds = [Double](repeating: 0, count: Stage.allCases.count)
    var frameWidth = 0
    var frameHeight = 0
    var frameRGB = AlignedBytes()
    var input: Tensor?
    var networkLabels = AlignedBytes()
    var frameLabels = AlignedBytes()
    var output = AlignedBytes()
    var outputWidth = 0
    var outputHeight = 0
    var classCounts = [UInt32](repeating: 0, count: 256)
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

/// `segstream run`: decode → preprocess → inference → render → encode, each stage on its own thread, linked
/// by bounded queues. Only the entrance queue may drop frames (live sources); the others always wait, so a
/// frame that is admitted is always written. Slots circulate through a free list: no per-frame allocation.
public final class RunPipeline: @unchecked Sendable {
    public let options: RunOptions
    private let model: any SegmentationModel
    private let source: VideoSource
    private let renderer: FrameRenderer
    private let telemetry = Telemetry()
    private let stopRequested = AtomicFlag()
    private var writer: VideoWriter?
    private var firstError: Error?
    private let errorLock = NSLock()
    private var inputError: MediaError?
    private let audioLock = NSLock()
    private var pendingAudio: [MediaPacket] = []
    private let classNames: [String]
    /// Written once by the preprocess thread before any later stage sees a frame; read after the threads end.
    private var resolvedSize: NetworkSize?

    /// Opens the input (and the output, so an unwritable path fails before any work).
    public init(model: any SegmentationModel, options: RunOptions) throws {
        self.options = options
        self.model = model
        classNames = model.config.classNames
        var sourceOptions = options.sourceOptions
        sourceOptions.keepAudio = options.output != nil
        source = try VideoSource(options.input, options: sourceOptions)
        renderer = FrameRenderer(palette: model.config.palette, classNames: model.config.classNames, style: options.style)
        if let masks = options.masksDirectory { try Self.prepareDirectory(masks) }
        if let output = options.output {
            let info = source.info
            guard info.width > 0, info.height > 0 else {
                throw MediaError(.invalidInput, "cannot size the output", path: options.input, detail: "the stream header has no frame size")
            }
            let size = renderer.outputSize(frameWidth: info.width, frameHeight: info.height)
            var settings = options.encoder
            if source.info.isLive && settings.tune == nil { settings.tune = "zerolatency" }
            writer = try VideoWriter(path: output, width: size.width, height: size.height, timeBase: info.timeBase,
                                     frameRate: info.averageFrameRate, audio: info.audio, settings: settings)
        }
    }

    public var sourceInfo: SourceInfo { source.info }

    /// Asks the run to stop: reading ends (a blocked read is interrupted), frames in flight are finished and
    /// the output's trailer is written. Safe from any thread or a signal source.
    public func requestStop() {
        stopRequested.set()
        source.interrupter.interrupt()
    }

    static func prepareDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw MediaError(.ioError, "cannot create directory", path: path, detail: error.localizedDescription)
            }
        } else if !isDirectory.boolValue {
            throw MediaError(.ioError, "not a directory", path: path)
        }
        guard access(path, W_OK) == 0 else { throw MediaError(.ioError, "cannot write to directory", path: path) }
    }

    private func record(_ error: Error) {
        errorLock.lock()
        if firstError == nil { firstError = error }
        errorLock.unlock()
        requestStop()
    }

    /// Runs to the end of the input, `maxFrames`, or `requestStop()`. Throws for failures of our own
    /// (output I/O); an input that breaks mid-stream ends the run normally with `inputError` set.
    public func run() throws -> RunSummary {
        let live = source.info.isLive
        let policy = options.dropPolicy ?? (live ? .dropOldest : .wait)
        let entrance = BoundedQueue<DemuxedFrame>(capacity: live ? 1 : 3, policy: policy)
        let toInference = BoundedQueue<FrameSlot>(capacity: 2, policy: .wait)
        let toRender = BoundedQueue<FrameSlot>(capacity: 2, policy: .wait)
        let toEncode = BoundedQueue<FrameSlot>(capacity: 2, policy: .wait)
        let slotCount = 8
        let freeSlots = BoundedQueue<FrameSlot>(capacity: slotCount, policy: .wait)
        for _ in 0..<slotCount { freeSlots.push(FrameSlot()) }

        let jsonSink = try options.jsonPath.map { try LineSink(path: $0) }
        let telemetrySink = try options.telemetryPath.map { try LineSink(path: $0) } ?? LineSink.standardError
        resolvedSize = options.networkSize
        let progress = ProgressBar(total: options.maxFrames.map { m in source.info.estimatedFrameCount.map { min($0, m) } ?? m }
                                   ?? source.info.estimatedFrameCount,
                                   enabled: options.showProgress)

        let stages: [(name: String, body: @Sendable () -> Void)] = [
            ("decode", { [self] in decodeStage(into: entrance) }),
            ("preprocess", { [self] in
                preprocessStage(from: entrance, freeSlots: freeSlots, into: toInference)
            }),
            ("inference", { [self] in inferenceStage(from: toInference, into: toRender) }),
            ("render", { [self] in renderStage(from: toRender, into: toEncode) }),
            ("encode", { [self] in
                encodeStage(from: toEncode, freeSlots: freeSlots, json: jsonSink, telemetry: telemetrySink, progress: progress,
                            dropped: { entrance.dropped })
            }),
        ]
        let done = DispatchGroup()
        for stage in stages {
            done.enter()
            let thread = Thread {
                stage.body()
                done.leave()
            }
            thread.name = "segstream." + stage.name
            thread.stackSize = 4 << 20
            thread.start()
        }
        done.wait()
        progress.finish()

        var writeError: Error?
        if let writer {
            for packet in takeAudio() { try? writer.writeAudio(packet) }
            do { try writer.finish() } catch { writeError = error }
        }
        while let slot = freeSlots.depth > 0 ? freeSlots.pop() : nil { slot.releaseBuffers() }

        let frames = telemetry.frames
        let elapsed = Telemetry.now() - telemetry.start
        let summary = RunSummary(
            frames: frames, dropped: entrance.dropped, corruptPackets: source.corruptPackets, seconds: elapsed,
            fps: Double(frames) / max(elapsed, 1e-9), networkSize: resolvedSize ?? NetworkSize(width: 0, height: 0),
            inputError: inputError, interrupted: stopRequested.isSet && inputError == nil && firstError == nil)
        let extra: [String: Any] = [
            "input": options.input, "output": options.output ?? NSNull(),
            "network_size": resolvedSize.map { "\($0)" } ?? NSNull(), "interrupted": summary.interrupted,
            "input_error": inputError.map { $0.description } ?? NSNull(),
        ]
        let record = telemetry.summaryRecord(counters: counters(dropped: entrance.dropped), extra: extra)
        telemetrySink.write(jsonLine(record))
        jsonSink?.write(jsonLine(record))
        jsonSink?.close()
        telemetrySink.close()

        if let error = firstError ?? writeError { throw error }
        if frames == 0 && inputError == nil && !stopRequested.isSet {
            if let output = options.output { try? FileManager.default.removeItem(atPath: output) }
            throw MediaError(.invalidInput, "no video frames", path: options.input,
                             detail: options.start != nil ? "nothing at or after --start" : "the stream decoded to no frames")
        }
        return summary
    }

    private func counters(dropped: Int) -> Telemetry.Counters {
        ["dropped": dropped, "corrupt_packets": source.corruptPackets, "corrupt_frames": source.corruptFrames,
         "synthesized_timestamps": source.synthesizedTimestamps,
         "adjusted_output_timestamps": writer?.adjustedTimestamps ?? 0]
    }

    private func takeAudio() -> [MediaPacket] {
        audioLock.lock()
        defer { audioLock.unlock() }
        let packets = pendingAudio
        pendingAudio.removeAll(keepingCapacity: true)
        return packets
    }

    // MARK: stages

    private func decodeStage(into entrance: BoundedQueue<DemuxedFrame>) {
        defer { entrance.close() }
        var admitted = 0
        while !stopRequested.isSet {
            if let max = options.maxFrames, admitted >= max { break }
            let frame: VideoFrame?
            let started = Telemetry.now()
            do {
                frame = try source.nextFrame()
            } catch let error as MediaError {
                if error.kind != .interrupted || !stopRequested.isSet { inputError = error }
                break
            } catch {
                inputError = MediaError(.internalError, "decode", path: options.input, detail: "\(error)")
                break
            }
            if writer != nil {
                let audio = source.takeAudioPackets()
                if !audio.isEmpty {
                    audioLock.lock()
                    pendingAudio.append(contentsOf: audio)
                    audioLock.unlock()
                }
            }
            guard let frame else { break }
            if let start = options.start, frame.pts < start { continue }
            telemetry.record(.decode, seconds: Telemetry.now() - started)
            admitted += 1
            entrance.push(DemuxedFrame(frame: frame, demuxedAt: started))
        }
    }

    /// The network size, fixed by the first frame unless given: a later resolution change keeps it, so the
    /// network's cost stays predictable (frames are scaled to it).
    private func networkSize(for frame: VideoFrame) -> NetworkSize {
        if let resolvedSize { return resolvedSize }
        let size = NetworkSize.automatic(frameWidth: frame.width, frameHeight: frame.height, scale: options.scale,
                                         modelScale: model.config.networkScale)
        resolvedSize = size
        return size
    }

    private func preprocessStage(from entrance: BoundedQueue<DemuxedFrame>, freeSlots: BoundedQueue<FrameSlot>,
                                 into next: BoundedQueue<FrameSlot>) {
        defer { next.close() }
        let converter = FrameConverter(quality: .bilinear)
        let config = model.config
        var index = 0
        while let demuxed = entrance.pop() {
            let frame = demuxed.frame
            guard let slot = freeSlots.pop() else { break }
            let started = Telemetry.now()
            let size = networkSize(for: frame)
            slot.index = index
            slot.pts = frame.timestamp
            slot.demuxedAt = demuxed.demuxedAt
            slot.frameWidth = frame.width
            slot.frameHeight = frame.height
            if slot.input?.width != size.width || slot.input?.height != size.height {
                slot.input = Tensor(channels: 3, height: size.height, width: size.width)
            }
            do {
                let rgb = slot.frameRGB.reserve(frame.width * frame.height * 3)
                try converter.convertToRGB24(frame, width: frame.width, height: frame.height, into: rgb, rowStride: frame.width * 3)
                try converter.convertToNormalizedCHW(
                    frame, width: size.width, height: size.height, mean: (config.mean[0], config.mean[1], config.mean[2]),
                    std: (config.std[0], config.std[1], config.std[2]), into: slot.input!.data)
            } catch {
                record(error)
                freeSlots.push(slot)
                break
            }
            slot.stageSeconds[Stage.preprocess.index] = Telemetry.now() - started
            telemetry.record(.preprocess, seconds: slot.stageSeconds[Stage.preprocess.index])
            index += 1
            next.push(slot)
        }
        while entrance.pop() != nil {}  // drain frames left behind after a failure so the decoder can exit
    }

    private func inferenceStage(from queue: BoundedQueue<FrameSlot>, into next: BoundedQueue<FrameSlot>) {
        defer { next.close() }
        let session = model.makeSession()
        while let slot = queue.pop() {
            let started = Telemetry.now()
            let input = slot.input!
            let labels = slot.networkLabels.reserve(input.width * input.height)
            session.predictLabels(input: input, into: UnsafeMutableBufferPointer(start: labels, count: input.width * input.height))
            slot.stageSeconds[Stage.inference.index] = Telemetry.now() - started
            telemetry.record(.inference, seconds: slot.stageSeconds[Stage.inference.index])
            next.push(slot)
        }
    }

    private func renderStage(from queue: BoundedQueue<FrameSlot>, into next: BoundedQueue<FrameSlot>) {
        defer { next.close() }
        var recentFPS = RecentRate()
        while let slot = queue.pop() {
            let started = Telemetry.now()
            let input = slot.input!
            let w = slot.frameWidth, h = slot.frameHeight
            let netLabels = slot.networkLabels.pointer!
            // Labels come back to the frame's size by nearest neighbour: the network's labels already come from
            // bilinear-upsampled logits at the network's input size, so this only repeats pixels.
            let frameLabels = slot.frameLabels.reserve(w * h)
            seg_u8_resize_nearest(netLabels, input.width, input.width, input.height, frameLabels, w, w, h)
            for i in 0..<256 { slot.classCounts[i] = 0 }
            seg_u8_histogram(netLabels, input.width * input.height, &slot.classCounts)
            if let masks = options.masksDirectory {
                let path = (masks as NSString).appendingPathComponent(String(format: "%06d.png", slot.index))
                do {
                    try ImageIO.writePNG(pixels: frameLabels, width: w, height: h, rowStride: w, layout: .gray8, to: path)
                } catch {
                    record(error)
                }
            }
            if writer != nil {
                let size = renderer.outputSize(frameWidth: w, frameHeight: h)
                slot.outputWidth = size.width
                slot.outputHeight = size.height
                let out = slot.output.reserve(size.width * size.height * 3)
                let hud = HUDText(fps: recentFPS.tick(Telemetry.now()),
                                  inferenceMilliseconds: slot.stageSeconds[Stage.inference.index] * 1000,
                                  latencyMilliseconds: (Telemetry.now() - slot.demuxedAt) * 1000, frameIndex: slot.index)
                renderer.render(frame: slot.frameRGB.pointer!, width: w, height: h, rowStride: w * 3, labels: frameLabels,
                                labelRowStride: w, hud: options.style.showHUD ? hud : nil, into: out,
                                outRowStride: size.width * 3)
            }
            slot.stageSeconds[Stage.render.index] = Telemetry.now() - started
            telemetry.record(.render, seconds: slot.stageSeconds[Stage.render.index])
            next.push(slot)
        }
    }

    private func encodeStage(from queue: BoundedQueue<FrameSlot>, freeSlots: BoundedQueue<FrameSlot>, json: LineSink?,
                             telemetry sink: LineSink, progress: ProgressBar, dropped: () -> Int) {
        var lastReport = Telemetry.now()
        var lastProgress = 0.0
        var failed = false
        while let slot = queue.pop() {
            let started = Telemetry.now()
            if let writer, !failed {
                do {
                    for packet in takeAudio() { try writer.writeAudio(packet) }
                    try writer.write(rgb: slot.output.pointer!, width: slot.outputWidth, height: slot.outputHeight,
                                     rowStride: slot.outputWidth * 3, pts: slot.pts)
                } catch {
                    failed = true
                    record(error)
                }
            }
            let now = Telemetry.now()
            slot.stageSeconds[Stage.encode.index] = now - started
            telemetry.record(.encode, seconds: slot.stageSeconds[Stage.encode.index])
            telemetry.frameDone(latencySeconds: now - slot.demuxedAt)
            if let json { json.write(frameRecord(slot, latency: now - slot.demuxedAt)) }
            freeSlots.push(slot)
            if now - lastReport >= options.telemetryInterval {
                sink.write(jsonLine(telemetry.windowRecord(counters: counters(dropped: dropped()), now: now)))
                lastReport = now
            }
            if progress.enabled && now - lastProgress > 0.2 {
                progress.draw(frames: telemetry.frames, fps: Double(telemetry.frames) / max(now - telemetry.start, 1e-9))
                lastProgress = now
            }
        }
    }

    private func frameRecord(_ slot: FrameSlot, latency: Double) -> String {
        let total = Double(slot.input!.width * slot.input!.height)
        var classes = [String: Double]()
        for (c, name) in classNames.enumerated() where slot.classCounts[c] > 0 {
            classes[name] = (Double(slot.classCounts[c]) / total * 1e5).rounded() / 1e5
        }
        var stages = [String: Double]()
        for stage in Stage.allCases where stage != .decode {
            stages[stage.rawValue] = round2(slot.stageSeconds[stage.index] * 1000)
        }
        return jsonLine([
            "type": "frame", "index": slot.index, "pts": (slot.pts.seconds * 1e6).rounded() / 1e6,
            "classes": classes, "stages_ms": stages, "latency_ms": round2(latency * 1000),
        ])
    }
}

/// A decoded frame and when its demuxing began (the start of its end-to-end latency).
struct DemuxedFrame: @unchecked Sendable {
    let frame: VideoFrame
    let demuxedAt: Double
}

extension Stage {
    var index: Int { Stage.allCases.firstIndex(of: self)! }
}

extension FrameSlot {
    func releaseBuffers() {
        frameRGB.release()
        networkLabels.release()
        frameLabels.release()
        output.release()
    }
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

/// A set-once flag readable from any thread.
final class AtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

/// JSON lines to a file (buffered, flushed per line so `tail -f` works) or to stderr.
final class LineSink: @unchecked Sendable {
    private let handle: FileHandle
    private let ownsHandle: Bool
    private let lock = NSLock()

    static let standardError = LineSink(handle: .standardError, owns: false)

    private init(handle: FileHandle, owns: Bool) {
        self.handle = handle
        ownsHandle = owns
    }

    convenience init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw MediaError(.ioError, "cannot write", path: path)
        }
        self.init(handle: handle, owns: true)
    }

    func write(_ line: String) {
        lock.lock()
        handle.write(Data((line + "\n").utf8))
        lock.unlock()
    }

    func close() {
        if ownsHandle { try? handle.close() }
    }
}
