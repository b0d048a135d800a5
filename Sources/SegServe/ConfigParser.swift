import Foundation
import Yams

extension ServeConfig {
    /// Reads and validates the config file at `file`, plus any `--source NAME=URL` given on the command line.
    /// Throws every problem found, one ``ConfigProblem`` each.
    ///
    /// - Parameters:
    ///   - commandLineSources: `NAME=URL` strings; they take the file's `defaults`.
    ///   - stateDirectory: `--state-dir`, which overrides the file's `state_dir`.
    ///   - environment: for `${NAME}` substitution and `STATE_DIRECTORY`.
    ///   - fileExists: whether a model file or a file source exists (injected for tests).
    public static func load(file: String, commandLineSources: [String] = [], stateDirectory: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment,
                            fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) })
        throws(ConfigError) -> ServeConfig
    {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: file) ? "cannot be read" : "no such file"
            throw ConfigError(problems: [ConfigProblem(file: file, line: nil, source: nil, message: reason)])
        }
        let base = (file as NSString).deletingLastPathComponent
        return try parse(yaml: text, file: file, baseDirectory: base.isEmpty ? "." : base,
                         commandLineSources: commandLineSources, stateDirectory: stateDirectory,
                         environment: environment, fileExists: fileExists)
    }

    /// Sources from the command line only (`--source NAME=URL`, repeatable), with every default.
    public static func fromCommandLine(sources: [String], stateDirectory: String?,
                                       environment: [String: String] = ProcessInfo.processInfo.environment,
                                       fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) })
        throws(ConfigError) -> ServeConfig
    {
        try parse(yaml: nil, file: "--source", baseDirectory: FileManager.default.currentDirectoryPath,
                  commandLineSources: sources, stateDirectory: stateDirectory, environment: environment,
                  fileExists: fileExists)
    }

    /// Validates YAML text (nil: no file) named `file` in problems; relative paths in it are relative to
    /// `baseDirectory`.
    public static func parse(yaml: String?, file: String, baseDirectory: String = ".",
                             commandLineSources: [String] = [], stateDirectory: String? = nil,
                             environment: [String: String] = ProcessInfo.processInfo.environment,
                             fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) })
        throws(ConfigError) -> ServeConfig
    {
        let (config, problems) = withoutActuallyEscaping(fileExists) { fileExists in
            var parser = ConfigParser(file: file, baseDirectory: baseDirectory, environment: environment,
                                      fileExists: fileExists)
            let config = parser.run(yaml: yaml, commandLineSources: commandLineSources, stateDirectory: stateDirectory)
            return (config, parser.problems)
        }
        guard problems.isEmpty, let config else {
            // In the order of the text: by file (in order of appearance), then line; the rest keeps its order.
            let files = problems.reduce(into: [String]()) { if !$0.contains($1.file) { $0.append($1.file) } }
            let sorted = problems.enumerated().sorted {
                let a = (files.firstIndex(of: $0.element.file)!, $0.element.line ?? 0, $0.offset)
                let b = (files.firstIndex(of: $1.element.file)!, $1.element.line ?? 0, $1.offset)
                return a < b
            }
            throw ConfigError(problems: sorted.map(\.element))
        }
        return config
    }
}

// MARK: - Per-source settings before defaults are merged

/// Settings as written at one level (`defaults` or one source): nil means "not written here".
struct SourceSettings {
    var url: String?
    var loop: Bool?
    var network: NetworkSize?
    var precision: Precision?
    var model: String?
    var fps: Double??  // .some(nil): `fps: all`
    var drop: DropPolicy?
    var maxWait: Duration?
    var stallTimeout: Duration?
    var recording = RecordingSettings()
    var json = JSONSettings()
    var masks = MaskSettings()
    var events: [EventRule]?
    /// Where each key was written (`url`, `loop`, `model`, `recording`), so merged-value problems point at it.
    var nodes: [String: Node] = [:]

    struct RecordingSettings {
        var enabled: Bool?
        var format: RecordingFormat?
        var segment: Duration?
        var keepCount: Int??
        var keepAge: Duration??
    }

    struct JSONSettings {
        var enabled: Bool?
        var rotateSize: Int?
        var keep: Int?
    }

    struct MaskSettings {
        var enabled: Bool?
        var every: Int?
        var keepCount: Int?
    }

