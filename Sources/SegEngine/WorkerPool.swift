import CBLAS
import CSegKernels
import Dispatch
import Foundation

/// The engine's worker threads: one pool per process (`WorkerPool.shared`), used by every model and
/// every session (docs/engine.md). Tests and benchmarks may make private pools of other sizes.
///
/// - Fan-out: `parallel(n, body)` runs one layer's work items on the pool (seg_pool: helpers spin ~0.1 ms
///   between runs, so the layers of a frame skip the thread wake-up; DF1 int8 512×1024 on 2 threads: ~7 %
///   faster than GCD, docs/int8.md). With one thread, `SEGSTREAM_POOL=gcd`, or if no helper could be
///   started, and for nested calls, GCD's concurrentPerform.
/// - Fairness between streams: a forward pass holds the pool for its whole duration through `withTurn`,
///   a FIFO ticket lock: sessions that ask while it is held run in the order they asked, so two streams
///   alternate frame by frame instead of oversubscribing the cores with two frames' layers at once.
///
/// `@unchecked Sendable`: the C pool synchronises itself (atomics; one run at a time, a concurrent second
/// `seg_pool_run` returns 0 and the caller falls back to GCD), the ticket counters are guarded by `turns`,
/// and every other stored property is immutable.
public final class WorkerPool: @unchecked Sendable {
    /// Workers a layer may fan out to (the calling thread included).
    public let threads: Int
    private let pool: OpaquePointer?
    private let turns = NSCondition()
    private var nextTicket: UInt64 = 0
    private var serving: UInt64 = 0
    /// Time spent inside turns (guarded by `turns`): what `serve` reports as inference utilisation.
    private var busyNanoseconds: UInt64 = 0

    /// A private pool of `threads` workers (the process-wide one is `shared`).
    public init(threads: Int) {
        precondition(threads >= 1 && threads <= 256, "threads must be in 1...256, got \(threads)")
        self.threads = threads
        pool = threads > 1 && ProcessInfo.processInfo.environment["SEGSTREAM_POOL"] != "gcd" ? seg_pool_create(threads - 1) : nil
        openblas_set_num_threads(1)   // the engine owns threading: every worker runs its own single-threaded sgemm
    }

    deinit { seg_pool_destroy(pool) }

    private static let sharedLock = NSLock()
    nonisolated(unsafe) private static var sharedThreads: Int?
    nonisolated(unsafe) private static var sharedPool: WorkerPool?

    /// Sets the shared pool's size before its first use (the CLI's `--threads N`). Returns false, and
    /// changes nothing, when the pool already exists with another size.
    @discardableResult
    public static func configureShared(threads: Int) -> Bool {
        precondition(threads >= 1 && threads <= 256, "threads must be in 1...256, got \(threads)")
        sharedLock.lock(); defer { sharedLock.unlock() }
        if let p = sharedPool { return p.threads == threads }
        sharedThreads = threads
        return true
    }

    /// The process-wide pool, made on first use with `configureShared(threads:)`'s size, else one worker
    /// per active processor.
    public static var shared: WorkerPool {
        sharedLock.lock(); defer { sharedLock.unlock() }
        if let p = sharedPool { return p }
        let p = WorkerPool(threads: sharedThreads ?? ProcessInfo.processInfo.activeProcessorCount)
        sharedPool = p
        return p
    }

    /// Runs `body` once the caller's turn comes: callers are served one at a time, first come first
    /// served (a ticket lock). Not reentrant: a body must not ask for another turn on the same pool.
    public func withTurn<R>(_ body: () throws -> R) rethrows -> R {
        turns.lock()
        let ticket = nextTicket
        nextTicket += 1
        while serving != ticket { turns.wait() }
        turns.unlock()
        let started = DispatchTime.now().uptimeNanoseconds
        defer {
            let ended = DispatchTime.now().uptimeNanoseconds
            turns.lock()
            busyNanoseconds &+= ended &- started
            serving += 1
            turns.broadcast()
            turns.unlock()
        }
        return try body()
    }

    /// Seconds spent running turns (forward passes) since the pool was made.
    public var busySeconds: Double {
        turns.lock(); defer { turns.unlock() }
        return Double(busyNanoseconds) / 1e9
    }

    /// Turns asked for and not yet finished (the one running included).
    public var pendingTurns: Int {
        turns.lock(); defer { turns.unlock() }
        return Int(nextTicket - serving)
    }

    /// Runs `body(worker)` for worker in 0..<n (n ≤ threads), concurrently when n > 1.
    public func parallel(_ n: Int, _ body: (Int) -> Void) {
        if n <= 1 { body(0); return }
        if let pool {
            // The pool's helpers spin between the layers of a frame instead of being woken for each one.
            // Busy (a nested call): fall through to GCD.
            let ran = withoutActuallyEscaping(body) { escapable -> Bool in
                var fn = escapable
                return withUnsafeMutablePointer(to: &fn) { ptr in
                    seg_pool_run(pool, n, { ctx, i in
                        ctx!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(i))
                    }, ptr) != 0
                }
            }
            if ran { return }
        }
        withoutActuallyEscaping(body) { escapable in
            let box = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: n) { box.value($0) }
        }
    }
}
