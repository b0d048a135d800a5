import CoreMetrics
import Dispatch
import Foundation
import Logging
import SegPipeline

/// `segstream serve`'s daemon: one process, many live sources, one shared model per model file.
///
/// Threads (docs/serve.md, "How it runs"):
/// - **the loop** (the caller of ``run()``): owns the ``ServeSupervisor`` and every ``SourceRunner``. It wakes on
///   each source event and signal, and ticks about once a second: frames decoded since the last tick feed each
///   source's watchdog, stalls become disconnects, elapsed backoffs become connects, rates become `STATUS=`.
/// - **one thread per connection** (``SourceRunner``), plus the five stage threads of its `StreamPipeline` run
///   while it is connected. A failure ends that connection only; the loop backs the source off and reconnects it.
/// - **the systemd watchdog** (when `WATCHDOG_USEC` is set): pings at half the interval while the loop's latest
///   snapshot says it makes progress (``ServeSupervisor/isProgressing(at:tickTimeout:)``).
/// - signals arrive on Dispatch sources and are handed to the loop.
///
/// Shaped like a swift-service-lifecycle `Service`: ``run()`` blocks until a graceful shutdown (SIGTERM/SIGINT, or
/// ``requestShutdown()``), which stops intake, lets the frames in flight finish, closes every segment and returns.
///
/// `@unchecked Sendable`: its `var`s belong to the loop thread alone; other threads (connections, signal handlers,
/// ``requestShutdown()``) reach it only through `inbox` (locked), `snapshot` (locked) and the `wake` semaphore.
public final class ServeDaemon: @unchecked Sendable {
    public typealias ConfigLoader = () throws(ConfigError) -> ServeConfig

    private var config: ServeConfig
    private let reloadConfig: ConfigLoader
    private let models: ModelCache
    private let notifier: SystemdNotifier
    private var logger: Logger
    private var supervisor: ServeSupervisor
    private var runners: [String: SourceRunner] = [:]
    /// Runners removed or replaced by a reload whose last connection is still closing.
    private var retiring: [SourceRunner] = []
    private var generation = 0
    private var rng = SystemRandomNumberGenerator()
    private var limiter = LogRateLimiter()
    /// Per source: the last decoded-frame instant given to the supervisor, and the processed count of the last tick.
    private var reportedFrame: [String: MonotonicInstant] = [:]
    private var lastCounts: [String: (count: Int, at: MonotonicInstant)] = [:]
    private var lastStatus = ""

    private let wake = DispatchSemaphore(value: 0)
    private let inbox = Locked(Inbox())
    private let snapshot: Locked<ServeSupervisor>
    private var signalSources: [any DispatchSourceSignal] = []
    /// The `mqtt:` client (docs/mqtt.md), set up once at start: a reload keeps it as it is.
    private let mqtt: MQTTPublisher?

    // What other threads read through ``status()`` (docs/http.md).
    private let metrics: any MetricsFactory
    private let liveCounts = LiveCounts()
    private let pipelineMetrics: any MetricsFactory
    private let ready = Locked(false)
    private let extras = Locked<[String: SourceExtras]>([:])
    /// Per source, when `snapshots` is on: the latest annotated frame, for whoever asks.
    private let snapshotStores: Locked<[String: SnapshotStore]>?

    /// What ``status()`` needs beyond the supervisor's snapshot, kept by the loop.
    private struct SourceExtras {
        var redactedURL: String
        var classNames: [String]
        var palette: [[UInt8]]
        var size: (width: Int, height: Int)?
        var progress: Locked<SourceProgress>?
    }

    private struct Inbox {
        var events: [SourceEvent] = []
        var reload = false
        var shutdown = false
    }

    /// How often the loop ticks. This and the two below are set before ``run()``, never during.
    public var tickInterval: Duration = .seconds(1)
    /// How long a shutdown waits for the outputs to close.
    public var drainTimeout: Duration = .seconds(30)
    /// How long the loop may go without a tick before it counts as stuck (the watchdog stops pinging, `/healthz`
    /// says 503); nil: 10 ticks, at least 10 s.
    public var progressTimeout: Duration?
    private var tickTimeout: Duration { progressTimeout ?? max(tickInterval * 10, .seconds(10)) }
    /// How often the loop returns the allocator's free pages to the kernel (``AllocatorTuning/releaseFreeMemory()``).
    public var memoryTrimInterval: Duration = .seconds(60)
    private var lastMemoryTrim = MonotonicClock.now()