    /// `self` written over `defaults`: every value set here wins.
    func over(_ defaults: SourceSettings) -> SourceSettings {
        var r = defaults
        r.nodes.merge(nodes) { $1 }
        if let url { r.url = url }
        if let loop { r.loop = loop }
        if let network { r.network = network }
        if let precision { r.precision = precision }
        if let model { r.model = model }
        if let fps { r.fps = fps }
        if let drop { r.drop = drop }
        if let maxWait { r.maxWait = maxWait }
        if let stallTimeout { r.stallTimeout = stallTimeout }
        if let events { r.events = events }
        if let v = recording.enabled { r.recording.enabled = v }
        if let v = recording.format { r.recording.format = v }
        if let v = recording.segment { r.recording.segment = v }
        if let v = recording.keepCount { r.recording.keepCount = v }
        if let v = recording.keepAge { r.recording.keepAge = v }
        if let v = json.enabled { r.json.enabled = v }
        if let v = json.rotateSize { r.json.rotateSize = v }
        if let v = json.keep { r.json.keep = v }
        if let v = masks.enabled { r.masks.enabled = v }
        if let v = masks.every { r.masks.every = v }
        if let v = masks.keepCount { r.masks.keepCount = v }
        return r
    }
}

// MARK: - The parser

struct ConfigParser {
    /// Named in problems: the config file, or `--source` while command-line sources are read.
    var file: String
    let baseDirectory: String
    let environment: [String: String]
    let fileExists: (String) -> Bool
    private(set) var problems: [ConfigProblem] = []
    /// The source being read (nil: top level or `defaults`); every problem is about it.
    private var context: String?

    static let topLevelKeys = ["state_dir", "backoff", "defaults", "sources", "mqtt", "http"]
    static let sourceKeys = ["url", "loop", "size", "scale", "precision", "model", "fps", "drop", "max_wait", "stall_timeout",
                             "outputs", "events"]
    static let outputKeys = ["recording", "json", "masks"]
    static let recordingKeys = ["enabled", "format", "segment", "keep_count", "keep_age"]
    static let jsonKeys = ["enabled", "rotate_size", "keep"]
    static let maskKeys = ["enabled", "every", "keep_count"]
    static let backoffKeys = ["initial", "cap", "stable_reset", "max_retries"]
    static let mqttKeys = ["host", "port", "client_id", "topic_prefix", "username", "password", "keepalive", "qos",
                           "summary_interval", "queue_size"]
    static let eventRuleKeys = ["name", "class", "region", "enter", "leave"]
    static let thresholdKeys = ["fraction", "frames"]

    init(file: String, baseDirectory: String, environment: [String: String], fileExists: @escaping (String) -> Bool) {
        self.file = file
        self.baseDirectory = baseDirectory
        self.environment = environment
        self.fileExists = fileExists
    }

    mutating func problem(_ node: Node?, _ message: String) {
        problems.append(ConfigProblem(file: file, line: node?.mark?.line, source: context, message: message))
    }

