import CBLAS
import CSegKernels
import Dispatch
import Foundation

/// Time and work of one layer in one forward pass (filled only while profiling is on).
public struct LayerTiming: Sendable {
    public let name: String
    /// Multiply-accumulates (convolutions; 0 for memory-bound ops).
    public let macs: Int
    /// Bytes a convolution moves at its arithmetic's width: weights + input + output (+ residual); 0 for
    /// other ops. MACs per byte is the layer's arithmetic intensity (the roofline of `segstream profile --sweep`).
    public let bytes: Int
    public let seconds: Double
    /// How an int8 conv was computed in this run (`QConv2d.Algorithm`'s raw value); nil for other layers.
    public var algorithm: String? = nil
}

/// Everything one stream varies while running layers (a per-session workspace, docs/engine.md): per-worker
/// scratch (im2col panels, Winograd tiles), the shared scratch of dilated convs, int8 indirection tables
/// per conv and input geometry, profiling records and the activation observer. The threads come from a
/// `WorkerPool` (by default the process-wide one), which many contexts share.
///
/// Single owner: use one context from one thread at a time (the layers it runs fan out internally).
public final class ExecutionContext {
    /// The pool the layers fan out to.
    public let pool: WorkerPool
    public var threads: Int { pool.threads }
    /// Per-thread scratch (im2col panels), grown on demand and then reused.
    private var scratch: [TensorStorage?]
    /// When non-nil, every layer appends its timing here.
    public var profile: [LayerTiming]?
    /// When non-nil, layers that produce a named activation (convolutions, the FAM warp) hand it here after
    /// computing it (calibration of the int8 engine; off in normal runs).
    public var activationObserver: ((String, Tensor) -> Void)?
    /// The int8 kernels' ISA: nil follows the dispatch table (best, or SEGSTREAM_ISA); tests pin each ISA.
    public var isa: seg_isa?
    /// Int8 conv indirection tables, per conv and input geometry (built on first use, then reused: they
    /// depend on the geometry only, the kernel rebases them to whatever buffer is passed).
    var indirectionTables: [IndirectionKey: IndirectionTable] = [:]
    /// Forces this context's int8 3×3 convs to one algorithm where it applies (benchmarks, A/B runs, tests);
    /// nil: each conv's measured choice (`QConv2d.algorithm`).
    public var int8Algorithm: QConv2d.Algorithm?
    /// Int8 conv algorithm trials and choices, per conv, input size and ISA (`QConv2d.algorithm`).
    var int8AlgorithmTrials: [AlgorithmKey: AlgorithmTrial] = [:]

    /// A workspace on `pool` (default: the process-wide pool).
    public init(pool: WorkerPool = .shared) {
        self.pool = pool
        scratch = Array(repeating: nil, count: pool.threads)
    }

    /// A workspace on a private pool of `threads` workers (tests, op-level tools).
    public convenience init(threads: Int) {
        self.init(pool: WorkerPool(threads: threads))
    }

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
    @inline(__always)
    public func parallel(_ n: Int, _ body: (Int) -> Void) { pool.parallel(n, body) }

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
    public func measure(_ name: @autoclosure () -> String, macs: @autoclosure () -> Int = 0,
                        bytes: @autoclosure () -> Int = 0, algorithm: String? = nil, _ body: () -> Void) {
        guard profile != nil else { body(); return }
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        profile!.append(LayerTiming(name: name(), macs: macs(), bytes: bytes(), seconds: dt, algorithm: algorithm))
    }
}

/// Lets a closure that only touches disjoint data cross into `concurrentPerform` (its callers guarantee
/// that workers write disjoint ranges).
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Which int8 indirection table: the conv (alive as long as the model a session holds) and the input geometry.
struct IndirectionKey: Hashable {
    let conv: ObjectIdentifier
    let height: Int, width: Int, pixelStride: Int
}

/// An indirection table (seg_qu8_conv_indirection), freed with its owner. It keeps its conv alive, so the
/// conv's `ObjectIdentifier` in the key cannot be reused by another conv while the entry exists.
final class IndirectionTable {
    let pointer: OpaquePointer
    let conv: QConv2d
    init(_ pointer: OpaquePointer, conv: QConv2d) { self.pointer = pointer; self.conv = conv }
    deinit { seg_qu8_indirection_free(pointer) }
}
