#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time, as a `Duration` since an arbitrary origin (boot, for ``MonotonicClock/now()``).
///
/// The state machines below never read a clock: every event carries its time, so tests drive them with made-up
/// instants and nothing in them sleeps. The driver reads ``MonotonicClock`` (CLOCK_MONOTONIC, the clock
/// `sd_notify`'s `MONOTONIC_USEC=` is in) and passes the values in.
public typealias MonotonicInstant = Duration

public enum MonotonicClock {
    /// CLOCK_MONOTONIC now.
    public static func now() -> MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return .seconds(ts.tv_sec) + .nanoseconds(ts.tv_nsec)
    }
}

/// Capped exponential backoff with full jitter: the n-th consecutive failure (n from 0) waits a delay drawn
/// uniformly from 0…min(cap, initial × 2ⁿ) ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015: full
/// jitter spreads the reconnections of many cameras that failed together, e.g. after a switch reboot).
public struct Backoff: Sendable, Equatable {
    public let settings: BackoffSettings
    /// Failures since the last ``reset()``.
    public private(set) var failures = 0

    public init(settings: BackoffSettings) {
        self.settings = settings
    }

    /// The largest delay the next failure can draw: min(cap, initial × 2^failures).
    public var ceiling: Duration {
        let initial = Self.nanoseconds(settings.initial), cap = Self.nanoseconds(settings.cap)
        guard failures < 63 else { return settings.cap }
        let (scaled, overflow) = initial.multipliedReportingOverflow(by: Int64(1) << Int64(failures))
        return .nanoseconds(overflow ? cap : min(cap, scaled))
    }

    /// True once more than `maxRetries` failures happened in a row (never with `maxRetries` nil).
    public var exhausted: Bool { settings.maxRetries.map { failures > $0 } ?? false }

    /// Records a failure and draws the delay before the next attempt, uniform in 0…``ceiling`` (as it was
    /// before this failure).
    public mutating func nextDelay(using rng: inout some RandomNumberGenerator) -> Duration {
        let bound = Self.nanoseconds(ceiling)
        failures += 1
        return .nanoseconds(Int64.random(in: 0...bound, using: &rng))
    }

    /// Back to the first delay (after a stable period).
    public mutating func reset() { failures = 0 }

    static func nanoseconds(_ d: Duration) -> Int64 {
        let (s, atto) = d.components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : ns + atto / 1_000_000_000
    }
}

/// Where one source is in its life (docs/serve.md, "Reconnection").
public enum SourcePhase: Sendable, Equatable {
    /// Opening the input; `attempt` counts from 1 since the source last ran stably.
    case connecting(attempt: Int)
    /// The input is open and frames are expected.
    case running
    /// Waiting before the next attempt, until the given instant.
    case backingOff(until: MonotonicInstant)
    case stopped(StopReason)

    /// The name used in status lines and logs.
    public var name: String {
        switch self {
        case .connecting: "connecting"
        case .running: "running"
        case .backingOff: "backing off"
        case .stopped: "stopped"
        }
    }
}

public enum StopReason: Sendable, Equatable {
    /// Shutdown or reload removed the source.
    case requested
    /// A file that does not loop reached its end.
    case finished
    /// `max_retries` failures in a row; the last error.
    case gaveUp(String)
}

/// What the driver must do after telling the state machine about an event.
public enum SourceAction: Sendable, Equatable {
    /// Nothing now.
    case none
    /// Open the input (the phase is now `connecting`).
    case connect
    /// Close the input: it failed or stalled, and the phase is now `backingOff` or `stopped`. The string says why.
    case disconnect(String)
}

/// One source's reconnection state machine: a pure value; the driver feeds it events with their time and does
/// what the returned ``SourceAction`` says.
///
/// ```
///             connected                 failure, stall, end of a live stream
/// connecting ──────────► running ──────────────────────────────────────┐
///   ▲   │ failure, stall                                                 ▼
///   │   └──────────────────────────────────────────────────────► backing off ──(max_retries)──► stopped
///   └─────────────────────── delay elapsed (tick) ◄──────────────────────┘
/// ```
/// Every phase goes to `stopped` on ``stop(at:)``; a file that does not loop goes there at its end.
public struct SourceStateMachine: Sendable {
    public let stallTimeout: Duration
    /// A file with `loop: true`: its end opens it again at once.
    public let loops: Bool
    /// Live source (camera, stream): its end is a failure. A file's end is not.
    public let isLive: Bool

    public private(set) var phase: SourcePhase
    /// When the current phase began.
    public private(set) var phaseStart: MonotonicInstant
    public private(set) var lastFrame: MonotonicInstant?
    public private(set) var backoff: Backoff
    /// Connections opened after the first one (a metric: `reconnects_total`).
    public private(set) var reconnects = 0
    /// The last failure, redacted by whoever reported it.
    public private(set) var lastError: String?

