import Foundation
import SegMedia
import SegPipeline
import SFNet

/// `STATE/NAME/frames.jsonl`: one JSON line per processed frame (written by the run's encode thread) and one per
/// event of the source (connected, disconnected, …; written by the daemon's loop). Both go through this lock, so
/// lines never interleave. Every line has `t`, the wall-clock time in seconds since 1970.
public final class SourceLines: Sendable {
    private let writer: Locked<RotatingLineWriter?>
    public let path: String

    public init(path: String, output: JSONLinesOutput) throws {
        self.path = path
        writer = Locked(try RotatingLineWriter(path: path, rotateSize: output.rotateSize, keep: output.keep))
    }

    public func write(_ object: [String: Any]) throws {
        var object = object
        object["t"] = (Date().timeIntervalSince1970 * 1000).rounded() / 1000
        let line = jsonLine(object)
        try writer.withLock { try $0?.write(line: line) }
    }

    /// An event line (failures to write it are left to the frame lines to report).
    public func event(_ name: String, _ fields: [String: Any] = [:]) {
        var object = fields
        object["type"] = "event"
        object["event"] = name
        try? write(object)
    }
}

/// The per-frame JSON line of a served source: `index` (in this connection), `pts`, per-class pixel fraction,
/// per-stage milliseconds, latency, and `t`.
final class FrameLinesSink: FrameSink {
    private let lines: SourceLines
    private let classNames: [String]
    private let processed: Locked<Int>

    /// `processed` counts the frames written (the loop turns it into the source's rate).
    init(lines: SourceLines, classNames: [String], processed: Locked<Int>) {
        self.lines = lines
        self.classNames = classNames
        self.processed = processed
    }

    var role: SinkRole { .report }

    func consume(_ frame: ProcessedFrame) throws {
        processed.withLock { $0 += 1 }
        let total = Double(frame.networkSize.width * frame.networkSize.height)
        var classes = [String: Double]()
        for (c, name) in classNames.enumerated() where frame.classCounts[c] > 0 {
            classes[name] = (Double(frame.classCounts[c]) / total * 1e5).rounded() / 1e5
        }
        var stages = [String: Double]()
        for stage in Stage.allCases where stage != .decode {
            stages[stage.rawValue] = (frame.seconds(stage) * 100_000).rounded() / 100
        }
        try lines.write([
            "type": "frame", "index": frame.index, "pts": (frame.pts.seconds * 1e6).rounded() / 1e6,
            "width": frame.width, "height": frame.height, "classes": classes, "stages_ms": stages,
            "latency_ms": (frame.latencySeconds * 100_000).rounded() / 100,
        ])
    }
}

/// Counts processed frames when the JSON lines are off (the rate in `STATUS=` still needs them).
final class CountingSink: FrameSink {
    private let processed: Locked<Int>
    init(processed: Locked<Int>) { self.processed = processed }
    var role: SinkRole { .report }
    func consume(_ frame: ProcessedFrame) throws { processed.withLock { $0 += 1 } }
}

/// Annotated video in rolling segments under `STATE/NAME/recordings/`, each a file of its own named by its
/// wall-clock start (`20261202T121530.123Z.mp4`): fragmented MP4 (or MKV), so a segment plays up to its last
/// fragment even after a crash, and completely once closed.
///
/// A new segment starts when the current one reaches `segment` (by the frames' timestamps), when the frame size
/// changes (a camera switching resolution), and with every connection (a sink lives for one run: the run's
/// end, for whatever reason, closes the open segment). After each segment is closed, the retention rule
/// (`RecordingOutput.expired`) deletes the old ones.
final class SegmentRecorderSink: FrameSink {
    let directory: String
    private let output: RecordingOutput
    private let stream: StreamInfo
    private let settings: EncoderSettings
    private let onSegment: (String) -> Void
    private var writer: VideoWriter?
    private var segmentStart: Double = 0
    private var lastPTS: Double = 0
    /// Segments this sink closed, in order.
    private(set) var closed: [String] = []

    /// `onSegment` is told each closed segment's path (for the log).
    init(directory: String, output: RecordingOutput, stream: StreamInfo, onSegment: @escaping (String) -> Void) throws {
        self.directory = directory
        self.output = output
        self.stream = stream
        self.onSegment = onSegment
        var settings = EncoderSettings()
        if stream.isLive { settings.tune = "zerolatency" }
        settings.fragmented = true
        settings.flushInterval = 1
        self.settings = settings
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw MediaError(.ioError, "cannot create directory", path: directory, detail: error.localizedDescription)
        }
    }

    var wantsRenderedFrame: Bool { true }

    func consume(_ frame: ProcessedFrame) throws {
        guard let picture = frame.rendered else { return }
        let pts = frame.pts.seconds
        if let current = writer {
            let sizeChanged = current.outputWidth != frame.renderedWidth & ~1 || current.outputHeight != frame.renderedHeight & ~1
            if sizeChanged || pts - segmentStart >= output.segment.seconds || pts < lastPTS {
                try closeSegment()
            }
        }
        if writer == nil {
            writer = try VideoWriter(path: nextPath(), width: frame.renderedWidth, height: frame.renderedHeight,
                                     timeBase: stream.timeBase, frameRate: stream.frameRate, settings: settings)
            segmentStart = pts
        }
        lastPTS = pts
        try writer!.write(picture, pts: frame.pts)
    }

    func finish(_ summary: RunSummary) throws { try closeSegment() }

    private func closeSegment() throws {
        guard let current = writer else { return }
        writer = nil
        let empty = current.framesWritten == 0
        try current.finish()
        if empty {
            try? FileManager.default.removeItem(atPath: current.path)
        } else {
            closed.append(current.path)
            onSegment(current.path)
        }
        applyRetention()
    }

    /// Deletes the segments the retention rule names (the newest is always kept).
    private func applyRetention() {
        let ext = output.format.rawValue
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        let segments: [(name: String, modified: Date)] = names.filter { $0.hasSuffix("." + ext) }.compactMap { name in
            let path = (directory as NSString).appendingPathComponent(name)
            guard let date = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date else {
                return nil
            }
            return (name, date)
        }
        for name in output.expired(segments, now: Date()) {
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
        }
    }

    private func nextPath() -> String {
        let base = (directory as NSString).appendingPathComponent(Self.stamp(Date()))
        var path = base + "." + output.format.rawValue
        var n = 1
        while FileManager.default.fileExists(atPath: path) {
            path = "\(base)-\(n).\(output.format.rawValue)"
            n += 1
        }
        return path
    }

    /// `20261202T121530.123Z`: sorts by time, no `:` (safe on every filesystem and in URLs).
    static func stamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        let ms = Int((date.timeIntervalSince1970 * 1000).rounded(.down)) % 1000
        return String(format: "%04d%02d%02dT%02d%02d%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), ms)
    }
}

