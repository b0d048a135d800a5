import CSystemd
import Foundation

/// One `sd_notify` assignment (sd_notify(3)).
public enum NotifyMessage: Sendable, Equatable {
    /// Start-up (or a reload) is finished.
    case ready
    /// A reload began at this CLOCK_MONOTONIC instant (`MONOTONIC_USEC=` must come with `RELOADING=1`, or
    /// `systemctl reload` can wait for its timeout).
    case reloading(MonotonicInstant)
    case stopping
    /// A one-line status shown by `systemctl status`; URLs in it are redacted, newlines removed.
    case status(String)
    /// Keep-alive for `WatchdogSec=`.
    case watchdog

    /// The `KEY=value` lines this message sends.
    public var assignments: [String] {
        switch self {
        case .ready: ["READY=1"]
        case .reloading(let instant): ["RELOADING=1", "MONOTONIC_USEC=\(Backoff.nanoseconds(instant) / 1000)"]
        case .stopping: ["STOPPING=1"]
        case .status(let text):
            ["STATUS=" + Redaction.redactURLs(in: text).split(whereSeparator: \.isNewline).joined(separator: " ")]
        case .watchdog: ["WATCHDOG=1"]
        }
    }
}

/// `sd_notify` failed: the socket in `NOTIFY_SOCKET` could not be reached.
public struct NotifyError: Error, Sendable, CustomStringConvertible {
    public let errno: Int32
    public var description: String { "sd_notify: \(String(cString: strerror(errno)))" }
}

/// Talks to systemd through libsystemd's `sd_notify` (`Type=notify`).
///
/// Without `NOTIFY_SOCKET` (not started by systemd, or `Type=simple`) every call does nothing and returns false.
/// libsystemd reads `NOTIFY_SOCKET` at each call; the variable is left in the environment (`unset_environment`
/// 0), as the watchdog pings need it for the process's whole life.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// True when the service manager listens (`NOTIFY_SOCKET` is set).
    public var isEnabled: Bool { ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] != nil }

    /// Sends `messages` in one datagram. Returns false when there is no socket to send to.
    @discardableResult
    public func notify(_ messages: [NotifyMessage]) throws(NotifyError) -> Bool {
        let text = messages.flatMap(\.assignments).joined(separator: "\n")
        let result = sd_notify(0, text)
        if result < 0 { throw NotifyError(errno: -result) }
        return result > 0
    }

    @discardableResult
    public func notify(_ message: NotifyMessage) throws(NotifyError) -> Bool { try notify([message]) }

    /// `READY=1` with the first status line.
    @discardableResult
    public func ready(status: String) throws(NotifyError) -> Bool { try notify([.ready, .status(status)]) }

    /// `RELOADING=1` + `MONOTONIC_USEC=` now; send ``ready(status:)`` when the reload is done.
    @discardableResult
    public func reloading(at now: MonotonicInstant = MonotonicClock.now()) throws(NotifyError) -> Bool {
        try notify([.reloading(now), .status("reloading the configuration")])
    }

    @discardableResult
    public func stopping() throws(NotifyError) -> Bool { try notify([.stopping, .status("stopping")]) }
}

/// The `STATUS=` line: sources up out of all, and the frames per second processed by all of them together.
public enum ServeStatus {
    public static func line(up: Int, total: Int, fps: Double) -> String {
        let rate = fps.isFinite ? String(format: "%.1f", max(fps, 0)) : "0.0"
        return "\(up)/\(total) sources up, \(rate) fps"
    }
}
