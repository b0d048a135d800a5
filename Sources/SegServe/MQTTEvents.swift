import Foundation
import SegPipeline

/// The pixels of a normalised polygon at one frame size, as row spans: a pixel is inside when its centre is
/// (even-odd rule), so a rectangle [x0, y0, x1, y1] covers exactly the pixels whose centres lie in it.
public struct RegionMask: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Per inside run: row, first column, one past the last column.
    public let spans: [(row: Int, start: Int, end: Int)]
    public let pixelCount: Int

    public init(polygon: [(x: Double, y: Double)], width: Int, height: Int) {
        self.width = width
        self.height = height
        var spans: [(row: Int, start: Int, end: Int)] = []
        var count = 0
        for row in 0..<height {
            let y = (Double(row) + 0.5) / Double(height)
            var crossings: [Double] = []
            for i in polygon.indices {
                let a = polygon[i], b = polygon[(i + 1) % polygon.count]
                // Half-open in y, so a vertex on the scanline counts once.
                if (a.y <= y) != (b.y <= y) {
                    crossings.append(a.x + (y - a.y) / (b.y - a.y) * (b.x - a.x))
                }
            }
            crossings.sort()
            for pair in stride(from: 0, to: crossings.count - 1, by: 2) {
                // Columns whose centre (c + 0.5) / width lies in [left, right).
                let start = max(0, Int((crossings[pair] * Double(width) - 0.5).rounded(.up)))
                let end = min(width, Int((crossings[pair + 1] * Double(width) - 0.5).rounded(.up)))
                if end > start {
                    spans.append((row, start, end))
                    count += end - start
                }
            }
        }
        self.spans = spans
        pixelCount = count
    }

    /// The fraction of the region's pixels whose label is `label` (0 for an empty region).
    public func fraction(of label: UInt8, in labels: UnsafePointer<UInt8>) -> Double {
        guard pixelCount > 0 else { return 0 }
        var hits = 0
        for span in spans {
            let row = labels + span.row * width
            for x in span.start..<span.end where row[x] == label { hits += 1 }
        }
        return Double(hits) / Double(pixelCount)
    }

    public static func == (a: RegionMask, b: RegionMask) -> Bool {
        a.width == b.width && a.height == b.height && a.spans.map { [$0.row, $0.start, $0.end] } == b.spans.map { [$0.row, $0.start, $0.end] }
    }
}

/// One rule's hysteresis (docs/mqtt.md, "Events"): fed one fraction per processed frame, it says `enter` after
/// `enter.frames` frames in a row at or above `enter.fraction` while inactive, and `leave` after `leave.frames`
/// frames in a row at or below `leave.fraction` while active. Any other frame resets the run.
public struct RegionHysteresis: Sendable, Equatable {
    public enum Transition: String, Sendable { case enter, leave }

    public let enter: EventRule.Threshold
    public let leave: EventRule.Threshold
    public private(set) var active = false
    /// Consecutive frames towards the next transition.
    public private(set) var run = 0

    public init(enter: EventRule.Threshold, leave: EventRule.Threshold) {
        self.enter = enter
        self.leave = leave
    }

    public mutating func update(_ fraction: Double) -> Transition? {
        let towards = active ? fraction <= leave.fraction : fraction >= enter.fraction
        guard towards else {
            run = 0
            return nil
        }
        run += 1
        guard run >= (active ? leave.frames : enter.frames) else { return nil }
        active.toggle()
        run = 0
        return active ? .enter : .leave
    }
}

/// A source's MQTT output for one connection (docs/mqtt.md): a summary at most every `summary_interval`, and the
/// events of its rules. Runs on the pipeline's report thread; publishing only queues (``MQTTPublisher``).
final class MQTTFrameSink: FrameSink {
    private let publisher: MQTTPublisher
    private let source: String
    private let classNames: [String]
    private let interval: Double
    private var watches: [Watch]
    private var window = Window()

    private struct Watch {
        let rule: EventRule
        let label: UInt8
        var mask: RegionMask?
        var hysteresis: RegionHysteresis
        /// When the current `enter` happened: the frame's pts and the wall-clock time.
        var since: (pts: Double, time: Double)?
    }

    /// Frames since the last summary.
    private struct Window {
        var start: Double?
        var frames = 0
        var latencySum = 0.0
    }