    mutating func run(yaml: String?, commandLineSources: [String], stateDirectory: String?) -> ServeConfig? {
        var root: Node.Mapping?
        if let yaml {
            do {
                switch try Yams.compose(yaml: yaml) {
                case .mapping(let mapping)?: root = mapping
                case nil: problem(nil, "the file is empty")
                case let node?: problem(node, "expected a mapping of settings (state_dir, backoff, defaults, sources)")
                }
            } catch {
                problems.append(yamlProblem(error))
                return nil
            }
        }

        var top: [String: (key: Node, value: Node)] = [:]
        for (key, value) in root ?? Node.Mapping([]) {
            guard let name = key.scalar?.string else {
                problem(key, "keys must be plain names")
                continue
            }
            guard Self.topLevelKeys.contains(name) else {
                problem(key, unknownKey(name, allowed: Self.topLevelKeys))
                continue
            }
            top[name] = (key, value)
        }

        // state_dir: --state-dir, else the file's, else systemd's $STATE_DIRECTORY, else the default.
        var stateDir = environment["STATE_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) }
            ?? ServeConfig.defaultStateDirectory
        if let (_, value) = top["state_dir"], let path = string(value, "state_dir") {
            if path.hasPrefix("/") { stateDir = path } else { problem(value, "state_dir: must be an absolute path, got \"\(path)\"") }
        }
        if let stateDirectory {
            stateDir = stateDirectory.hasPrefix("/")
                ? stateDirectory
                : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(stateDirectory)
        }

        let backoff = top["backoff"].map { readBackoff($0.value) } ?? BackoffSettings()
        let mqtt = top["mqtt"].flatMap { readMQTT($0.value) }

        // http: HOST:PORT or off (docs/http.md); absent: loopback, the default port.
        var http: HTTPListen? = .default
        if let (_, value) = top["http"], let text = string(value, "http") {
            switch HTTPListen.parse(text) {
            case .success(let listen): http = listen
            case .failure(let error): problem(value, "http: \(error.description)")
            }
        }

        var defaults = SourceSettings()
        if let (key, value) = top["defaults"] {
            if case .mapping(let mapping) = value {
                defaults = readSettings(mapping, prefix: "defaults.", allowURL: false)
            } else if value.null == nil {
                problem(key, "defaults: expected a mapping of source settings")
            }
        }

        var sources: [SourceConfig] = []
        var names = Set<String>()
        if let (key, value) = top["sources"] {
            switch value {
            case .mapping(let mapping):
                for (nameNode, sourceNode) in mapping {
                    guard let name = nameNode.scalar?.string else {
                        problem(nameNode, "sources: a source name must be a plain name")
                        continue
                    }
                    context = name
                    defer { context = nil }
                    guard checkName(name, at: nameNode) else { continue }
                    names.insert(name)
                    var settings = SourceSettings()
                    var hasURLKey = true
                    switch sourceNode {
                    case .mapping(let m):
                        settings = readSettings(m, prefix: "", allowURL: true)
                        hasURLKey = m.contains { $0.key.scalar?.string == "url" }
                    case .scalar:  // `front: rtsp://…` is short for `front: {url: rtsp://…}`
                        settings.url = string(sourceNode, "url")
                        settings.nodes["url"] = sourceNode
                    default:
                        problem(sourceNode, "expected a URL or a mapping of settings with a url")
                        continue
                    }
                    guard settings.url != nil else {
                        if !hasURLKey { problem(nameNode, "url: missing (every source needs a url)") }
                        continue
                    }
                    if let source = resolve(name: name, settings.over(defaults), at: nameNode, base: baseDirectory) {
                        sources.append(source)
                    }
                }
            default:
                if value.null == nil || commandLineSources.isEmpty {
                    problem(key, "sources: expected a mapping of NAME: {url: …}")
                }
            }
        }

        // --source NAME=URL: the file's defaults apply; relative paths are relative to the working directory.
        let fileName = file
        file = "--source"
        let cwd = FileManager.default.currentDirectoryPath
        for argument in commandLineSources {
            context = nil
            let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                problem(nil, "\"\(Redaction.redactURLs(in: argument))\": expected NAME=URL")
                continue
            }
            let name = String(parts[0])
            context = name
            guard checkName(name, at: nil) else { continue }
            guard !names.contains(name) else {
                problem(nil, "a source named \(name) is already defined")
                continue
            }
            names.insert(name)
            var settings = SourceSettings()
            settings.url = String(parts[1])
            if let source = resolve(name: name, settings.over(defaults), at: nil, base: cwd) {
                sources.append(source)
            }
        }
        context = nil
        file = fileName

        if sources.isEmpty && problems.isEmpty {
            problem(top["sources"]?.key, "no sources: add some under \"sources:\" or pass --source NAME=URL")
        }
        if mqtt == nil, let events = sources.first(where: { !$0.events.isEmpty }) {
            problem(nil, "source \(events.name) has events but there is no mqtt section to publish them to")
        }
        guard problems.isEmpty else { return nil }
        var config = ServeConfig(stateDirectory: stateDir, backoff: backoff, sources: sources)
        config.mqtt = mqtt
        config.http = http
        return config
    }

    private func yamlProblem(_ error: Error) -> ConfigProblem {
        var line: Int?
        var message = "not valid YAML"
        if let yaml = error as? YamlError {
            switch yaml {
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
                 .composer(let context, let problem, let mark, _):
                line = mark.line
                message = "not valid YAML: " + [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }
                    .joined(separator: " ")
            case .duplicatedKeysInMapping(let duplicates, let context):
                line = context.mark.line
                message = "duplicate key \"\(duplicates.first ?? "")\" (each key, and each source name, at most once)"
            case .reader(let problem, _, _, _):
                message = "not valid YAML: \(problem)"
            default:
                break
            }
        }
        return ConfigProblem(file: file, line: line, source: nil, message: message)
    }

