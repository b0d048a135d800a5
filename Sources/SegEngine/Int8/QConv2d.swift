import CSegKernels
import Foundation

/// An int8 convolution (C kernels `seg_qu8_conv*`): u8 NHWC input with per-tensor params, s8 weights with
/// per-output-channel scales, int32 accumulation, float requantization with bias, residual and ReLU fused.
/// The output is u8 (`output` params given) or fp32 NHWC (`output == nil`: flow and logits).
///
/// Immutable once made (packed weights only), so one conv serves many streams at once. Indirection tables
/// are built once per input geometry (height, width, pixel stride) in the caller's `ExecutionContext` and
/// reused there (the kernel rebases them to whatever buffer is passed), so steady-state frames allocate nothing.
///
/// 3×3 stride-1 convs with u8 output may instead run the exact int8 Winograd F(4×4,3×3) (`Algorithm`,
/// docs/int8.md): the same output bytes, fewer multiplies. Which one runs is measured per conv, input size
/// and ISA in each `ExecutionContext` (`algorithm(height:width:isa:context:)`).
///
/// `@unchecked Sendable`: `packed` is an opaque pointer to weights written once in `init` and only read
/// afterwards (freed in `deinit`); `winogradWeights` is made once under a lock; every other stored property
/// is an immutable value.
public final class QConv2d: @unchecked Sendable {
    /// How an int8 conv is computed. Both give identical bytes wherever Winograd applies.
    public enum Algorithm: String, Sendable, CaseIterable {
        /// Indirect GEMM with `vpdpbusd` (every conv).
        case igemm
        /// Winograd F(4×4,3×3) with int16 operands (`vpdpwssd`): 36 products per 4×4 outputs instead of 144,
        /// at half the int8 rate. Applies to 3×3 stride-1 u8-output convs with ≥ 8 input and output channels,
        /// any padding and dilation (wide layers may need several input-channel slices, docs/int8.md).
        case winograd4x4
    }

    /// Runs of each algorithm timed before the choice is made (alternating; the faster best run wins, timed
    /// on each worker's CPU clock: `AlgorithmTrial`).
    static let trialsPerAlgorithm = 2

    public let name: String
    public let inChannels: Int, outChannels: Int
    public let kernelSize: Int, stride: Int, padding: Int, dilation: Int
    public let relu: Bool
    public let input: QuantParams
    /// nil: fp32 output.
    public let output: QuantParams?
    private let packed: OpaquePointer
    /// The s8 weights, kept while Winograd applies (its weights are made from them on first use).
    private let winogradSource: [Int8]?
    /// Whether `Algorithm.winograd4x4` applies (see there).
    public var allowsWinograd: Bool { winogradSource != nil }
    /// int16 Winograd weights (8× the s8 ones), made the first time a context considers Winograd for this
    /// conv, so a model on a CPU without the vector kernels never pays for them.
    private let winogradWeights = OnceCell<WinogradWeights>()

    /// - Parameters:
    ///   - weight: s8 values in [−127, 127], PyTorch order [outChannels][inChannels][k][k] (BN already folded).
    ///   - weightScale: one positive scale per output channel.
    ///   - bias: float bias per output channel (folded), or nil.
    public init(name: String, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, weight: [Int8], weightScale: [Float], bias: [Float]?, input: QuantParams,
                output: QuantParams?, relu: Bool) {
        precondition(weight.count == outChannels * inChannels * kernelSize * kernelSize, "\(name): weight count")
        precondition(weightScale.count == outChannels && (bias?.count ?? outChannels) == outChannels, "\(name): scale/bias count")
        precondition(output != nil || !relu, "\(name): fp32 output has no fused ReLU")
        self.name = name
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding; self.dilation = dilation
        self.relu = relu
        self.input = input
        self.output = output
        let p: OpaquePointer? = weight.withUnsafeBufferPointer { w in
            weightScale.withUnsafeBufferPointer { s in
                if let bias {
                    return bias.withUnsafeBufferPointer { b in
                        seg_qu8_conv_pack(outChannels, inChannels, kernelSize, kernelSize, w.baseAddress, s.baseAddress,
                                          b.baseAddress, input.scale, input.zeroPoint, output?.scale ?? 0)
                    }
                }
                return seg_qu8_conv_pack(outChannels, inChannels, kernelSize, kernelSize, w.baseAddress, s.baseAddress,
                                         nil, input.scale, input.zeroPoint, output?.scale ?? 0)
            }
        }
        guard let p else { fatalError("\(name): out of memory packing weights") }
        packed = p
        let winogradShape = kernelSize == 3 && stride == 1 && output != nil && inChannels >= 8 && outChannels >= 8
        winogradSource = winogradShape ? weight : nil
    }

