import Foundation

/// The whole `segstream serve` configuration, validated: every value is in range and every source has
/// everything it needs. Built by ``ServeConfig/load(file:environment:fileExists:)``, by
/// ``ServeConfig/parse(yaml:file:environment:fileExists:)`` or by ``ServeConfig/fromCommandLine(sources:stateDirectory:environment:fileExists:)``;
/// the reference of every key is docs/serve.md.
public struct ServeConfig: Sendable, Equatable {
    /// Where outputs go: one folder per source (`STATE/NAME/recordings/`, `STATE/NAME/frames.jsonl`,
    /// `STATE/NAME/masks/`). Default: `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`), else
    /// ``defaultStateDirectory``.
    public var stateDirectory: String
    /// Reconnection timing, shared by every source.
    public var backoff: BackoffSettings
    /// The sources, in the order they were written (file first, then `--source` ones); under `--shard K/N`, only
    /// this shard's (``sharded(_:)``).
    public var sources: [SourceConfig]
    /// The `mqtt:` section (docs/mqtt.md); nil: no MQTT.
    public var mqtt: MQTTSettings?
    /// `--shard K/N` (docs/scaling.md); nil: every source.
    public var shard: Shard?
    /// Where the HTTP side listens (`http:`, `--http`; docs/http.md); nil: `off`. Default ``HTTPListen/default``.
    public var http: HTTPListen?

    public static let defaultConfigPath = "/etc/segstream/segstream.yaml"
    public static let defaultStateDirectory = "/var/lib/segstream"

    public init(stateDirectory: String, backoff: BackoffSettings = BackoffSettings(), sources: [SourceConfig],
                http: HTTPListen? = .default) {
        self.stateDirectory = stateDirectory
        self.backoff = backoff
        self.sources = sources
        self.http = http
    }

    /// The folder of one source's outputs.
    public func directory(of source: SourceConfig) -> String {
        (stateDirectory as NSString).appendingPathComponent(source.name)
    }
}

/// The HTTP side's address: `HOST:PORT` (`[V6]:PORT` for IPv6), or `off`. Only loopback unless configured.
public struct HTTPListen: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    /// 0: any free port (tests); the daemon logs the one it got.
    public var port: Int

    /// Loopback, port 9400.
    public static let `default` = HTTPListen(host: "127.0.0.1", port: 9400)

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `HOST:PORT`, `[V6]:PORT` or `off` (nil); the error is one line.
    public static func parse(_ text: String) -> Result<HTTPListen?, ServeError> {
        if ["off", "false", "no"].contains(text.lowercased()) { return .success(nil) }
        let bad = ServeError("\"\(text)\": expected HOST:PORT (e.g. 127.0.0.1:9400), [IPV6]:PORT or off")
        guard let colon = text.lastIndex(of: ":") else { return .failure(bad) }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port), !host.isEmpty,
              !host.contains(where: { $0.isWhitespace || $0 == "/" || $0 == "[" || $0 == "]" }) else {
            return .failure(bad)
        }
        return .success(HTTPListen(host: host, port: port))
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Capped exponential backoff with full jitter (docs/serve.md, "Reconnection").
public struct BackoffSettings: Sendable, Equatable {
    /// Upper bound of the first retry's delay (the delay itself is uniform in 0…initial).
    public var initial: Duration
    /// Upper bound of every delay.
    public var cap: Duration
    /// A source that has run this long without failing starts again from `initial`.
    public var stableReset: Duration
    /// Failed attempts in a row after which the source is stopped; nil: retry forever.
    public var maxRetries: Int?

    public init(initial: Duration = .seconds(1), cap: Duration = .seconds(30), stableReset: Duration = .seconds(60),
                maxRetries: Int? = nil) {
        self.initial = initial
        self.cap = cap
        self.stableReset = stableReset
        self.maxRetries = maxRetries
    }
}

/// What kind of input a source URL names; decides the default drop policy and which checks apply.
public enum SourceKind: String, Sendable, Equatable {
    case rtsp, http, udp, tcp, device, file

    /// Live sources cannot wait for us: their frames keep coming whether we keep up or not.
    public var isLive: Bool { self != .file }
}

/// The network's input size: an explicit size, or the frame's size times a scale (and the model's
/// `network_scale`), as `segstream run --size` / `--scale` do.
public enum NetworkSize: Sendable, Equatable {
    case size(width: Int, height: Int)
    case scale(Double)
}

public enum Precision: String, Sendable, Equatable, CaseIterable {
    case fp32, int8
}

/// What happens when inference is slower than the source (README, `run --drop`).
public enum DropPolicy: String, Sendable, Equatable, CaseIterable {
    /// Every frame is processed; the source waits (files).
    case wait
    /// Frames that waited longer than the source's `maxWait` are dropped, oldest first, and counted (live sources).
    case oldest
}

public enum RecordingFormat: String, Sendable, Equatable, CaseIterable {
    /// Fragmented MP4: playable up to the last complete fragment even after a crash.
    case mp4
    /// Matroska.
    case mkv
}

/// Annotated video in rolling segments, under `STATE/NAME/recordings/`.
public struct RecordingOutput: Sendable, Equatable {
    public var format: RecordingFormat = .mp4
    public var segment: Duration = .seconds(300)
    /// Segments kept (oldest deleted first); nil: no limit by count.
    public var keepCount: Int? = 288
    /// Segments older than this are deleted; nil: no limit by age. `keepCount` and `keepAge` are never both nil.
    public var keepAge: Duration? = .seconds(86_400)
    public init() {}
}