    private mutating func checkName(_ name: String, at node: Node?) -> Bool {
        let valid = !name.isEmpty && name.count <= 64 && name.unicodeScalars.allSatisfy {
            $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_")
        }
        if !valid {
            problem(node, "the name must be 1 to 64 letters, digits, \"-\" or \"_\" (it names a folder and a metric label)")
        }
        return valid
    }

    // MARK: Sections

    private mutating func readBackoff(_ node: Node) -> BackoffSettings {
        var settings = BackoffSettings()
        guard case .mapping(let mapping) = node else {
            problem(node, "backoff: expected a mapping (initial, cap, stable_reset, max_retries)")
            return settings
        }
        var capNode: Node?
        for (key, value) in mapping {
            guard let name = key.scalar?.string, Self.backoffKeys.contains(name) else {
                problem(key, unknownKey("backoff." + (key.scalar?.string ?? "?"), allowed: Self.backoffKeys))
                continue
            }
            let path = "backoff.\(name)"
            switch name {
            case "initial": if let d = duration(value, path) { settings.initial = d }
            case "cap": if let d = duration(value, path) { settings.cap = d; capNode = value }
            case "stable_reset": if let d = duration(value, path) { settings.stableReset = d }
            case "max_retries":
                if string(value, path) == "forever" {
                    settings.maxRetries = nil
                } else if let n = integer(value, path, minimum: 0, hint: "a count, or \"forever\"") {
                    settings.maxRetries = n
                }
            default: break
            }
        }
        if settings.initial > settings.cap {
            problem(capNode ?? node, "backoff.cap: must be at least backoff.initial (\(format(settings.initial)))")
        }
        return settings
    }