    deinit {
        seg_qu8_conv_weights_free(packed)
    }

    private var winograd: OpaquePointer {
        winogradWeights.get {
            let w = winogradSource!.withUnsafeBufferPointer { seg_qu8_winograd43_pack(packed, $0.baseAddress) }
            guard let w else { fatalError("\(name): out of memory packing Winograd weights") }
            return WinogradWeights(w)
        }.pointer
    }

    /// The algorithm for the next run on an input of this size: `context.int8Algorithm` if set; else the indirect
    /// GEMM where Winograd does not apply or `isa` has no vector Winograd kernels; else, per context, the
    /// first `2·trialsPerAlgorithm` runs alternate the two and time them, and from then on the one with the
    /// faster best run runs (`AlgorithmTrial.record`). Both write the same bytes, so the trials are ordinary runs.
    func algorithm(height: Int, width: Int, isa: seg_isa, context: ExecutionContext) -> (Algorithm, AlgorithmTrial?) {
        guard allowsWinograd else { return (.igemm, nil) }
        if let forced = context.int8Algorithm { return (forced, nil) }
        guard seg_qu8_winograd43_isa_has_kernels(isa) != 0 else { return (.igemm, nil) }
        let key = AlgorithmKey(conv: ObjectIdentifier(self), height: height, width: width, isa: isa.rawValue)
        let trial: AlgorithmTrial
        if let t = context.int8AlgorithmTrials[key] { trial = t } else {
            trial = AlgorithmTrial(conv: self)
            context.int8AlgorithmTrials[key] = trial
        }
        if let chosen = trial.chosen { return (chosen, nil) }
        return (trial.igemm.count <= trial.winograd.count ? .igemm : .winograd4x4, trial)
    }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        (seg_conv_out_size(height, kernelSize, stride, dilation, padding, padding),
         seg_conv_out_size(width, kernelSize, stride, dilation, padding, padding))
    }

    public func macs(height: Int, width: Int) -> Int {
        let (ho, wo) = outputSize(height: height, width: width)
        return outChannels * inChannels * kernelSize * kernelSize * ho * wo
    }

    /// Bytes one run moves: int8 weights and input, the output at `outputBytes` per element (1 for u8, 4 for
    /// `runFloat`), and the residual when there is one (the roofline's arithmetic intensity, `LayerTiming.bytes`).
    public func bytesMoved(height: Int, width: Int, outputBytes: Int = 1, residual: Bool = false) -> Int {
        let (ho, wo) = outputSize(height: height, width: width)
        let outputs = outChannels * ho * wo
        return outChannels * inChannels * kernelSize * kernelSize + inChannels * height * width
            + outputs * outputBytes + (residual ? outputs : 0)
    }

    private func table(for x: QTensor, context: ExecutionContext) -> OpaquePointer {
        let key = IndirectionKey(conv: ObjectIdentifier(self), height: x.height, width: x.width, pixelStride: x.pixelStride)
        if let t = context.indirectionTables[key] { return t.pointer }
        let (ho, wo) = outputSize(height: x.height, width: x.width)
        var g = seg_qu8_conv_geometry(
            in_h: UInt32(x.height), in_w: UInt32(x.width), out_h: UInt32(ho), out_w: UInt32(wo),
            kh: UInt32(kernelSize), kw: UInt32(kernelSize), stride_h: UInt32(stride), stride_w: UInt32(stride),
            dilation_h: UInt32(dilation), dilation_w: UInt32(dilation), pad_top: UInt32(padding), pad_left: UInt32(padding))
        guard let t = seg_qu8_conv_indirection(&g, inChannels, x.data, x.pixelStride, input.zeroPoint) else {
            fatalError("\(name): out of memory building the indirection table")
        }
        context.indirectionTables[key] = IndirectionTable(t, conv: self)
        return t
    }

    /// u8 output: `y` (possibly a channel slice of a concat buffer) gets relu?(conv(x) + residual?).
    /// The residual has y's height, width and channel count, and its own params.
    public func run(_ x: QTensor, into y: QTensor, residual: QTensor? = nil, context: ExecutionContext, isa: seg_isa? = nil) {
        guard let out = output else { preconditionFailure("\(name): packed for fp32 output") }
        let (ho, wo) = outputSize(height: x.height, width: x.width)
        precondition(x.channels == inChannels && x.pixelStride >= QTensor.standardStride(inChannels),
                     "\(name): input has \(x.channels) channels (stride \(x.pixelStride)), expected \(inChannels)")
        precondition(y.channels == outChannels && y.height == ho && y.width == wo,
                     "\(name): output is \(y.shape), expected [\(ho), \(wo), \(outChannels)]")
        precondition(x.params == input && y.params == out, "\(name): tensor params differ from the packed ones")
        if let r = residual { precondition(r.shape == y.shape, "\(name): residual shape \(r.shape) != \(y.shape)") }
        let (algorithm, trial) = self.algorithm(height: x.height, width: x.width, isa: isa ?? seg_isa_active(),
                                                context: context)
        // Weights and tables are made before the clock starts: the trials time the steady state.
        let ind = algorithm == .igemm ? table(for: x, context: context) : nil
        if algorithm == .winograd4x4 { _ = winograd }
        let clocks = trial.map { _ in WorkerClocks(workers: context.threads) }
        context.measure(name, macs: macs(height: x.height, width: x.width),
                        bytes: bytesMoved(height: x.height, width: x.width, residual: residual != nil),
                        algorithm: algorithm.rawValue) {
            if algorithm == .winograd4x4 {
                runWinograd(x, into: y, residual: residual, context: context, isa: isa, clocks: clocks)
                return
            }
            var args = seg_qu8_conv_args()
            args.w = packed
            args.ind = ind
            args.x = UnsafePointer(x.data)
            args.y = UnsafeMutableRawPointer(y.data)
            args.y_stride = y.pixelStride
            if let r = residual {
                args.r = UnsafePointer(r.data)
                args.r_stride = r.pixelStride
                args.r_mult = r.params.scale / out.scale
                args.r_zp = r.params.zeroPoint
            }
            args.y_zp = out.zeroPoint
            args.y_min = relu ? out.zeroPoint : 0
            args.y_max = 255
            execute(args, height: ho, width: wo, context: context, isa: isa, clocks: clocks)
        }
        if let trial, let clocks { trial.record(algorithm, seconds: clocks.slowest) }
    }

    /// The Winograd path of `run`: tile rows split across the context's threads, each with its own scratch.
    private func runWinograd(_ x: QTensor, into y: QTensor, residual: QTensor?, context: ExecutionContext, isa: seg_isa?,
                             clocks: WorkerClocks?) {
        let out = output!
        var a = seg_qu8_winograd43_args()
        a.w = winograd
        a.x = UnsafePointer(x.data)
        a.x_stride = x.pixelStride
        a.in_h = x.height; a.in_w = x.width
        (a.out_h, a.out_w) = (y.height, y.width)
        a.pad = padding; a.dilation = dilation
        a.x_zp = input.zeroPoint
        a.y = y.data
        a.y_stride = y.pixelStride
        if let r = residual {
            a.r = UnsafePointer(r.data)
            a.r_stride = r.pixelStride
            a.r_mult = r.params.scale / out.scale
            a.r_zp = r.params.zeroPoint
        }
        a.y_zp = out.zeroPoint
        a.y_min = relu ? out.zeroPoint : 0
        a.y_max = 255
        let rows = seg_qu8_winograd43_tile_rows(&a)
        let workers = max(1, min(context.threads, rows))
        context.reserveScratch((seg_qu8_winograd43_scratch_bytes(a.w) + 3) / 4)
        let isa = isa ?? seg_isa_active()
        context.parallel(workers) { t in
            var args = a
            let range = ExecutionContext.split(rows, parts: workers, index: t)
            WorkerClocks.time(clocks, worker: t) {
                seg_qu8_winograd43_isa(isa, &args, range.lowerBound, range.upperBound, context.scratch(thread: t))
            }
        }
    }

    /// Whether `run(quantizing:into:)` applies: the shape of every SFNet stem's first conv (3 input channels,
    /// 3×3, stride 2, padding 1, u8 output, at most 64 outputs).
    public var quantizesItsInput: Bool {
        inChannels == 3 && kernelSize == 3 && stride == 2 && padding == 1 && dilation == 1 && output != nil
            && seg_qu8_stem_supported(packed) != 0
    }

    /// u8 `y` gets relu?(conv(x)) for the fp32 CHW network input `x`, quantized with this conv's input params
    /// exactly as `QOps.quantize` does it, in one pass (`seg_qu8_stem_conv`): each worker quantizes the input
    /// rows its output rows need into a small ring, so neither the quantized image nor an indirection table
    /// is made. Bit-identical to `QOps.quantize` followed by `run` (finite inputs). Only where
    /// `quantizesItsInput`.
    public func run(quantizing x: Tensor, into y: QTensor, context: ExecutionContext, isa: seg_isa? = nil) {
        precondition(x.channels == 3 && x.height > 0 && x.width > 0, "\(name): input \(x.shape)")
        var args = seg_qu8_stem_args()
        args.x = UnsafePointer(x.data)
        runStem(args, height: x.height, width: x.width, inputBytes: 4 * 3 * x.height * x.width, into: y, context: context,
                isa: isa)
    }

    /// The same from the network input's 8-bit planes and the affine that normalises them (value·scale[c] +
    /// bias[c]): a 768-entry table maps each byte to its quantized value, computed as the fp32 path computes
    /// it, so the output is bit-identical to `run(quantizing:)` on the normalised tensor, without the tensor.
    public func run(quantizing planes: PixelPlanes, scale: [Float], bias: [Float], into y: QTensor, context: ExecutionContext,
                    isa: seg_isa? = nil) {
        precondition(scale.count == 3 && bias.count == 3 && planes.width > 0, "\(name): planes or affine missing")
        // On the stack: a frame's pass allocates nothing for it.
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 768) { t in
            seg_qu8_stem_pixel_table(scale, bias, input.scale, input.zeroPoint, t.baseAddress!)
            var args = seg_qu8_stem_args()
            args.planes = (UnsafePointer(planes.red), UnsafePointer(planes.green), UnsafePointer(planes.blue))
            args.plane_stride = planes.rowStride
            args.pixel_table = UnsafePointer(t.baseAddress)
            runStem(args, height: planes.height, width: planes.width, inputBytes: 3 * planes.height * planes.width, into: y,
                    context: context, isa: isa)
        }
    }

    /// The fused stem on `input` (its input pointers set), output rows split across the context's threads.
    private func runStem(_ input: seg_qu8_stem_args, height: Int, width: Int, inputBytes: Int, into y: QTensor,
                         context: ExecutionContext, isa: seg_isa?) {
        precondition(quantizesItsInput, "\(name): not a 3-channel 3×3/s2/p1 conv with u8 output")
        let out = output!
        let (ho, wo) = outputSize(height: height, width: width)
        precondition(y.channels == outChannels && y.height == ho && y.width == wo && y.params == out,
                     "\(name): output is \(y.shape) \(y.params), expected [\(ho), \(wo), \(outChannels)] \(out)")
        var args = input
        (args.w, args.in_h, args.in_w, args.x_scale, args.x_zp) = (packed, height, width, self.input.scale, self.input.zeroPoint)
        (args.y, args.y_stride, args.y_zp) = (y.data, y.pixelStride, out.zeroPoint)
        (args.y_min, args.y_max) = (relu ? out.zeroPoint : 0, 255)
        let call = args
        context.reserveScratch((seg_qu8_stem_scratch_bytes(width) + 3) / 4)
        let bytes = outChannels * 27 + inputBytes + outChannels * ho * wo
        context.measure(name, macs: macs(height: height, width: width), bytes: bytes) {
            let workers = min(context.threads, ho)
            context.parallel(workers) { t in
                var a = call
                let rows = ExecutionContext.split(ho, parts: workers, index: t)
                let scratch = UnsafeMutableRawPointer(context.scratch(thread: t))
                if let isa { seg_qu8_stem_conv_isa(isa, &a, rows.lowerBound, rows.upperBound, scratch) }
                else { seg_qu8_stem_conv(&a, rows.lowerBound, rows.upperBound, scratch) }
            }
        }
    }

    /// fp32 output: pixel p's `outChannels` floats at `y + p·yStride` bytes (NHWC).
    public func runFloat(_ x: QTensor, into y: UnsafeMutablePointer<Float>, yStride: Int, context: ExecutionContext,
                         isa: seg_isa? = nil) {
        precondition(output == nil, "\(name): packed for u8 output")
        precondition(x.channels == inChannels && x.params == input, "\(name): input \(x.shape) \(x.params)")
        precondition(yStride >= 4 * outChannels)
        let (ho, wo) = outputSize(height: x.height, width: x.width)
        let ind = table(for: x, context: context)
        var args = seg_qu8_conv_args()
        args.w = packed
        args.ind = ind
        args.x = UnsafePointer(x.data)
        args.y = UnsafeMutableRawPointer(y)
        args.y_stride = yStride
        context.measure(name, macs: macs(height: x.height, width: x.width),
                        bytes: bytesMoved(height: x.height, width: x.width, outputBytes: 4)) {
            execute(args, height: ho, width: wo, context: context, isa: isa)
        }
    }

    /// Output rows split across the context's threads (each worker a contiguous band of rows).
    private func execute(_ args: seg_qu8_conv_args, height: Int, width: Int, context: ExecutionContext, isa: seg_isa?,
                         clocks: WorkerClocks? = nil) {
        let pixels = height * width
        // Below ~2 micro-tiles of work per thread the fan-out costs more than it saves.
        let workers = max(1, min(context.threads, height, pixels / 24))
        context.parallel(workers) { t in
            var a = args
            let rows = ExecutionContext.split(height, parts: workers, index: t)
            WorkerClocks.time(clocks, worker: t) {
                if let isa { seg_qu8_conv_isa(isa, &a, rows.lowerBound * width, rows.upperBound * width) }
                else { seg_qu8_conv(&a, rows.lowerBound * width, rows.upperBound * width) }
            }
        }
    }
}