    /// Loads every model `config` needs (throws ``ServeError`` when one cannot be loaded) and prepares the sources;
    /// nothing runs before ``run()``.
    ///
    /// `metrics` receives every source pipeline's metrics (`PipelineMetric`, dimension `stream`) and
    /// `segstream_reconnects_total` (dimension `source`); `snapshots` keeps each source's latest annotated frame
    /// for ``snapshot(of:)`` (and renders every frame for it).
    public init(config: ServeConfig, models: ModelCache, reload: @escaping ConfigLoader,
                notifier: SystemdNotifier = SystemdNotifier(), logger: Logger,
                metrics: any MetricsFactory = MetricsSystem.factory, snapshots: Bool = false) throws {
        self.metrics = metrics
        pipelineMetrics = MultiplexMetricsHandler(factories: [metrics, liveCounts])
        snapshotStores = snapshots ? Locked([:]) : nil
        self.config = config
        self.models = models
        reloadConfig = reload
        self.notifier = notifier
        self.logger = logger
        mqtt = config.mqtt.map { MQTTPublisher(settings: $0, shard: config.shard, backoff: config.backoff, logger: logger) }
        try models.loadAll(config)
        let now = MonotonicClock.now()
        supervisor = ServeSupervisor(config: config, now: now)
        snapshot = Locked(supervisor)
        for source in config.sources {
            runners[source.name] = try makeRunner(source, in: config, after: nil)
        }
    }

    /// Asks ``run()`` to stop (as SIGTERM does), from any thread.
    public func requestShutdown() {
        inbox.withLock { $0.shutdown = true }
        wake.signal()
    }

    /// Asks ``run()`` to re-read the configuration (as SIGHUP does), from any thread.
    public func requestReload() {
        inbox.withLock { $0.reload = true }
        wake.signal()
    }