/// One JSON line per processed frame, in `STATE/NAME/frames.jsonl`, rotated by size.
public struct JSONLinesOutput: Sendable, Equatable {
    /// The file is rotated (`frames.jsonl.1`, …) when it reaches this many bytes.
    public var rotateSize: Int = 64 << 20
    /// Rotated files kept.
    public var keep: Int = 10
    public init() {}
}

/// Label masks (8-bit PNG, train ids), in `STATE/NAME/masks/`.
public struct MaskOutput: Sendable, Equatable {
    /// One mask every this many processed frames.
    public var every: Int = 1
    /// Mask files kept (oldest deleted first).
    public var keepCount: Int = 1000
    public init() {}
}

/// One named source, with the defaults merged in.
public struct SourceConfig: Sendable, Equatable {
    /// `[A-Za-z0-9_-]{1,64}`: it names the output folder and the metric label.
    public var name: String
    /// The URL or path with `${ENV}` already substituted: it may hold credentials. Never log it; log
    /// ``redactedURL``.
    public var url: String
    public var kind: SourceKind
    /// Files only: start again at the end.
    public var loop: Bool = false
    public var network: NetworkSize = .scale(1)
    /// nil: the model file's own precision.
    public var precision: Precision?
    /// nil: the bundled model (README, "Models").
    public var model: String?
    /// Process at most this many frames per second, evenly spaced; nil: every frame.
    public var fps: Double?
    public var drop: DropPolicy
    /// With `drop: oldest`: how long a decoded frame may wait for inference before it is dropped as stale
    /// (`max_wait`); zero keeps only the newest frame.
    public var maxWait: Duration = .seconds(1)
    /// No decoded frame for this long while connecting or running counts as a failure.
    public var stallTimeout: Duration = .seconds(20)
    public var recording: RecordingOutput? = RecordingOutput()
    public var jsonLines: JSONLinesOutput? = JSONLinesOutput()
    public var masks: MaskOutput?
    /// Region events published over MQTT (docs/mqtt.md, "Events").
    public var events: [EventRule] = []

    public init(name: String, url: String, kind: SourceKind) {
        self.name = name
        self.url = url
        self.kind = kind
        drop = kind.isLive ? .oldest : .wait
    }

    /// ``url`` without credentials: what logs, status lines and metric labels show.
    public var redactedURL: String { Redaction.redact(url: url) }
}

/// One thing wrong with a configuration: `FILE:LINE: source NAME: problem`.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    /// The config file, or `--source` for a source given on the command line.
    public var file: String
    /// 1-based; nil when the problem has no single line (a missing file, a command-line source).
    public var line: Int?
    /// The source the problem is about, nil for the file's top level and `defaults`.
    public var source: String?
    public var message: String

    public init(file: String, line: Int?, source: String?, message: String) {
        self.file = file
        self.line = line
        self.source = source
        self.message = message
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        if let source { text += ": source \(source)" }
        return text + ": " + message
    }
}

/// Every problem found in a configuration (not the first only); its description is one line per problem.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var problems: [ConfigProblem]
    public init(problems: [ConfigProblem]) { self.problems = problems }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

// MARK: - Reload and retention

/// What a reload (SIGHUP) changes: only the sources named here are touched; the others keep running.
public struct ConfigChanges: Sendable, Equatable {
    /// In the new configuration only: start them.
    public var added: [String] = []
    /// In the old configuration only: stop them.
    public var removed: [String] = []
    /// In both with a different setting (URL, model, outputs, …): restart them.
    public var changed: [String] = []
    /// `state_dir` or `backoff` changed: every source restarts.
    public var global = false

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty && !global }
}

extension ServeConfig {
    /// The difference from `self` to `new`, by source name, in the new (or, for removals, the old) order.
    public func changes(to new: ServeConfig) -> ConfigChanges {
        var result = ConfigChanges()
        let old = Dictionary(uniqueKeysWithValues: sources.map { ($0.name, $0) })
        let next = Dictionary(uniqueKeysWithValues: new.sources.map { ($0.name, $0) })
        result.removed = sources.map(\.name).filter { next[$0] == nil }
        for source in new.sources {
            guard let before = old[source.name] else { result.added.append(source.name); continue }
            if before != source { result.changed.append(source.name) }
        }
        result.global = stateDirectory != new.stateDirectory || backoff != new.backoff
        return result
    }
}

extension RecordingOutput {
    /// The segments to delete: all but the `keepCount` newest, and every one older than `keepAge`. The newest
    /// segment is always kept (it may be the one being written). `segments` are (name, modification time) pairs.
    public func expired(_ segments: [(name: String, modified: Date)], now: Date) -> [String] {
        let newestFirst = segments.sorted { ($0.modified, $0.name) > ($1.modified, $1.name) }
        var expired: [String] = []
        for (index, segment) in newestFirst.enumerated() where index > 0 {
            let tooMany = keepCount.map { index >= $0 } ?? false
            let tooOld = keepAge.map { now.timeIntervalSince(segment.modified) > $0.seconds } ?? false
            if tooMany || tooOld { expired.append(segment.name) }
        }
        return expired
    }
}

extension Duration {
    /// This duration in seconds, as a Double.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
