import CoreMetrics
import Foundation
import SegMedia
import SegPanoptic
import SFNet

/// Where a sink runs in the encode stage.
public enum SinkRole: Sendable {
    /// Produces the run's outputs (video, masks); its time counts as the encode stage.
    case output
    /// Reports on frames after the encode stage (JSON lines, telemetry, progress), with complete timings.
    case report
}

/// A consumer of processed frames. A run hands its sinks to the encode thread: `consumeAudio` and `consume`
/// are called there, in frame order; `finish` once at the end, on the thread that called `run`, also after
/// a failure (so files are closed). A sink that throws gets no more frames; the run stops and reports it.
public protocol FrameSink: AnyObject {
    var role: SinkRole { get }
    /// Whether this sink reads `ProcessedFrame.rendered` (the render stage draws only when some sink does).
    var wantsRenderedFrame: Bool { get }
    /// Audio packets read since the previous frame, for stream copy.
    func consumeAudio(_ packets: [MediaPacket]) throws
    func consume(_ frame: ProcessedFrame) throws
    func finish(_ summary: RunSummary) throws
}

extension FrameSink {
    public var role: SinkRole { .output }
    public var wantsRenderedFrame: Bool { false }
    public func consumeAudio(_ packets: [MediaPacket]) throws {}
    public func finish(_ summary: RunSummary) throws {}
}

/// One frame as the sinks see it. The pointers are lent for the duration of the `consume` call.
public struct ProcessedFrame {
    /// 0-based index of the frame in this run (after `start`).
    public let index: Int
    public let pts: MediaTime
    /// The frame's own size.
    public let width: Int
    public let height: Int
    /// Train ids at the frame's size, `width` bytes per row.
    public let labels: UnsafePointer<UInt8>
    public let networkSize: NetworkSize
    /// Train ids at the network's input size.
    public let networkLabels: UnsafePointer<UInt8>
    /// Pixels per train id (256 entries) over `networkLabels`.
    public let classCounts: [UInt32]
    /// The annotated frame, in the encoder's YUV 4:2:0, when a sink asked for it.
    public let rendered: YUV420Planes?
    public var renderedWidth: Int { rendered?.width ?? 0 }
    public var renderedHeight: Int { rendered?.height ?? 0 }
    /// Seconds per stage, indexed like `Stage.allCases` (encode is 0 for output sinks: it is being measured).
    public let stageSeconds: [Double]
    /// Demux to now: to the start of the encode stage for output sinks, to its end for report sinks.
    public let latencySeconds: Double
    /// The panoptic result at the frame's size (`StreamPipeline.Configuration.panoptic`), nil when off.
    public var panoptic: PanopticResult? = nil

    public func seconds(_ stage: Stage) -> Double { stageSeconds[stage.index] }
}

// MARK: - Output sinks

/// The annotated video: H.264 in the container of the path's extension, the source's timestamps, its audio
/// copied. Opens the file at `init`, so an unwritable path fails before any work.
public final class AnnotatedVideoSink: FrameSink {
    public let path: String
    private let writer: VideoWriter
    private let adjusted: Counter
    private var reportedAdjusted = 0

    /// `size` is the annotated frame's (`StreamPipeline.renderedSize`). Live sources get x264's zerolatency
    /// tune unless `settings` names one.
    public init(path: String, stream: StreamInfo, size: (width: Int, height: Int), settings: EncoderSettings = EncoderSettings(),
                metrics: any MetricsFactory = MetricsSystem.factory) throws {
        guard stream.width > 0, stream.height > 0 else {
            throw MediaError(.invalidInput, "cannot size the output", path: stream.name, detail: "the stream header has no frame size")
        }
        var settings = settings
        if stream.isLive && settings.tune == nil { settings.tune = "zerolatency" }
        self.path = path
        writer = try VideoWriter(path: path, width: size.width, height: size.height, timeBase: stream.timeBase,
                                 frameRate: stream.frameRate, audio: stream.audio, settings: settings)
        adjusted = Counter(label: PipelineMetric.adjustedOutputTimestamps, dimensions: [("stream", stream.name)], factory: metrics)
    }

    public var wantsRenderedFrame: Bool { true }

    public func consumeAudio(_ packets: [MediaPacket]) throws {
        for packet in packets { try writer.writeAudio(packet) }
    }

    public func consume(_ frame: ProcessedFrame) throws {
        guard let picture = frame.rendered else { return }
        try writer.write(picture, pts: frame.pts)
        reportAdjusted()
    }

    /// Writes the trailer; an output of a run that produced nothing is removed.
    public func finish(_ summary: RunSummary) throws {
        defer { reportAdjusted() }
        try writer.finish()
        if summary.producedNothing { try? FileManager.default.removeItem(atPath: path) }
    }

    private func reportAdjusted() {
        let now = writer.adjustedTimestamps
        if now > reportedAdjusted { adjusted.increment(by: now - reportedAdjusted) }
        reportedAdjusted = now
    }
}

/// A train-id PNG per frame at the frame's size (`000000.png`, …) in a directory, created if missing.
public final class MasksDirectorySink: FrameSink {
    public let directory: String

    /// Throws `MediaError.ioError` when the directory cannot be created or written.
    public init(directory: String) throws {
        self.directory = directory
        try Self.prepare(directory)
    }

    /// Creates `directory` if missing; `MediaError.ioError` when it cannot be created or written.
    static func prepare(_ directory: String) throws {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw MediaError(.ioError, "cannot create directory", path: directory, detail: error.localizedDescription)
            }
        } else if !isDirectory.boolValue {
            throw MediaError(.ioError, "not a directory", path: directory)
        }
        guard access(directory, W_OK) == 0 else { throw MediaError(.ioError, "cannot write to directory", path: directory) }
    }

    public func consume(_ frame: ProcessedFrame) throws {
        let path = (directory as NSString).appendingPathComponent(String(format: "%06d.png", frame.index))
        try ImageIO.writePNG(pixels: frame.labels, width: frame.width, height: frame.height, rowStride: frame.width,
                             layout: .gray8, to: path)
    }
}

