#if canImport(Glibc)
import Glibc
#endif

/// When to send `WATCHDOG=1`: every half of `WATCHDOG_USEC`, and only while the progress predicate holds, so a
/// stuck daemon stops pinging and systemd restarts it (`WatchdogSec=` in the unit).
///
/// A pure value: ``shouldPing(at:progressing:)`` takes the time and the predicate's answer.
public struct WatchdogSchedule: Sendable, Equatable {
    /// Half of `WATCHDOG_USEC`.
    public let interval: Duration
    public private(set) var lastPing: MonotonicInstant?

    public init(interval: Duration) {
        self.interval = interval
    }

    /// The schedule systemd asks for, as `sd_watchdog_enabled(3)` reads it: `WATCHDOG_USEC` a positive integer,
    /// and `WATCHDOG_PID`, if set, this process. nil: no watchdog wanted.
    public init?(environment: [String: String], pid: Int32 = getpid()) {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0, usec < UInt64(Int64.max / 1000)
        else { return nil }
        if let owner = environment["WATCHDOG_PID"], Int32(owner) != pid { return nil }
        self.init(interval: .microseconds(Int64(usec)) / 2)
    }

    /// True when a ping is due (none yet, or `interval` since the last) and the predicate holds; the ping is then
    /// counted as sent. While the predicate fails nothing is sent, so a ping follows at once when it holds again.
    public mutating func shouldPing(at now: MonotonicInstant, progressing: Bool) -> Bool {
        guard progressing, isDue(at: now) else { return false }
        lastPing = now
        return true
    }

    public func isDue(at now: MonotonicInstant) -> Bool {
        guard let lastPing else { return true }
        return now - lastPing >= interval
    }

    /// How long the driver may sleep before it must look again: until the next ping is due, or a quarter interval
    /// while the predicate fails (to ping soon after progress resumes).
    public func sleepTime(at now: MonotonicInstant, progressing: Bool) -> Duration {
        guard progressing, let lastPing else { return interval / 4 }
        return max(interval - (now - lastPing), .milliseconds(1))
    }
}

/// Drives a ``WatchdogSchedule``: a long-lived task that pings while `progressing()` holds.
///
/// Shaped as a swift-service-lifecycle `Service` (`run() async throws`, returns on cancellation) so the daemon can
/// add it to its `ServiceGroup`. The clock, the sleep and the ping are injected: tests run it on a made-up clock.
public struct WatchdogPinger: Sendable {
    public var schedule: WatchdogSchedule
    let now: @Sendable () -> MonotonicInstant
    let sleep: @Sendable (Duration) async throws -> Void
    let ping: @Sendable () throws -> Void
    let progressing: @Sendable () -> Bool

    public init(schedule: WatchdogSchedule,
                now: @escaping @Sendable () -> MonotonicInstant = MonotonicClock.now,
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
                ping: @escaping @Sendable () throws -> Void = { try SystemdNotifier().notify(.watchdog) },
                progressing: @escaping @Sendable () -> Bool) {
        self.schedule = schedule
        self.now = now
        self.sleep = sleep
        self.ping = ping
        self.progressing = progressing
    }

    /// Pings until the task is cancelled (or the injected sleep throws). A failed ping is not fatal: the next one
    /// is tried on schedule, and systemd decides.
    public func run() async throws {
        var schedule = self.schedule
        while !Task.isCancelled {
            let t = now()
            let ok = progressing()
            if schedule.shouldPing(at: t, progressing: ok) { try? ping() }
            try await sleep(schedule.sleepTime(at: t, progressing: ok))
        }
    }
}

/// The daemon's progress predicate: the scheduler ticked within `tickTimeout`, and no source's own watchdog is
/// wedged (stalled for over twice its stall timeout, which means the scheduler failed to act on the stall). A
/// camera that is down does not fail it: the source is backing off, and a daemon restart would not bring the
/// camera back.
public enum ServeProgress {
    public static func holds(now: MonotonicInstant, lastSchedulerTick: MonotonicInstant, tickTimeout: Duration,
                             sources: some Sequence<SourceStateMachine>) -> Bool {
        now - lastSchedulerTick <= tickTimeout && !sources.contains { $0.isWedged(at: now) }
    }
}
