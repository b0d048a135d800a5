import Foundation
import Yams

/// The `mqtt:` section (docs/mqtt.md): where `segstream serve` publishes availability, summaries and events.
public struct MQTTSettings: Sendable, Equatable {
    public var host: String
    public var port: Int = 1883
    /// nil: `segstream`, or `segstream-shard-K` under `--shard K/N` (a broker drops the older of two clients with
    /// one id, so every daemon of a fleet needs its own).
    public var clientID: String?
    /// The first level of every topic.
    public var topicPrefix = "segstream"
    /// With `${ENV}` substituted: never logged, never published.
    public var username: String?
    public var password: String?
    public var keepalive: Duration = .seconds(30)
    /// For summaries and events; availability is always QoS 1 and retained.
    public var qos: Int = 0
    /// One summary per source at most this often.
    public var summaryInterval: Duration = .seconds(1)
    /// Messages kept while the broker is away; beyond it the oldest is dropped and counted.
    public var queueSize: Int = 1000

    public init(host: String) { self.host = host }
}

/// One watched class in one region of one source's frame (docs/mqtt.md, "Events"): `enter` is published once the
/// class covers at least `enter.fraction` of the region for `enter.frames` processed frames in a row, `leave`
/// once it covers at most `leave.fraction` for `leave.frames` in a row. Between the two thresholds nothing
/// changes, so a flicker is not an event.
public struct EventRule: Sendable, Equatable {
    public struct Threshold: Sendable, Equatable {
        public var fraction: Double
        public var frames: Int
        public init(fraction: Double, frames: Int) {
            self.fraction = fraction
            self.frames = frames
        }
    }

    /// Unique within the source; default: the class name.
    public var name: String
    /// A class name of the source's model (checked when the model is loaded).
    public var className: String
    /// Vertices in normalised frame coordinates (0…1, origin top left), at least 3; a rectangle is 4.
    public var region: [(x: Double, y: Double)]
    public var enter = Threshold(fraction: 0.05, frames: 3)
    public var leave = Threshold(fraction: 0.01, frames: 5)

    public static let wholeFrame: [(x: Double, y: Double)] = [(0, 0), (1, 0), (1, 1), (0, 1)]

    public init(name: String, className: String, region: [(x: Double, y: Double)] = EventRule.wholeFrame) {
        self.name = name
        self.className = className
        self.region = region
    }

    public static func == (a: EventRule, b: EventRule) -> Bool {
        a.name == b.name && a.className == b.className && a.enter == b.enter && a.leave == b.leave
            && a.region.map { [$0.x, $0.y] } == b.region.map { [$0.x, $0.y] }
    }
}

extension ConfigParser {
    /// `mqtt: {host: …, …}`; nil (with problems) when it is not usable.
    mutating func readMQTT(_ node: Node) -> MQTTSettings? {
        guard case .mapping(let mapping) = node else {
            problem(node, "mqtt: expected a mapping (\(Self.mqttKeys.joined(separator: ", ")))")
            return nil
        }
        var settings = MQTTSettings(host: "")
        var hostSeen = false
        for (key, value) in mapping {
            guard let name = key.scalar?.string, Self.mqttKeys.contains(name) else {
                problem(key, unknownKey("mqtt." + (key.scalar?.string ?? "?"), allowed: Self.mqttKeys))
                continue
            }
            let path = "mqtt.\(name)"
            switch name {
            case "host":
                hostSeen = true
                if let host = string(value, path) {
                    if host.isEmpty || host.contains(where: \.isWhitespace) || host.contains("://") {
                        problem(value, "\(path): expected a host name or address (no scheme), got \"\(host)\"")
                    } else {
                        settings.host = host
                    }
                }
            case "port":
                if let port = integer(value, path, minimum: 1, hint: "a TCP port") {
                    if port > 65535 { problem(value, "\(path): must be 1 to 65535, got \(port)") } else { settings.port = port }
                }
            case "client_id":
                if let id = string(value, path) {
                    // MQTT 3.1.1 guarantees 1…23 characters of [0-9a-zA-Z]; brokers accept more, `-`/`_` included.
                    if id.isEmpty || id.utf8.count > 65535 || id.contains(where: { $0.isWhitespace }) {
                        problem(value, "\(path): expected a non-empty id without spaces")
                    } else {
                        settings.clientID = id
                    }
                }
            case "topic_prefix":
                if let prefix = string(value, path) {
                    if prefix.isEmpty || prefix.hasPrefix("/") || prefix.hasSuffix("/") || prefix.contains("//")
                        || prefix.contains(where: { $0 == "#" || $0 == "+" || $0 == "\0" }) {
                        problem(value, "\(path): expected topic levels such as segstream or site/a (no leading or trailing /, no # or +)")
                    } else {
                        settings.topicPrefix = prefix
                    }
                }
            case "username": settings.username = string(value, path)
            case "password": settings.password = string(value, path)
            case "keepalive":
                if let d = duration(value, path) {
                    if d < .seconds(5) || d > .seconds(65535) {
                        problem(value, "\(path): must be between 5s and 65535s, got \(format(d))")
                    } else {
                        settings.keepalive = d
                    }
                }
            case "qos":
                if let q = integer(value, path, minimum: 0, hint: "0 or 1") {
                    if q > 1 { problem(value, "\(path): must be 0 or 1, got \(q)") } else { settings.qos = q }
                }
            case "summary_interval":
                if let d = duration(value, path) {
                    if d < .milliseconds(100) { problem(value, "\(path): must be at least 100ms, got \(format(d))") } else { settings.summaryInterval = d }
                }
            case "queue_size":
                if let n = integer(value, path, minimum: 1, hint: "a count of messages") { settings.queueSize = n }
            default: break
            }
        }
        if !hostSeen { problem(node, "mqtt.host: missing (the broker's host name or address)") }
        if settings.password != nil && settings.username == nil {
            problem(node, "mqtt.password: given without mqtt.username")
        }
        return settings.host.isEmpty ? nil : settings
    }