// MARK: - Report sinks

/// One JSON line per frame (`index`, `pts` in seconds, per-class pixel fraction, per-stage milliseconds,
/// latency) and a final `summary` record from the run's `TelemetryMetrics`.
public final class JSONLinesSink: FrameSink {
    private let out: LineOutput
    private let classNames: [String]
    private let telemetry: TelemetryMetrics
    private let extra: [String: Any]

    /// `extra` fields go into the summary record (the CLI's input and output names).
    public init(path: String, classNames: [String], telemetry: TelemetryMetrics, extra: [String: Any] = [:]) throws {
        out = try LineOutput(path: path)
        self.classNames = classNames
        self.telemetry = telemetry
        self.extra = extra
    }

    public var role: SinkRole { .report }

    public func consume(_ frame: ProcessedFrame) throws {
        let total = Double(frame.networkSize.width * frame.networkSize.height)
        var classes = [String: Double]()
        for (c, name) in classNames.enumerated() where frame.classCounts[c] > 0 {
            classes[name] = (Double(frame.classCounts[c]) / total * 1e5).rounded() / 1e5
        }
        var stages = [String: Double]()
        for stage in Stage.allCases where stage != .decode { stages[stage.rawValue] = round2(frame.seconds(stage) * 1000) }
        try out.writeLine(jsonLine([
            "type": "frame", "index": frame.index, "pts": (frame.pts.seconds * 1e6).rounded() / 1e6,
            "classes": classes, "stages_ms": stages, "latency_ms": round2(frame.latencySeconds * 1000),
        ].merging(instanceField(frame)) { a, _ in a }))
    }

    public func finish(_ summary: RunSummary) throws {
        out.write(jsonLine(telemetry.summaryRecord(summary, extra: extra)))
        try out.close()
    }

    /// `instances`: thing segments per class name, when the run is panoptic.
    private func instanceField(_ frame: ProcessedFrame) -> [String: Any] {
        guard let panoptic = frame.panoptic else { return [:] }
        var counts = [String: Int]()
        for c in panoptic.map.segmentClasses {
            counts[Int(c) < classNames.count ? classNames[Int(c)] : "class \(c)", default: 0] += 1
        }
        return ["instances": counts]
    }
}

/// Per frame, the COCO/Cityscapes panoptic PNG (`000000_panoptic.png`, id = R + 256·G + 256²·B) and its
/// `segments_info` (`000000_panoptic.json`), at the frame's size (`PanopticEncoding`: Cityscapes ids,
/// the stable instance id as `instance_id`). Frames of a run without panoptic results are skipped.
public final class PanopticDirectorySink: FrameSink {
    public let directory: String
    private let classes: PanopticClasses

    public init(directory: String, classes: PanopticClasses = .cityscapes) throws {
        self.directory = directory
        self.classes = classes
        try MasksDirectorySink.prepare(directory)
    }

    public func consume(_ frame: ProcessedFrame) throws {
        guard let panoptic = frame.panoptic else { return }
        let stem = String(format: "%06d_panoptic", frame.index)
        try Self.write(panoptic, classes: classes, imageID: String(format: "%06d", frame.index),
                       to: (directory as NSString).appendingPathComponent(stem))
    }

    /// Writes `BASE.png` and `BASE.json` (`{"image_id", "file_name", "segments_info"}`).
    public static func write(_ result: PanopticResult, classes: PanopticClasses, imageID: String, to base: String) throws {
        let (segments, ids) = PanopticEncoding.encode(result.map, classes: classes, instanceIDs: result.instanceIDs)
        let rgb = PanopticEncoding.rgb(ids)
        try rgb.withUnsafeBufferPointer {
            try ImageIO.writePNG(pixels: $0.baseAddress!, width: result.map.width, height: result.map.height,
                                 rowStride: result.map.width * 3, layout: .rgb24, to: base + ".png")
        }
        let object: [String: Any] = [
            "image_id": imageID, "file_name": (base as NSString).lastPathComponent + ".png",
            "segments_info": PanopticEncoding.segmentsInfo(segments),
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        guard FileManager.default.createFile(atPath: base + ".json", contents: data + Data("\n".utf8)) else {
            throw MediaError(.ioError, "cannot write", path: base + ".json")
        }
    }
}

/// Telemetry records (`type: telemetry`) every `interval` seconds of frames, and the `summary` at the end,
/// as JSON lines to a file or stderr.
public final class TelemetrySink: FrameSink {
    private let out: LineOutput
    private let telemetry: TelemetryMetrics
    private let interval: Double
    private let extra: [String: Any]
    private var lastReport = Telemetry.now()

    public init(out: LineOutput, telemetry: TelemetryMetrics, interval: Double = 5, extra: [String: Any] = [:]) {
        self.out = out
        self.telemetry = telemetry
        self.interval = interval
        self.extra = extra
    }

    public var role: SinkRole { .report }

    public func consume(_ frame: ProcessedFrame) throws {
        let now = Telemetry.now()
        guard now - lastReport >= interval else { return }
        try out.writeLine(jsonLine(telemetry.telemetry.windowRecord(counters: telemetry.recordCounters, now: now)))
        lastReport = now
    }

    public func finish(_ summary: RunSummary) throws {
        out.write(jsonLine(telemetry.summaryRecord(summary, extra: extra)))
        try out.close()
    }
}