    /// Routes SIGTERM and SIGINT to ``requestShutdown()`` and SIGHUP to ``requestReload()``.
    public func installSignalHandlers() {
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                if sig == SIGHUP { self?.requestReload() } else { self?.requestShutdown() }
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// Starts every source, sends `READY=1`, and serves until a shutdown is requested; then stops every source,
    /// waits for their outputs to close and returns (false when some did not close within ``drainTimeout``).
    @discardableResult
    public func run() -> Bool {
        if let shard = config.shard {
            logger.notice("shard \(shard): taking \(config.sources.count) source\(config.sources.count == 1 ? "" : "s")",
                          metadata: ["sources": "\(config.sources.map(\.name).joined(separator: ","))"])
        }
        if let mqtt {
            for source in config.sources { mqtt.setAvailability(source.name, online: false) }
            mqtt.start()
        }
        execute(supervisor.startCommands)
        logger.info("serving \(config.sources.count) source\(config.sources.count == 1 ? "" : "s")",
                    metadata: ["state_dir": "\(config.stateDirectory)"])
        sendStatus(ready: true)
        ready.withLock { $0 = true }
        let watchdog = startWatchdog()
        var nextTick = MonotonicClock.now()
        while true {
            let now = MonotonicClock.now()
            if now >= nextTick {
                tick(at: now)
                nextTick = now + tickInterval
            }
            let wait = nextTick - MonotonicClock.now()
            _ = wake.wait(timeout: .now() + .nanoseconds(Int(max(Backoff.nanoseconds(wait), 0))))
            // Retired runners idle now posted everything before this drain: their last lines are written below.
            let idle = retiring.filter(\.isIdle).map(ObjectIdentifier.init)
            let (events, reload, shutdown) = inbox.withLock { box in
                defer { box.events.removeAll(); box.reload = false }
                return (box.events, box.reload, box.shutdown)
            }
            for event in events { handle(event) }
            if shutdown { break }
            if reload { self.reload() }
            retiring.removeAll { idle.contains(ObjectIdentifier($0)) }
        }
        watchdog?.cancel()
        ready.withLock { $0 = false }
        let clean = shutDown()
        mqtt?.stop()
        return clean
    }

    // MARK: - The loop's work

    private func tick(at now: MonotonicInstant) {
        for (name, runner) in runners {
            guard let connection = runner.current else { continue }
            if let last = connection.progress.withLock({ $0.lastFrame }), last != reportedFrame[name] {
                reportedFrame[name] = last
                supervisor.frameDecoded(name, at: last)
            }
            let count = runner.processed.withLock { $0 }
            if let previous = lastCounts[name], now > previous.at {
                supervisor.report(rate: Double(count - previous.count) / (now - previous.at).seconds, for: name)
            }
            lastCounts[name] = (count, now)
        }
        let commands = supervisor.tick(at: now, using: &rng)
        for command in commands {
            if case .disconnect(let why) = command.action {
                logFailure(command.name, "stalled: \(why)")
                runners[command.name]?.lines?.event("stalled", ["reason": why])
                mqtt?.setAvailability(command.name, online: false)
            }
        }
        execute(commands)
        snapshot.withLock { $0 = supervisor }
        sendStatus(ready: false)
        if now - lastMemoryTrim >= memoryTrimInterval {
            AllocatorTuning.releaseFreeMemory()
            lastMemoryTrim = now
        }
    }

    private func handle(_ event: SourceEvent) {
        if case .ran = event.kind {
            // A connection's counts come after its outcome, possibly once its successor has started (a looping
            // file reconnects at once): recorded whichever connection of the source it was.
            let owner = runners[event.name]
            if let runner = retiring.first(where: { $0.current?.generation == event.generation }) ?? owner {
                logClosed(runner, event.kind)
            }
            return
        }
        guard let runner = runners[event.name], runner.current?.generation == event.generation else {
            return  // a connection the loop has already replaced
        }
        let now = MonotonicClock.now()
        let name = event.name
        switch event.kind {
        case .connected(let width, let height):
            supervisor.connected(name, at: now)
            extras.withLock { $0[name]?.size = (width, height) }
            logger.info("source \(name): connected", metadata: ["url": "\(runner.source.redactedURL)",
                                                                  "size": "\(width)x\(height)"])
            runner.lines?.event("connected", ["width": width, "height": height])
            mqtt?.setAvailability(name, online: true)
        case .failed(let error):
            runner.lines?.event("disconnected", ["reason": error])
            mqtt?.setAvailability(name, online: false)
            let commands = supervisor.failed(name, error, at: now, using: &rng)
            logFailure(name, error)
            execute(commands)
        case .endOfStream:
            runner.lines?.event("ended")
            logger.info("source \(name): end of file\(runner.source.loop ? ", starting again" : "")")
            if !runner.source.loop { mqtt?.setAvailability(name, online: false) }
            execute(supervisor.endOfStream(name, at: now, using: &rng))
        case .stopped:
            runner.lines?.event("disconnected", ["reason": "stopped"])
        case .ran:
            logClosed(runner, event.kind)
        }
        snapshot.withLock { $0 = supervisor }
    }

    /// A connection's end, with its counts: frames processed, dropped because inference was busy (the only drop
    /// reason: the entrance queue keeps the newest frame), skipped by `fps:` pacing, segments closed.
    private func logClosed(_ runner: SourceRunner, _ kind: SourceEvent.Kind) {
        guard case .ran(let frames, let dropped, let skipped, let segments) = kind else { return }
        logger.info("source \(runner.name): connection closed",
                    metadata: ["frames": "\(frames)", "dropped_busy": "\(dropped)", "skipped_fps": "\(skipped)",
                               "segments": "\(segments)"])
        runner.lines?.event("closed", ["frames": frames, "dropped": ["inference_busy": dropped],
                                       "skipped_fps": skipped, "segments": segments])
    }

    /// Does what the supervisor says: opens or closes connections.
    private func execute(_ commands: [SourceCommand]) {
        for command in commands {
            guard let runner = runners[command.name] else { continue }
            switch command.action {
            case .none: break
            case .connect:
                generation += 1
                reportedFrame[command.name] = nil
                if runner.current != nil {
                    Counter(label: ServeMetric.reconnects, dimensions: [("source", command.name)], factory: metrics).increment()
                }
                runner.connect(generation: generation) { [weak self] event in self?.post(event) }
                let progress = runner.current?.progress
                extras.withLock { $0[command.name]?.progress = progress }
            case .disconnect(let why):
                runner.disconnect()
                if case .backingOff(let until) = supervisor.machines[command.name]?.phase {
                    let delay = (until - MonotonicClock.now()).seconds
                    logger.notice("source \(command.name): reconnecting in \(String(format: "%.1f", max(delay, 0))) s",
                                  metadata: ["reason": "\(why)"])
                } else if case .stopped(let reason) = supervisor.machines[command.name]?.phase, case .gaveUp = reason {
                    logger.error("source \(command.name): giving up after \(config.backoff.maxRetries ?? 0) retries: \(why)")
                }
            }
        }
    }

    private func post(_ event: SourceEvent) {
        inbox.withLock { $0.events.append(event) }
        wake.signal()
    }

    /// SIGHUP: `RELOADING=1`, the new configuration validated and its models loaded, or the old one kept with one
    /// error line; then only the sources that changed are touched; `READY=1`.
    private func reload() {
        _ = try? notifier.reloading()
        ready.withLock { $0 = false }
        defer {
            sendStatus(ready: true)
            ready.withLock { $0 = true }
        }
        let new: ServeConfig
        do {
            new = try reloadConfig()
        } catch {
            logger.error("reload: the new configuration is invalid, keeping the running one: \(error.problems.map(\.description).joined(separator: "; "))")
            return
        }
        do {
            try models.loadAll(new)
        } catch {
            logger.error("reload: keeping the running configuration: \(error)")
            return
        }
        if new.mqtt != config.mqtt {
            logger.warning("reload: changes to the mqtt section take effect at the next start")
        }
        if new.http != config.http {
            logger.notice("reload: http: the new address takes effect at the next restart; still on \(config.http.map { "\($0)" } ?? "off")")
        }
        var changes = config.changes(to: new)
        if changes.global { changes.changed = new.sources.map(\.name).filter { runners[$0] != nil } }
        var fresh: [String: SourceRunner] = [:]
        do {
            for source in new.sources where changes.added.contains(source.name) || changes.changed.contains(source.name) {
                fresh[source.name] = try makeRunner(source, in: new, after: runners[source.name])
            }
        } catch {
            logger.error("reload: keeping the running configuration: \(error)")
            return
        }
        let commands = supervisor.reload(new, at: MonotonicClock.now())
        for name in changes.removed + changes.changed {
            guard let old = runners.removeValue(forKey: name) else { continue }
            old.disconnect()
            old.lines?.event(changes.removed.contains(name) ? "removed" : "restarted", ["reason": "reload"])
            mqtt?.setAvailability(name, online: false)
            retiring.append(old)
            lastCounts[name] = nil
            reportedFrame[name] = nil
            if changes.removed.contains(name) {
                extras.withLock { $0[name] = nil }
                _ = snapshotStores?.withLock { $0.removeValue(forKey: name) }
            }
        }
        runners.merge(fresh) { $1 }
        config = new
        models.prune(keeping: new)
        execute(commands.filter { $0.action == .connect })
        snapshot.withLock { $0 = supervisor }
        logger.notice("reloaded the configuration",
                      metadata: ["added": "\(changes.added)", "removed": "\(changes.removed)", "changed": "\(changes.changed)"])
    }

    /// SIGTERM: `STOPPING=1`, every connection stopped; waits until every output is closed.
    private func shutDown() -> Bool {
        _ = try? notifier.stopping()
        logger.notice("stopping: closing every source")
        _ = supervisor.stopAll(at: MonotonicClock.now())
        let all = Array(runners.values) + retiring
        for runner in all { runner.disconnect() }
        let deadline = DispatchTime.now() + .nanoseconds(Int(Backoff.nanoseconds(drainTimeout)))
        var clean = true
        for runner in all where !runner.waitIdle(until: deadline) {
            logger.error("source \(runner.name): outputs not closed within \(drainTimeout)")
            clean = false
        }
        // The connection threads' last reports (their counts) are logged before exiting.
        for event in inbox.withLock({ box in defer { box.events.removeAll() }; return box.events }) {
            guard case .ran = event.kind else { continue }
            if let runner = all.first(where: { $0.current?.generation == event.generation }) { logClosed(runner, event.kind) }
        }
        for source in signalSources { source.cancel() }
        logger.notice("stopped")
        return clean
    }

    private func makeRunner(_ source: SourceConfig, in config: ServeConfig, after predecessor: SourceRunner?) throws
        -> SourceRunner
    {
        let model = try models.model(for: source)
        let store = snapshotStores?.withLock { stores in
            if let store = stores[source.name] { return store }
            let store = SnapshotStore()
            stores[source.name] = store
            return store
        }
        let runner = try SourceRunner(source: source, directory: config.directory(of: source), model: model,
                                      after: predecessor, logger: logger, mqtt: mqtt, metrics: pipelineMetrics,
                                      snapshots: store)
        extras.withLock {
            $0[source.name] = SourceExtras(redactedURL: source.redactedURL, classNames: model.config.classNames,
                                           palette: model.config.palette, size: $0[source.name]?.size)
        }
        return runner
    }

    // MARK: - What other threads see

    /// Every source's state, counts and timings now, and the daemon's readiness and liveness (any thread).
    public func status() -> DaemonStatus {
        let now = MonotonicClock.now()
        let supervisor = snapshot.withLock { $0 }
        let extras = self.extras.withLock { $0 }
        let tickTimeout = self.tickTimeout
        let sources = supervisor.names.compactMap { name -> SourceStatus? in
            guard let machine = supervisor.machines[name], let extra = extras[name] else { return nil }
            let counts = liveCounts.counts(name)
            let progress = extra.progress?.withLock { $0 }
            let last = progress?.lastFrame ?? machine.lastFrame
            return SourceStatus(
                name: name, redactedURL: extra.redactedURL, state: machine.phase.name, fps: supervisor.rates[name],
                framesDecoded: counts.decoded, framesProcessed: counts.processed, dropped: counts.dropped,
                skipped: progress?.skipped ?? 0, reconnects: machine.reconnects,
                lastFrameAge: last.map { max((now - $0).seconds, 0) }, width: extra.size?.width,
                height: extra.size?.height, latency: counts.latency,
                lastError: machine.lastError.map(Redaction.redactURLs(in:)), classNames: extra.classNames,
                palette: extra.palette)
        }
        return DaemonStatus(ready: ready.withLock { $0 },
                            progressing: supervisor.isProgressing(at: now, tickTimeout: tickTimeout), sources: sources)
    }

    /// The source's latest annotated frame (nil when `snapshots` is off, the source is unknown, or no frame was
    /// kept yet: frames are kept for a few seconds after each request). Any thread.
    public func snapshot(of name: String) -> SnapshotStore.Frame? {
        snapshotStores?.withLock { $0[name] }?.requestFrame()
    }

    private func sendStatus(ready: Bool) {
        let line = supervisor.statusLine
        if ready {
            _ = try? notifier.ready(status: line)
        } else if line != lastStatus {
            _ = try? notifier.notify(.status(line))
        }
        lastStatus = line
    }

    /// A source failure, at most 5 a minute per source.
    private func logFailure(_ name: String, _ error: String) {
        switch limiter.check("\(name)/failed", at: MonotonicClock.now()) {
        case .suppress: break
        case .log(let suppressed):
            let extra = suppressed > 0 ? " (\(suppressed) similar messages suppressed)" : ""
            logger.error("source \(name): \(error)\(extra)")
        }
    }

    /// The systemd watchdog thread, when `WATCHDOG_USEC` asks for one.
    private func startWatchdog() -> WatchdogThread? {
        guard let schedule = WatchdogSchedule(environment: ProcessInfo.processInfo.environment) else { return nil }
        let snapshot = self.snapshot, notifier = self.notifier
        let tickTimeout = self.tickTimeout
        return WatchdogThread(schedule: schedule, ping: { _ = try? notifier.notify(.watchdog) }) {
            snapshot.withLock { $0 }.isProgressing(at: MonotonicClock.now(), tickTimeout: tickTimeout)
        }
    }
}

/// `WATCHDOG=1` on a thread of its own, at half of `WATCHDOG_USEC`, only while `progressing()` holds (the loop's
/// snapshot: a loop that stops ticking stops the pings, and systemd restarts the service).
final class WatchdogThread: @unchecked Sendable {
    private let cancelled = Locked(false)
    private let wake = DispatchSemaphore(value: 0)

    init(schedule: WatchdogSchedule, ping: @escaping @Sendable () -> Void, progressing: @escaping @Sendable () -> Bool) {
        let cancelled = self.cancelled, wake = self.wake
        let thread = Thread {
            var schedule = schedule
            while !cancelled.withLock({ $0 }) {
                let now = MonotonicClock.now()
                let ok = progressing()
                if schedule.shouldPing(at: now, progressing: ok) { ping() }
                let sleep = schedule.sleepTime(at: now, progressing: ok)
                _ = wake.wait(timeout: .now() + .nanoseconds(Int(Backoff.nanoseconds(sleep))))
            }
        }
        thread.name = "segstream.watchdog"
        thread.start()
    }

    func cancel() {
        cancelled.withLock { $0 = true }
        wake.signal()
    }
}