    private mutating func readSettings(_ mapping: Node.Mapping, prefix: String, allowURL: Bool) -> SourceSettings {
        var s = SourceSettings()
        var sizeNode: Node?, scaleNode: Node?
        for (key, value) in mapping {
            guard let name = key.scalar?.string, Self.sourceKeys.contains(name), allowURL || name != "url" else {
                let name = key.scalar?.string ?? "?"
                if name == "url" {
                    problem(key, "defaults.url: a url belongs to each source, not to defaults")
                } else {
                    problem(key, unknownKey(prefix + name, allowed: Self.sourceKeys.filter { allowURL || $0 != "url" }))
                }
                continue
            }
            let path = prefix + name
            s.nodes[name] = value
            switch name {
            case "url": s.url = string(value, path)
            case "loop": s.loop = bool(value, path)
            case "size":
                sizeNode = key
                if let text = string(value, path) {
                    let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
                    if parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), (32...8192).contains(w),
                       (32...8192).contains(h) {
                        s.network = .size(width: w, height: h)
                    } else {
                        problem(value, "\(path): expected WIDTHxHEIGHT, each 32 to 8192 (e.g. 1024x512), got \"\(text)\"")
                    }
                }
            case "scale":
                scaleNode = key
                if let x = number(value, path, hint: "a factor above 0, at most 4 (e.g. 0.5)"), x > 0, x <= 4 {
                    s.network = .scale(x)
                } else if value.scalar != nil, number(value, path, quiet: true) != nil {
                    problem(value, "\(path): must be above 0 and at most 4, got \(value.scalar!.string)")
                }
            case "precision": s.precision = choice(value, path)
            case "model": s.model = string(value, path)
            case "fps":
                if string(value, path, quiet: true) == "all" {
                    s.fps = .some(nil)
                } else if let x = number(value, path, hint: "frames per second above 0, or \"all\""), x > 0, x <= 240 {
                    s.fps = x
                } else if value.scalar != nil, number(value, path, quiet: true) != nil {
                    problem(value, "\(path): must be above 0 and at most 240 (or \"all\"), got \(value.scalar!.string)")
                }
            case "drop": s.drop = choice(value, path)
            case "max_wait":
                if let text = string(value, path) {
                    if let d = Self.parseDuration(text), d <= .seconds(10) {
                        s.maxWait = d
                    } else {
                        problem(value, "\(path): expected a duration from 0 to 10s such as 0, 500ms or 1s, got \"\(text)\"")
                    }
                }
            case "stall_timeout":
                if let d = duration(value, path) { s.stallTimeout = d }
            case "outputs": readOutputs(value, prefix: path + ".", into: &s)
            case "events": s.events = readEventRules(value, path: path)
            default: break
            }
        }
        if let sizeNode, scaleNode != nil {
            problem(sizeNode, "\(prefix)size and \(prefix)scale: give one or the other, not both")
        }
        return s
    }

    private mutating func readOutputs(_ node: Node, prefix: String, into s: inout SourceSettings) {
        guard case .mapping(let mapping) = node else {
            problem(node, "\(prefix.dropLast()): expected a mapping (recording, json, masks)")
            return
        }
        for (key, value) in mapping {
            guard let name = key.scalar?.string, Self.outputKeys.contains(name) else {
                problem(key, unknownKey(prefix + (key.scalar?.string ?? "?"), allowed: Self.outputKeys))
                continue
            }
            let allowed = name == "recording" ? Self.recordingKeys : name == "json" ? Self.jsonKeys : Self.maskKeys
            guard case .mapping(let fields) = value else {
                problem(value, "\(prefix)\(name): expected a mapping (\(allowed.joined(separator: ", ")))")
                continue
            }
            for (fieldKey, field) in fields {
                let fieldName = fieldKey.scalar?.string ?? "?"
                let path = "\(prefix)\(name).\(fieldName)"
                guard allowed.contains(fieldName) else {
                    problem(fieldKey, unknownKey(path, allowed: allowed))
                    continue
                }
                switch (name, fieldName) {
                case ("recording", "enabled"): s.recording.enabled = bool(field, path)
                case ("recording", "format"): s.recording.format = choice(field, path)
                case ("recording", "segment"):
                    if let d = duration(field, path) {
                        if d < .seconds(1) || d > .seconds(86_400) {
                            problem(field, "\(path): must be between 1s and 24h, got \(format(d))")
                        } else {
                            s.recording.segment = d
                        }
                    }
                case ("recording", "keep_count"):
                    if isNone(field) { s.recording.keepCount = .some(nil) } else if let n = integer(field, path, minimum: 1, hint: "a count of segments, or none") { s.recording.keepCount = n }
                case ("recording", "keep_age"):
                    if isNone(field) { s.recording.keepAge = .some(nil) } else if let d = duration(field, path) { s.recording.keepAge = d }
                case ("json", "enabled"): s.json.enabled = bool(field, path)
                case ("json", "rotate_size"): s.json.rotateSize = byteSize(field, path)
                case ("json", "keep"): s.json.keep = integer(field, path, minimum: 1, hint: "a count of rotated files")
                case ("masks", "enabled"): s.masks.enabled = bool(field, path)
                case ("masks", "every"): s.masks.every = integer(field, path, minimum: 1, hint: "a count of frames")
                case ("masks", "keep_count"): s.masks.keepCount = integer(field, path, minimum: 1, hint: "a count of mask files")
                default: break
                }
            }
        }
    }

    /// The merged settings of one source, checked as a whole.
    private mutating func resolve(name: String, _ s: SourceSettings, at node: Node?, base: String) -> SourceConfig? {
        guard let rawURL = s.url else { return nil }
        let before = problems.count
        func at(_ key: String) -> Node? { s.nodes[key] ?? node }
        guard let (url, kind) = classify(rawURL, at: at("url"), base: base) else { return nil }
        var source = SourceConfig(name: name, url: url, kind: kind)
        if let loop = s.loop {
            if loop && kind != .file {
                problem(at("loop"), "loop: only files can loop; \(Redaction.redact(url: url)) is a live \(kind.rawValue) source")
            }
            source.loop = loop
        }
        if let network = s.network { source.network = network }
        source.precision = s.precision
        if let model = s.model {
            let path = absolute(model, base: base)
            if !fileExists(path) { problem(at("model"), "model: no such file: \(path)") }
            source.model = path
        }
        if let fps = s.fps { source.fps = fps }
        if let drop = s.drop { source.drop = drop }
        if let maxWait = s.maxWait { source.maxWait = maxWait }
        if let stall = s.stallTimeout { source.stallTimeout = stall }
        if s.recording.enabled == false {
            source.recording = nil
        } else {
            var r = RecordingOutput()
            if let v = s.recording.format { r.format = v }
            if let v = s.recording.segment { r.segment = v }
            if let v = s.recording.keepCount { r.keepCount = v }
            if let v = s.recording.keepAge { r.keepAge = v }
            if r.keepCount == nil && r.keepAge == nil {
                problem(at("outputs"), "outputs.recording: keep_count and keep_age cannot both be none (the disk would fill up)")
            }
            source.recording = r
        }
        if s.json.enabled == false {
            source.jsonLines = nil
        } else {
            var j = JSONLinesOutput()
            if let v = s.json.rotateSize { j.rotateSize = v }
            if let v = s.json.keep { j.keep = v }
            source.jsonLines = j
        }
        source.events = s.events ?? []
        if s.masks.enabled == true {
            var m = MaskOutput()
            if let v = s.masks.every { m.every = v }
            if let v = s.masks.keepCount { m.keepCount = v }
            source.masks = m
        }
        return problems.count == before ? source : nil
    }

    /// The source URL's kind, and the URL with a relative file path made absolute.
    private mutating func classify(_ raw: String, at node: Node?, base: String) -> (String, SourceKind)? {
        let shown = Redaction.redact(url: raw)
        if raw.hasPrefix("/dev/") {
            let number = raw.dropFirst("/dev/video".count)
            guard raw.hasPrefix("/dev/video"), !number.isEmpty, number.allSatisfy(\.isNumber) else {
                problem(node, "url: \(shown): only V4L2 devices /dev/videoN can be read from /dev")
                return nil
            }
            return (raw, .device)
        }
        guard let separator = raw.range(of: "://") else {
            let path = absolute(raw, base: base)
            if !fileExists(path) { problem(node, "url: no such file: \(path)") }
            return (path, .file)
        }
        let scheme = raw[..<separator.lowerBound].lowercased()
        if scheme == "file" {
            let path = String(raw[separator.upperBound...])
            guard path.hasPrefix("/") else {
                problem(node, "url: \(shown): a file:// URL needs an absolute path")
                return nil
            }
            if !fileExists(path) { problem(node, "url: no such file: \(path)") }
            return (path, .file)
        }
        let kinds: [String: SourceKind] = ["rtsp": .rtsp, "rtsps": .rtsp, "http": .http, "https": .http,
                                           "udp": .udp, "tcp": .tcp]
        guard let kind = kinds[scheme] else {
            problem(node, "url: \(shown): unsupported scheme \"\(scheme)\" (rtsp, rtsps, http, https, udp, tcp, a file or /dev/videoN)")
            return nil
        }
        // Host and port, from the authority after any userinfo (see Redaction for how it is found).
        let afterScheme = raw[separator.upperBound...]
        let queryStart = afterScheme.firstIndex { $0 == "?" || $0 == "#" } ?? afterScheme.endIndex
        var authorityStart = afterScheme.startIndex
        if let at = afterScheme[..<queryStart].lastIndex(of: "@") { authorityStart = afterScheme.index(after: at) }
        let authority = afterScheme[authorityStart...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let (host, port) = splitHostPort(authority)
        switch kind {
        case .rtsp, .http:
            if host.isEmpty { problem(node, "url: \(shown): no host"); return nil }
        case .udp, .tcp:
            if port == nil { problem(node, "url: \(shown): \(scheme) needs a port (\(scheme)://HOST:PORT)"); return nil }
        default: break
        }
        if let port, !(port.allSatisfy(\.isNumber) && (Int(port) ?? 0) >= 1 && (Int(port) ?? 0) <= 65535) {
            problem(node, "url: \(shown): the port must be 1 to 65535")
            return nil
        }
        return (raw, kind)
    }

    private func splitHostPort(_ authority: Substring) -> (host: Substring, port: Substring?) {
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {  // [IPv6]:port
            let host = authority[authority.index(after: authority.startIndex)..<close]
            let rest = authority[authority.index(after: close)...]
            return (host, rest.hasPrefix(":") ? rest.dropFirst() : nil)
        }
        if let colon = authority.lastIndex(of: ":") {
            return (authority[..<colon], authority[authority.index(after: colon)...])
        }
        return (authority, nil)
    }

    private func absolute(_ path: String, base: String) -> String {
        let joined = path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
        return (joined as NSString).standardizingPath
    }

    // MARK: Scalars

    /// The scalar's text with `${NAME}` substituted; nil (and a problem) when it is not a scalar or cannot be
    /// interpolated.
    mutating func string(_ node: Node, _ path: String, quiet: Bool = false) -> String? {
        guard case .scalar(let scalar) = node else {
            if !quiet { problem(node, "\(path): expected a single value, not a list or mapping") }
            return nil
        }
        let (value, failures) = Interpolation.expand(scalar.string, environment: environment)
        if !quiet { for failure in failures { problem(node, "\(path): \(failure)") } }
        return failures.isEmpty ? value : nil
    }

    func isNone(_ node: Node) -> Bool {
        node.null != nil || node.scalar?.string == "none"
    }

    mutating func bool(_ node: Node, _ path: String) -> Bool? {
        guard let text = string(node, path) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            problem(node, "\(path): expected true or false, got \"\(text)\"")
            return nil
        }
    }

    mutating func number(_ node: Node, _ path: String, hint: String = "", quiet: Bool = false) -> Double? {
        guard let text = string(node, path, quiet: quiet) else { return nil }
        guard let value = Double(text), value.isFinite else {
            if !quiet { problem(node, "\(path): expected \(hint), got \"\(text)\"") }
            return nil
        }
        return value
    }

    mutating func integer(_ node: Node, _ path: String, minimum: Int, hint: String) -> Int? {
        guard let text = string(node, path) else { return nil }
        guard let value = Int(text), value >= minimum else {
            problem(node, "\(path): expected \(hint) (an integer, at least \(minimum)), got \"\(text)\"")
            return nil
        }
        return value
    }

    private mutating func choice<T: RawRepresentable & CaseIterable>(_ node: Node, _ path: String) -> T?
    where T.RawValue == String {
        guard let text = string(node, path) else { return nil }
        if let value = T(rawValue: text.lowercased()) { return value }
        problem(node, "\(path): must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
        return nil
    }

    /// `500ms`, `1.5s`, `5m`, `2h`, `1d`, or a bare number of seconds; above zero.
    mutating func duration(_ node: Node, _ path: String) -> Duration? {
        guard let text = string(node, path) else { return nil }
        guard let value = Self.parseDuration(text), value > .zero else {
            problem(node, "\(path): expected a duration above zero such as 500ms, 1s, 5m, 2h or 1d, got \"\(text)\"")
            return nil
        }
        return value
    }

    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (suffix, seconds) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            // "5m" must not be read as "5" + "m" of "ms": the loop tries "ms" first, and Double("5m") is nil.
            if let x = Double(number), x.isFinite, x >= 0 { return .milliseconds(Int64((x * seconds * 1000).rounded())) }
        }
        if let x = Double(trimmed), x.isFinite, x >= 0 { return .milliseconds(Int64((x * 1000).rounded())) }
        return nil
    }

    /// `64MiB`, `100MB`, `1GiB`, `4096` (bytes); at least 4 KiB.
    private mutating func byteSize(_ node: Node, _ path: String) -> Int? {
        guard let text = string(node, path) else { return nil }
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1000),
                                      ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1)]
        var bytes: Int?
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let n = Double(text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), n.isFinite, n >= 0,
               n * Double(factor) < 9e18 {
                bytes = Int(n * Double(factor))
            }
            break
        }
        if bytes == nil, let n = Int(text) { bytes = n }
        guard let bytes, bytes >= 4096 else {
            problem(node, "\(path): expected a size of at least 4KiB such as 64MiB or 100MB, got \"\(text)\"")
            return nil
        }
        return bytes
    }

    func unknownKey(_ path: String, allowed: [String]) -> String {
        let name = path.split(separator: ".").last.map(String.init) ?? path
        var message = "unknown key \"\(path)\""
        if let close = allowed.min(by: { editDistance($0, name) < editDistance($1, name) }),
           editDistance(close, name) <= 2 {
            message += " (did you mean \"\(close)\"?)"
        } else {
            message += " (expected one of: \(allowed.joined(separator: ", ")))"
        }
        return message
    }

    private func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}

/// `90s` → "1m30s"-style text for messages: the shortest exact unit.
func format(_ duration: Duration) -> String {
    let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    if ms % 86_400_000 == 0 { return "\(ms / 86_400_000)d" }
    if ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
    if ms % 60_000 == 0 { return "\(ms / 60_000)m" }
    if ms % 1000 == 0 { return "\(ms / 1000)s" }
    return "\(ms)ms"
}