/// Owns a `seg_qu8_winograd43_weights` (written once when made, then only read).
final class WinogradWeights: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { seg_qu8_winograd43_weights_free(pointer) }
}

/// Which algorithm trial: the conv, the input size and the ISA.
struct AlgorithmKey: Hashable {
    let conv: ObjectIdentifier
    let height: Int, width: Int
    let isa: UInt32
}

/// One conv's timed runs in one context, until the choice is made. Keeps its conv alive, so the conv's
/// `ObjectIdentifier` in the key cannot be reused by another conv while the entry exists.
///
/// A run's time is its slowest worker's CPU time in the kernel (`WorkerClocks`), not the wall clock. On a
/// shared machine another process taking a core mid-layer stretches the wall time of whichever algorithm
/// happens to run then, by more than the two differ on many layers, and the choice, made once per session,
/// keeps that accident for the rest of it. A thread's CPU clock stops while the thread is descheduled, so
/// only the work itself (and the cache misses it causes) is compared. The slowest worker still bounds the
/// layer's wall time on an idle machine, so an algorithm that splits its work unevenly is not favoured.
final class AlgorithmTrial {
    let conv: QConv2d
    private(set) var igemm: [Double] = [], winograd: [Double] = []
    private(set) var chosen: QConv2d.Algorithm?
    init(conv: QConv2d) { self.conv = conv }