    /// A new source, in `connecting` at `now`: the driver opens it right away.
    public init(backoff: BackoffSettings, stallTimeout: Duration, isLive: Bool, loops: Bool, now: MonotonicInstant) {
        self.backoff = Backoff(settings: backoff)
        self.stallTimeout = stallTimeout
        self.isLive = isLive
        self.loops = loops
        phase = .connecting(attempt: 1)
        phaseStart = now
    }

    public init(source: SourceConfig, backoff: BackoffSettings, now: MonotonicInstant) {
        self.init(backoff: backoff, stallTimeout: source.stallTimeout, isLive: source.kind.isLive, loops: source.loop,
                  now: now)
    }

    public var isUp: Bool { phase == .running }

    /// The input opened.
    public mutating func connected(at now: MonotonicInstant) {
        guard case .connecting = phase else { return }
        enter(.running, at: now)
    }

    /// A frame was decoded: the watchdog's reference.
    public mutating func frameDecoded(at now: MonotonicInstant) {
        lastFrame = now
        if case .connecting = phase { enter(.running, at: now) }
    }

    /// Opening or reading failed. Ignored unless connecting or running (a late error from a torn-down input).
    public mutating func failed(_ error: String, at now: MonotonicInstant,
                                using rng: inout some RandomNumberGenerator) -> SourceAction {
        switch phase {
        case .connecting, .running:
            resetIfStable(at: now)
            lastError = error
            let delay = backoff.nextDelay(using: &rng)
            if backoff.exhausted {
                enter(.stopped(.gaveUp(error)), at: now)
            } else {
                enter(.backingOff(until: now + delay), at: now)
            }
            return .disconnect(error)
        case .backingOff, .stopped:
            return .none
        }
    }

    /// The input ended. A live source's end is a failure; a looping file is opened again at once (no backoff: it
    /// did not fail); any other file is finished.
    public mutating func endOfStream(at now: MonotonicInstant, using rng: inout some RandomNumberGenerator) -> SourceAction {
        guard phase == .running || { if case .connecting = phase { return true } else { return false } }() else {
            return .none
        }
        if isLive { return failed("the stream ended", at: now, using: &rng) }
        if loops {
            reconnects += 1
            enter(.connecting(attempt: 1), at: now)
            return .connect
        }
        enter(.stopped(.finished), at: now)
        return .disconnect("end of file")
    }

    /// Time passing: a stall is a failure; an elapsed backoff starts the next attempt; a stable run resets the
    /// backoff. Call it at least every second or so.
    public mutating func tick(at now: MonotonicInstant, using rng: inout some RandomNumberGenerator) -> SourceAction {
        switch phase {
        case .connecting, .running:
            if isStalled(at: now) {
                let what = phase == .running ? "no frame decoded" : "not connected"
                return failed("\(what) for \(format(stallTimeout)) (stall_timeout)", at: now, using: &rng)
            }
            resetIfStable(at: now)
            return .none
        case .backingOff(let until):
            guard now >= until else { return .none }
            reconnects += 1
            enter(.connecting(attempt: backoff.failures + 1), at: now)
            return .connect
        case .stopped:
            return .none
        }
    }

    /// Stop for good (shutdown, reload).
    public mutating func stop(at now: MonotonicInstant) -> SourceAction {
        if case .stopped = phase { return .none }
        let wasOpen = phase == .running || { if case .connecting = phase { return true } else { return false } }()
        enter(.stopped(.requested), at: now)
        return wasOpen ? .disconnect("stopped") : .none
    }

    /// The per-source watchdog: connecting or running, and no frame (or, while connecting, no connection) for
    /// longer than `stallTimeout`.
    public func isStalled(at now: MonotonicInstant) -> Bool {
        guard let since = progressReference else { return false }
        return now - since > stallTimeout
    }

    /// Stalled for more than twice `stallTimeout`: the watchdog should have acted at once, so the driver itself is
    /// stuck (it does not tick, or closing the input hangs). The systemd watchdog's progress predicate uses it.
    public func isWedged(at now: MonotonicInstant) -> Bool {
        guard let since = progressReference else { return false }
        return now - since > stallTimeout * 2
    }

    /// The instant the watchdog counts from: the phase start, or the last frame if later.
    private var progressReference: MonotonicInstant? {
        switch phase {
        case .connecting: phaseStart
        case .running: max(phaseStart, lastFrame ?? phaseStart)
        case .backingOff, .stopped: nil
        }
    }

    private mutating func resetIfStable(at now: MonotonicInstant) {
        if phase == .running, now - phaseStart >= backoff.settings.stableReset { backoff.reset() }
    }

    private mutating func enter(_ next: SourcePhase, at now: MonotonicInstant) {
        phase = next
        phaseStart = now
    }
}
