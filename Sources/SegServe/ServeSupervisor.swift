/// One instruction for the daemon loop: do `action` to the source `name`'s input.
public struct SourceCommand: Sendable, Equatable {
    public var name: String
    public var action: SourceAction
    public init(_ name: String, _ action: SourceAction) {
        self.name = name
        self.action = action
    }
}

/// The state of every source, as the daemon loop sees it: it owns one ``SourceStateMachine`` per source, turns
/// events and time into ``SourceCommand``s, applies reloads, and answers the status line and the watchdog's
/// progress predicate.
///
/// Pipeline-agnostic and pure: the loop (`ServeDaemon`) opens and
/// closes the stream pipeline as the commands say and reports back `connected`, `frameDecoded`, `failed` and
/// `endOfStream`. A failure of one source only ever yields commands for that source.
public struct ServeSupervisor: Sendable {
    public private(set) var config: ServeConfig
    /// Per source, by name.
    public private(set) var machines: [String: SourceStateMachine] = [:]
    /// When ``tick(at:using:)`` last ran (the progress predicate's "the loop is alive").
    public private(set) var lastTick: MonotonicInstant
    /// Frames per second each source processed lately, as the loop reports it.
    public private(set) var rates: [String: Double] = [:]

    /// Every source in `connecting`; the returned commands open them all.
    public init(config: ServeConfig, now: MonotonicInstant) {
        self.config = config
        lastTick = now
        for source in config.sources {
            machines[source.name] = SourceStateMachine(source: source, backoff: config.backoff, now: now)
        }
    }

    /// The commands that start every source (after ``init(config:now:)``), in configuration order.
    public var startCommands: [SourceCommand] { config.sources.map { SourceCommand($0.name, .connect) } }

    public var names: [String] { config.sources.map(\.name) }

    public mutating func connected(_ name: String, at now: MonotonicInstant) {
        machines[name]?.connected(at: now)
    }

    public mutating func frameDecoded(_ name: String, at now: MonotonicInstant) {
        machines[name]?.frameDecoded(at: now)
    }

    public mutating func failed(_ name: String, _ error: String, at now: MonotonicInstant,
                                using rng: inout some RandomNumberGenerator) -> [SourceCommand] {
        guard let action = machines[name]?.failed(error, at: now, using: &rng) else { return [] }
        rates[name] = nil
        return action == .none ? [] : [SourceCommand(name, action)]
    }

    public mutating func endOfStream(_ name: String, at now: MonotonicInstant,
                                     using rng: inout some RandomNumberGenerator) -> [SourceCommand] {
        guard let action = machines[name]?.endOfStream(at: now, using: &rng) else { return [] }
        return action == .none ? [] : [SourceCommand(name, action)]
    }

    public mutating func report(rate: Double, for name: String) {
        guard machines[name] != nil else { return }
        rates[name] = rate
    }

    /// Time passing for every source: stalls become disconnects, elapsed backoffs become connects.
    public mutating func tick(at now: MonotonicInstant, using rng: inout some RandomNumberGenerator) -> [SourceCommand] {
        lastTick = now
        var commands: [SourceCommand] = []
        for name in names {
            guard let action = machines[name]?.tick(at: now, using: &rng), action != .none else { continue }
            if case .disconnect = action { rates[name] = nil }
            commands.append(SourceCommand(name, action))
        }
        return commands
    }

    /// Applies a new configuration (SIGHUP): removed sources stop, changed ones restart with fresh state, added
    /// ones start; the others keep running untouched. A changed `state_dir` or `backoff` restarts all.
    public mutating func reload(_ new: ServeConfig, at now: MonotonicInstant) -> [SourceCommand] {
        var changes = config.changes(to: new)
        if changes.global {
            changes.changed = new.sources.map(\.name).filter { machines[$0] != nil }
        }
        var commands: [SourceCommand] = []
        for name in changes.removed {
            if let action = machines[name]?.stop(at: now), action != .none {
                commands.append(SourceCommand(name, .disconnect("removed from the configuration")))
            }
            machines[name] = nil
            rates[name] = nil
        }
        for source in new.sources where changes.changed.contains(source.name) || changes.added.contains(source.name) {
            if let action = machines[source.name]?.stop(at: now), action != .none {
                commands.append(SourceCommand(source.name, .disconnect("configuration changed")))
            }
            machines[source.name] = SourceStateMachine(source: source, backoff: new.backoff, now: now)
            rates[source.name] = nil
            commands.append(SourceCommand(source.name, .connect))
        }
        config = new
        return commands
    }

    /// Shutdown: every open input is closed.
    public mutating func stopAll(at now: MonotonicInstant) -> [SourceCommand] {
        names.compactMap { name in
            guard let action = machines[name]?.stop(at: now), action != .none else { return nil }
            return SourceCommand(name, action)
        }
    }

    /// Sources running out of all configured.
    public var sourcesUp: Int { machines.values.filter(\.isUp).count }

    /// The `STATUS=` line: sources up / total, and the summed rate of the running ones.
    public var statusLine: String {
        let fps = rates.filter { machines[$0.key]?.isUp == true }.values.reduce(0, +)
        return ServeStatus.line(up: sourcesUp, total: machines.count, fps: fps)
    }

    /// The watchdog's progress predicate (``ServeProgress``): ticked within `tickTimeout` and no source wedged.
    public func isProgressing(at now: MonotonicInstant, tickTimeout: Duration) -> Bool {
        ServeProgress.holds(now: now, lastSchedulerTick: lastTick, tickTimeout: tickTimeout, sources: machines.values)
    }
}
