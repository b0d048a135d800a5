import ArgumentParser
import Foundation
import Logging
import SegServe
import SegServeHTTP
import SFNet

/// `segstream serve`: the daemon for many live camera streams (issue #12, docs/serve.md).
///
/// Without `--check-config` it runs the daemon (``runDaemon(_:)``, `ServeDaemon` in SegServe).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment many live streams as a systemd service (Type=notify), reconnecting each on failure.",
        discussion: """
            Sources come from --config (YAML, docs/serve.md; default \(ServeConfig.defaultConfigPath)) and \
            --source NAME=URL (repeatable; no config file needed then). --check-config FILE validates a \
            configuration without starting anything: one line per problem (FILE:LINE: source NAME: problem) on \
            stderr, exit 0 when it is valid, 78 when not.
            """)

    @Option(name: .long, help: "Configuration file (YAML). Default: \(ServeConfig.defaultConfigPath), unless --source is given.")
    var config: String?

    @Option(name: .customLong("check-config"), help: ArgumentHelp("Validate FILE (with any --source), print one line per problem, exit 0 or 78.", valueName: "FILE"))
    var checkConfig: String?

    @Option(name: .customLong("source"), help: ArgumentHelp("A source as NAME=URL (repeatable); takes the file's defaults.", valueName: "NAME=URL"))
    var sources: [String] = []

    @Option(name: .customLong("state-dir"), help: "Output folder (overrides the file's state_dir; default $STATE_DIRECTORY or /var/lib/segstream).")
    var stateDir: String?

    @Option(name: .long, help: ArgumentHelp("Serve only the sources that rendezvous hashing of their names gives to shard K of N (1 ≤ K ≤ N; docs/scaling.md).", valueName: "K/N"))
    var shard: String?

    @Option(name: .customLong("http"), help: ArgumentHelp("Where /metrics, the API and the status page listen (overrides the file's http:; default \(HTTPListen.default)); off: none.", valueName: "ADDR:PORT|off"))
    var http: String?

    func validate() throws {
        if checkConfig != nil && config != nil {
            throw ValidationError("--check-config takes the file to check; leave out --config")
        }
        if let shard, Shard(parsing: shard) == nil {
            throw ValidationError("--shard: expected K/N with 1 ≤ K ≤ N ≤ 1000 (e.g. 2/3), got \"\(shard)\"")
        }
        if let http, case .failure(let error) = HTTPListen.parse(http) {
            throw ValidationError("--http: \(error.description)")
        }
    }

    /// `--http`, parsed (validated above): nil when not given.
    var httpOverride: HTTPListen?? {
        http.map { try! HTTPListen.parse($0).get() }
    }

    /// `--shard K/N`, validated by ``validate()``.
    var parsedShard: Shard? { shard.flatMap(Shard.init(parsing:)) }

    func run() throws {
        if let checkConfig {
            try check(file: checkConfig)
            return
        }
        try runDaemon(self)
    }

    /// `--check-config FILE`: every problem on its own line on stderr (exit 78), or one summary line on stdout.
    func check(file: String) throws {
        do {
            var config = try ServeConfig.load(file: file, commandLineSources: sources, stateDirectory: stateDir)
            var scope = ""
            if let shard = parsedShard {
                scope = "shard \(shard) takes \(config.sharded(shard).sources.count) of \(config.sources.count): "
                config = config.sharded(shard)
            }
            let names = config.sources.map { "\($0.name) (\($0.kind.rawValue))" }.joined(separator: ", ")
            print("\(file): ok, \(scope)\(config.sources.count) source\(config.sources.count == 1 ? "" : "s")\(names.isEmpty ? "" : ": " + names)")
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(SysExit.config.rawValue)
        }
    }
}

/// The daemon (docs/serve.md, "How it runs"): the configuration (exit 78 with every problem), journald-aware
/// logging, the models loaded once each, then `ServeDaemon.run()` until SIGTERM; exit 0 once every output is closed.
func runDaemon(_ command: Serve) throws {
    let load: ServeDaemon.ConfigLoader = {
        var config: ServeConfig
        if command.config == nil && !command.sources.isEmpty {
            config = try ServeConfig.fromCommandLine(sources: command.sources, stateDirectory: command.stateDir)
        } else {
            config = try ServeConfig.load(file: command.config ?? ServeConfig.defaultConfigPath,
                                          commandLineSources: command.sources, stateDirectory: command.stateDir)
        }
        if let shard = command.parsedShard { config = config.sharded(shard) }
        if let http = command.httpOverride { config.http = http }
        return config
    }
    let config: ServeConfig
    do {
        config = try load()
    } catch {
        FileHandle.standardError.write(Data((error.description + "\n").utf8))
        throw ExitCode(SysExit.config.rawValue)
    }
    LoggingSystem.bootstrap { JournalLogHandler.standardError(label: $0) }
    let logger = Logger(label: "segstream")
    let tuning = AllocatorTuning.applyForLongRunningDaemon(environment: ProcessInfo.processInfo.environment)
    if !tuning.isEmpty { logger.debug("malloc: \(tuning.joined(separator: ", "))") }
    // HTTP first (docs/http.md): a port already taken fails at once, before the models are loaded.
    let server: StatusServer? = try config.http.map { listen in
        let http = StatusServer(version: SegStream.configuration.version, logger: logger)
        do {
            let port = try http.start(listen)
            logger.info("http: listening on \(HTTPListen(host: listen.host, port: port))")
        } catch {
            FileHandle.standardError.write(Data("segstream: \(error)\n".utf8))
            throw ExitCode(SysExit.unavailable.rawValue)
        }
        return http
    }
    // Every source's session fans out to the one process-wide pool (every core), taking turns per forward pass.
    let loadModel: ModelCache.Loader = { path, precision in
        try loadSegmentationModel(contentsOf: URL(fileURLWithPath: path), precision: precision)
    }
    let models = ModelCache(defaultPath: Serve.defaultModelPath(), loader: server?.metrics.timing(loadModel) ?? loadModel)
    let daemon: ServeDaemon
    do {
        if let server {
            daemon = try ServeDaemon(config: config, models: models, reload: load, logger: logger,
                                     metrics: server.metrics.factory, snapshots: true)
        } else {
            daemon = try ServeDaemon(config: config, models: models, reload: load, logger: logger)
        }
    } catch {
        // A model that cannot be loaded will not load on a restart either: a configuration error (no restart loop).
        logger.critical("\(error)")
        throw ExitCode(SysExit.config.rawValue)
    }
    server?.attach(daemon)
    daemon.installSignalHandlers()
    let clean = daemon.run()
    server?.stop()
    if !clean { throw ExitCode(SysExit.software.rawValue) }
}

extension Serve {
    /// The model of sources without `model:`: `$SEGSTREAM_MODEL`, else the bundled int8 model.
    static func defaultModelPath() -> String? {
        if let env = ProcessInfo.processInfo.environment["SEGSTREAM_MODEL"], !env.isEmpty { return env }
        return BundledFile.locate("models/\(ModelOptions.bundledInt8)")
    }
}