    func record(_ algorithm: QConv2d.Algorithm, seconds: Double) {
        if algorithm == .igemm { igemm.append(seconds) } else { winograd.append(seconds) }
        let n = QConv2d.trialsPerAlgorithm
        guard igemm.count >= n && winograd.count >= n else { return }
        // The best run of each: what preemption leaves in CPU time (cold caches after a switch, page faults on
        // the first run's fresh scratch) only ever makes a run slower.
        chosen = winograd.min()! < igemm.min()! ? .winograd4x4 : .igemm
    }
}

/// Per-worker CPU seconds of one parallel run (the calling thread's `CLOCK_THREAD_CPUTIME_ID`, which does not
/// advance while the thread waits for a core). Each worker writes only its own slot.
final class WorkerClocks: @unchecked Sendable {
    private let seconds: UnsafeMutableBufferPointer<Double>

    init(workers: Int) {
        seconds = .allocate(capacity: max(1, workers))
        seconds.initialize(repeating: 0)
    }

    deinit { seconds.deallocate() }

    /// The slowest worker's CPU seconds (0 before any ran).
    var slowest: Double { seconds.max() ?? 0 }

    /// Runs `body`, adding its CPU time to `worker`'s slot when `clocks` is given.
    static func time(_ clocks: WorkerClocks?, worker: Int, _ body: () -> Void) {
        guard let clocks else { body(); return }
        let t0 = threadCPUSeconds()
        body()
        clocks.seconds[worker] += threadCPUSeconds() - t0
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
