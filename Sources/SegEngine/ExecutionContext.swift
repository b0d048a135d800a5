import CBLAS
import CSegKernels
import Dispatch
import Foundation

/// Time and work of one layer in one forward pass (filled only while profiling is on).
public struct LayerTiming: Sendable {
    public let name: String
    /// Multiply-accumulates (convolutions; 0 for memory-bound ops).
    public let macs: Int
    public let seconds: Double
}

/// Threads, scratch memory and profiling for running layers. The engine owns threading: OpenBLAS is
/// pinned to one thread and work is split across `threads` of our own (each runs its own im2col + sgemm).
///
/// Single owner: use one context from one thread at a time (the layers it runs fan out internally).
public final class ExecutionContext {
    public let threads: Int
    /// Per-thread scratch (im2col panels), grown on demand and then reused.
    private var scratch: [TensorStorage?]
    /// When non-nil, every layer appends its timing here.
    public var profile: [LayerTiming]?
    /// When non-nil, layers that produce a named activation (convolutions, the FAM warp) hand it here after
    /// computing it (calibration of the int8 engine; off in normal runs).
    public var activationObserver: ((String, Tensor) -> Void)?

    /// Helper threads for `parallel` (seg_pool: they spin ~0.1 ms between runs, so the layers of a frame skip
    /// the thread wake-up; DF1 int8 512×1024 on 2 threads: ~7 % faster than GCD, docs/int8.md). nil with
    /// one thread, with SEGSTREAM_POOL=gcd, or if no helper could be started: GCD's concurrentPerform.
    private let pool: OpaquePointer?

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        precondition(threads >= 1)
        self.threads = threads
        scratch = Array(repeating: nil, count: threads)
        pool = threads > 1 && ProcessInfo.processInfo.environment["SEGSTREAM_POOL"] != "gcd" ? seg_pool_create(threads - 1) : nil
        openblas_set_num_threads(1)
    }

    deinit { seg_pool_destroy(pool) }

    /// Makes sure every thread's scratch holds at least `count` floats. Call before `parallel`.
    func reserveScratch(_ count: Int) {
        for t in 0..<threads { reserveScratch(count, thread: t) }
    }

    /// Makes sure thread `thread`'s scratch holds at least `count` floats (for work shared unevenly).
    func reserveScratch(_ count: Int, thread t: Int) {
        if (scratch[t]?.capacity ?? -1) < count { scratch[t] = TensorStorage(capacity: count) }
    }

    /// One buffer for the whole context, grown on demand: data a layer hands from one `parallel` call to the
    /// next (a dilated conv's stacked phases). Layers run one at a time, so one buffer serves them all;
    /// its contents are the caller's until the next call.
    func sharedScratch(_ count: Int) -> TensorStorage {
        if (shared?.capacity ?? -1) < count { shared = TensorStorage(capacity: count) }
        return shared!
    }
    private var shared: TensorStorage?

    func scratch(thread: Int) -> UnsafeMutablePointer<Float> { scratch[thread]!.pointer }

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

    /// Splits 0..<total into `parts` near-equal ranges; returns part `index`.
    public static func split(_ total: Int, parts: Int, index: Int) -> Range<Int> {
        let base = total / parts, extra = total % parts
        let lo = index * base + min(index, extra)
        return lo..<(lo + base + (index < extra ? 1 : 0))
    }

    /// Hands `tensor` to the activation observer, if any.
    @inline(__always)
    public func observe(_ name: String, _ tensor: Tensor) {
        activationObserver?(name, tensor)
    }

    /// Times `body` under `name` when profiling.
    @inline(__always)
    public func measure(_ name: @autoclosure () -> String, macs: @autoclosure () -> Int = 0, _ body: () -> Void) {
        guard profile != nil else { body(); return }
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        profile!.append(LayerTiming(name: name(), macs: macs(), seconds: dt))
    }
}

/// Lets a closure that only touches disjoint data cross into `concurrentPerform` (its callers guarantee
/// that workers write disjoint ranges).
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