    /// `rules` have been checked against `classNames` (``MQTTFrameSink/unknownClasses(_:classNames:)``).
    init(publisher: MQTTPublisher, source: String, classNames: [String], rules: [EventRule]) {
        self.publisher = publisher
        self.source = source
        self.classNames = classNames
        interval = publisher.settings.summaryInterval.seconds
        watches = rules.compactMap { rule in
            classNames.firstIndex(of: rule.className).map { label in
                Watch(rule: rule, label: UInt8(label), hysteresis: RegionHysteresis(enter: rule.enter, leave: rule.leave))
            }
        }
    }

    /// The rules' classes that `classNames` lacks, as config problems.
    static func unknownClasses(_ rules: [EventRule], classNames: [String]) -> [String] {
        rules.filter { !classNames.contains($0.className) }.map {
            "events: rule \($0.name): the model has no class \"\($0.className)\" (it has \(classNames.joined(separator: ", ")))"
        }
    }

    var role: SinkRole { .report }

    func consume(_ frame: ProcessedFrame) throws {
        let now = Date().timeIntervalSince1970
        let pts = (frame.pts.seconds * 1e6).rounded() / 1e6
        let size = frame.networkSize
        for i in watches.indices {
            if watches[i].mask?.width != size.width || watches[i].mask?.height != size.height {
                watches[i].mask = RegionMask(polygon: watches[i].rule.region, width: size.width, height: size.height)
            }
            let fraction = watches[i].mask!.fraction(of: watches[i].label, in: frame.networkLabels)
            guard let transition = watches[i].hysteresis.update(fraction) else { continue }
            publishEvent(i, transition, fraction: fraction, pts: pts, time: now, reason: nil)
        }

        let start = window.start ?? now
        window.start = start
        window.frames += 1
        window.latencySum += frame.latencySeconds
        guard now - start >= interval else { return }
        let total = Double(size.width * size.height)
        var classes = [String: Double]()
        for (c, name) in classNames.enumerated() where frame.classCounts[c] > 0 {
            classes[name] = (Double(frame.classCounts[c]) / total * 1e5).rounded() / 1e5
        }
        let payload: [String: Any] = [
            "source": source, "time": (now * 1000).rounded() / 1000, "pts": pts, "frame": frame.index,
            "width": frame.width, "height": frame.height, "classes": classes,
            "fps": (Double(window.frames) / (now - start) * 100).rounded() / 100,
            "frames": window.frames,
            "latency_ms": (frame.latencySeconds * 100_000).rounded() / 100,
            "latency_ms_mean": (window.latencySum / Double(window.frames) * 100_000).rounded() / 100,
            "active": watches.filter(\.hysteresis.active).map(\.rule.name),
        ]
        publisher.publish(publisher.topic(source, "summary"), payload: jsonLine(payload))
        window = Window(start: now)
    }

    /// The connection is over: every active rule leaves, with `reason: "disconnected"` (nothing is known of the
    /// region until the source is back).
    func finish(_ summary: RunSummary) throws {
        let now = Date().timeIntervalSince1970
        for i in watches.indices where watches[i].hysteresis.active {
            publishEvent(i, .leave, fraction: nil, pts: nil, time: now, reason: "disconnected")
        }
    }

    private func publishEvent(_ i: Int, _ transition: RegionHysteresis.Transition, fraction: Double?, pts: Double?,
                              time: Double, reason: String?) {
        let rule = watches[i].rule
        var payload: [String: Any] = [
            "type": transition.rawValue, "source": source, "rule": rule.name, "class": rule.className,
            "region": rule.region.map { [$0.x, $0.y] }, "time": (time * 1000).rounded() / 1000,
        ]
        if let fraction { payload["fraction"] = (fraction * 1e5).rounded() / 1e5 }
        if let pts { payload["pts"] = pts }
        if let reason { payload["reason"] = reason }
        switch transition {
        case .enter:
            watches[i].since = (pts ?? 0, time)
        case .leave:
            if let since = watches[i].since {
                payload["entered_pts"] = since.pts
                payload["duration_s"] = ((time - since.time) * 1000).rounded() / 1000
            }
            watches[i].since = nil
            watches[i].hysteresis = RegionHysteresis(enter: rule.enter, leave: rule.leave)
        }
        publisher.publish(publisher.topic(source, "events"), payload: jsonLine(payload))
    }
}