    /// `events: [{name, class, region, enter, leave}, …]`.
    mutating func readEventRules(_ node: Node, path: String) -> [EventRule] {
        guard case .sequence(let items) = node else {
            problem(node, "\(path): expected a list of rules such as [{class: person, region: [0, 0.5, 1, 1]}]")
            return []
        }
        var rules: [EventRule] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard case .mapping(let fields) = item else {
                problem(item, "\(itemPath): expected a mapping (\(Self.eventRuleKeys.joined(separator: ", ")))")
                continue
            }
            var name: String?, className: String?
            var region = EventRule.wholeFrame
            var enter: EventRule.Threshold?, leave: EventRule.Threshold?
            let before = problems.count
            for (key, value) in fields {
                guard let field = key.scalar?.string, Self.eventRuleKeys.contains(field) else {
                    problem(key, unknownKey("\(itemPath).\(key.scalar?.string ?? "?")", allowed: Self.eventRuleKeys))
                    continue
                }
                let fieldPath = "\(itemPath).\(field)"
                switch field {
                case "name":
                    if let text = string(value, fieldPath) {
                        if text.isEmpty || text.count > 64 || !text.unicodeScalars.allSatisfy({
                            $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_")
                        }) {
                            problem(value, "\(fieldPath): must be 1 to 64 letters, digits, \"-\" or \"_\"")
                        } else {
                            name = text
                        }
                    }
                case "class": className = string(value, fieldPath)
                case "region": if let r = readRegion(value, path: fieldPath) { region = r }
                case "enter": enter = readThreshold(value, path: fieldPath)
                case "leave": leave = readThreshold(value, path: fieldPath)
                default: break
                }
            }
            guard let className else {
                if problems.count == before { problem(item, "\(itemPath).class: missing (the class to watch)") }
                continue
            }
            var rule = EventRule(name: name ?? className, className: className, region: region)
            if let enter { rule.enter = enter }
            if let leave { rule.leave = leave }
            if rule.leave.fraction > rule.enter.fraction {
                problem(item, "\(itemPath): leave.fraction (\(rule.leave.fraction)) must be at most enter.fraction (\(rule.enter.fraction))")
            }
            if rules.contains(where: { $0.name == rule.name }) {
                problem(item, "\(itemPath): a rule named \(rule.name) already exists (give each rule a distinct name)")
            }
            if problems.count == before { rules.append(rule) }
        }
        return rules
    }

    /// `[x0, y0, x1, y1]` (a rectangle) or `[[x, y], [x, y], [x, y], …]` (a polygon), normalised to 0…1.
    private mutating func readRegion(_ node: Node, path: String) -> [(x: Double, y: Double)]? {
        let hint = "[x0, y0, x1, y1] or a polygon [[x, y], [x, y], [x, y], …], in 0…1 of the frame's width and height"
        guard case .sequence(let items) = node, !items.isEmpty else {
            problem(node, "\(path): expected \(hint)")
            return nil
        }
        func coordinate(_ n: Node) -> Double? {
            guard let text = n.scalar?.string, let x = Double(text), x.isFinite, (0...1).contains(x) else { return nil }
            return x
        }
        if items.allSatisfy({ $0.scalar != nil }) {
            let values = items.compactMap(coordinate)
            guard items.count == 4, values.count == 4, values[0] < values[2], values[1] < values[3] else {
                problem(node, "\(path): a rectangle is [x0, y0, x1, y1] with 0 ≤ x0 < x1 ≤ 1 and 0 ≤ y0 < y1 ≤ 1")
                return nil
            }
            return [(values[0], values[1]), (values[2], values[1]), (values[2], values[3]), (values[0], values[3])]
        }
        var points: [(x: Double, y: Double)] = []
        for item in items {
            guard case .sequence(let pair) = item, pair.count == 2, let x = coordinate(pair[0]), let y = coordinate(pair[1]) else {
                problem(item, "\(path): expected \(hint)")
                return nil
            }
            points.append((x, y))
        }
        guard points.count >= 3 else {
            problem(node, "\(path): a polygon needs at least 3 points")
            return nil
        }
        return points
    }

    /// `{fraction: 0.1, frames: 3}`.
    private mutating func readThreshold(_ node: Node, path: String) -> EventRule.Threshold? {
        guard case .mapping(let fields) = node else {
            problem(node, "\(path): expected {fraction: F, frames: N}")
            return nil
        }
        var threshold = EventRule.Threshold(fraction: -1, frames: -1)
        for (key, value) in fields {
            guard let field = key.scalar?.string, Self.thresholdKeys.contains(field) else {
                problem(key, unknownKey("\(path).\(key.scalar?.string ?? "?")", allowed: Self.thresholdKeys))
                continue
            }
            if field == "fraction" {
                if let x = number(value, "\(path).fraction", hint: "a fraction of the region, 0 to 1") {
                    if (0...1).contains(x) { threshold.fraction = x } else { problem(value, "\(path).fraction: must be 0 to 1, got \(x)") }
                }
            } else if let n = integer(value, "\(path).frames", minimum: 1, hint: "a count of consecutive frames") {
                threshold.frames = n
            }
        }
        guard threshold.fraction >= 0, threshold.frames >= 1 else {
            problem(node, "\(path): needs both fraction and frames, e.g. {fraction: 0.1, frames: 3}")
            return nil
        }
        return threshold
    }
}
