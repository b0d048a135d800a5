import ArgumentParser
import Foundation
import SegServe

/// `segstream serve`: the daemon for many live camera streams (issue #12, docs/serve.md).
///
/// What works now: `--check-config`. The daemon itself needs the reusable stream pipeline (SegPipeline, being
/// rewritten); see ``runDaemon(_:)``, the one place to wire it up.
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

    func validate() throws {
        if checkConfig != nil && config != nil {
            throw ValidationError("--check-config takes the file to check; leave out --config")
        }
    }

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
            let config = try ServeConfig.load(file: file, commandLineSources: sources, stateDirectory: stateDir)
            let names = config.sources.map { "\($0.name) (\($0.kind.rawValue))" }.joined(separator: ", ")
            print("\(file): ok, \(config.sources.count) source\(config.sources.count == 1 ? "" : "s"): \(names)")
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(SysExit.config.rawValue)
        }
    }
}

// ─────────────────────────────────────────────────────────────────────────────────────────────────────────────────
// DAEMON MODE: NOT WIRED YET. This is the one place `segstream serve` without --check-config ends up. It lands with
// the stream pipeline (SegPipeline rewrite): load the config (ServeConfig.load / fromCommandLine; exit 78 printing
// every problem, as --check-config does), LoggingSystem.bootstrap(JournalLogHandler.standardError), then a loop
// that ticks a ServeSupervisor about once a second and opens/closes one pipeline per source as its SourceCommands
// say (reporting connected / frameDecoded / failed / endOfStream back, each frame gated by FramePacer), a
// WatchdogPinger whose predicate is ServeSupervisor.isProgressing, and SystemdNotifier: READY=1 + STATUS=
// (statusLine) once started, RELOADING=1 → ServeSupervisor.reload → READY=1 on SIGHUP, STOPPING=1 + stopAll on
// SIGTERM. docs/serve.md describes the behaviour. Until then: one line, exit 69.
// ─────────────────────────────────────────────────────────────────────────────────────────────────────────────────
func runDaemon(_ command: Serve) throws {
    FileHandle.standardError.write(Data(
        "segstream: serve: the daemon mode lands with the stream pipeline (issue #12); for now only `segstream serve --check-config FILE` works\n".utf8))
    throw ExitCode(SysExit.unavailable.rawValue)
}
