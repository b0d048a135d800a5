import Foundation

/// A value behind a lock, for state that threads share (the pipeline's stages, the serve daemon's loop and
/// source threads).
///
/// `@unchecked Sendable`: `value` is read and written only inside `withLock`, under `lock`. It uses a
/// pthread mutex (`NSLock`) rather than `Synchronization.Mutex` because ThreadSanitizer understands pthread
/// locks; Mutex's futex-based lock is invisible to it on Linux and every access under it is reported as a race.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