/// `outputs.masks`: an 8-bit train-id PNG every `every` processed frames under `STATE/NAME/masks/`, named by
/// wall-clock time, at most `keepCount` files (oldest deleted first).
final class MaskFilesSink: FrameSink {
    let directory: String
    private let output: MaskOutput
    private var count = 0
    private var files: [String]

    init(directory: String, output: MaskOutput) throws {
        self.directory = directory
        self.output = output
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw MediaError(.ioError, "cannot create directory", path: directory, detail: error.localizedDescription)
        }
        files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".png") }.sorted()
    }

    func consume(_ frame: ProcessedFrame) throws {
        defer { count += 1 }
        guard count % output.every == 0 else { return }
        var name = SegmentRecorderSink.stamp(Date()) + ".png"
        if files.last.map({ $0 >= name }) == true { name = SegmentRecorderSink.stamp(Date()) + "-\(count).png" }
        try ImageIO.writePNG(pixels: frame.labels, width: frame.width, height: frame.height, rowStride: frame.width,
                             layout: .gray8, to: (directory as NSString).appendingPathComponent(name))
        files.append(name)
        while files.count > output.keepCount {
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(files.removeFirst()))
        }
    }
}

/// The source as the pipeline sees it: the opened input, with `fps:` applied (``FramePacer``, by the frames'
/// timestamps) and the time of the last decoded frame published for the stall watchdog. Frames skipped by pacing
/// are decoded (they count as progress) but never reach the pipeline, and are not drops.
final class PacedSource: FrameSource {
    private let input: VideoSource
    private var pacer: FramePacer
    private let name: String
    private let progress: Locked<SourceProgress>

    /// Files (`realTime`) are read at their own pace, like a camera (`ffmpeg -re`): a served file is a stand-in
    /// for a live source, and a looping file read flat out would take every core from the cameras.
    private let realTime: Bool
    private let isStopped: () -> Bool
    /// The wall-clock instant of the stream's time 0, set by the first frame (and again when time goes backwards).
    private var origin: (wall: Double, pts: Double)?

    init(input: VideoSource, fps: Double?, name: String, progress: Locked<SourceProgress>, realTime: Bool,
         isStopped: @escaping () -> Bool) {
        self.input = input
        pacer = FramePacer(fps: fps)
        self.name = name
        self.progress = progress
        self.realTime = realTime
        self.isStopped = isStopped
    }

    /// Sleeps until the frame's time comes (real-time files only), waking every 50 ms to see a stop; returns
    /// that time, when the frame "arrives" as a camera's would.
    private func waitForTime(of pts: Double) -> Double {
        let now = Telemetry.now()
        guard let origin, pts >= origin.pts, pts - origin.pts < 3600 else {
            origin = (now, pts)
            return now
        }
        let due = origin.wall + (pts - origin.pts)
        while !isStopped() {
            let left = due - Telemetry.now()
            if left <= 0 { break }
            usleep(useconds_t(min(left, 0.05) * 1e6))
        }
        return due
    }

    /// The stream named by the source's name (metric labels and errors never carry the URL's credentials).
    var streamInfo: StreamInfo {
        var info = input.streamInfo
        info.name = name
        info.audio = nil
        return info
    }

    var damage: SourceDamage { input.damage }
    func makeInterrupter() -> @Sendable () -> Void { input.makeInterrupter() }

    func nextFrame() throws -> VideoFrame? {
        while true {
            guard let frame = try input.nextFrame() else { return nil }
            if realTime { frame.arrivedAt = max(frame.arrivedAt, waitForTime(of: frame.pts)) }
            let now = MonotonicClock.now()
            let keep = pacer.shouldProcess(time: frame.pts)
            progress.withLock {
                $0.lastFrame = now
                if !keep { $0.skipped += 1 }
            }
            if keep { return frame }
        }
    }
}

/// What one connection's decode thread publishes for the loop.
struct SourceProgress {
    /// The last decoded frame (paced out or not).
    var lastFrame: MonotonicInstant?
    /// Frames skipped by `fps:` pacing.
    var skipped = 0
}
