/// Keeps a repeated error (a corrupt packet every frame, a camera refusing every second) from flooding the
/// journal: per key, at most `burst` messages per `interval`; the rest are counted, and the next message logged
/// for that key says how many were left out.
///
/// A pure value with explicit instants, like the state machines; the daemon keeps one and keys it by source and
/// kind of message (`"front/decode"`).
public struct LogRateLimiter: Sendable {
    public let interval: Duration
    public let burst: Int
    private var windows: [String: Window] = [:]

    private struct Window: Sendable {
        var start: MonotonicInstant
        var logged: Int
        var suppressed: Int
    }

    public enum Decision: Sendable, Equatable {
        /// Log it; `suppressedBefore` messages with this key were left out since the last one logged (add "(N
        /// similar messages suppressed)" when above zero).
        case log(suppressedBefore: Int)
        /// Leave it out (it is counted).
        case suppress
    }

    public init(interval: Duration = .seconds(60), burst: Int = 5) {
        precondition(burst >= 1 && interval > .zero)
        self.interval = interval
        self.burst = burst
    }

    public mutating func check(_ key: String, at now: MonotonicInstant) -> Decision {
        if var window = windows[key], now - window.start < interval {
            guard window.logged < burst else {
                window.suppressed += 1
                windows[key] = window
                return .suppress
            }
            window.logged += 1
            windows[key] = window
            return .log(suppressedBefore: 0)
        }
        let suppressed = windows[key]?.suppressed ?? 0
        if windows.count >= 4096 { windows = windows.filter { now - $0.value.start < interval } }
        windows[key] = Window(start: now, logged: 1, suppressed: 0)
        return .log(suppressedBefore: suppressed)
    }
}
