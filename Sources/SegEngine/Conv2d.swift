import CBLAS
import CSegKernels
import Foundation

/// Batch-norm statistics to fold into the preceding convolution (eval mode).
public struct BatchNormParameters: Sendable {
    public var gamma: [Float], beta: [Float], mean: [Float], variance: [Float], eps: Float
    public init(gamma: [Float], beta: [Float], mean: [Float], variance: [Float], eps: Float = 1e-5) {
        self.gamma = gamma; self.beta = beta; self.mean = mean; self.variance = variance; self.eps = eps
    }
}

/// A 2-D convolution with optional bias, folded batch norm, fused residual add and ReLU:
/// `y = relu?(conv(x, W) + b + residual?)`.
///
/// Layouts: input C_in×H×W, output C_out×H_o×W_o (CHW, see `Tensor`); weights C_out×(C_in·kh·kw)
/// row-major (PyTorch's `[C_out, C_in, kh, kw]`). Output size: `(H + 2p − d(k−1) − 1)/s + 1`.
/// Computed as one sgemm per column panel: W (C_out×K) · im2col panel (K×n); 1×1 stride-1 convs
/// use the input directly as the panel; 3×3 stride-1 convs use Winograd F(4×4,3×3) or F(2×2,3×3) when
/// `algorithm(outputHeight:outputWidth:threads:)` says so (docs/fp32.md has the rule and its measurements).
///
/// Immutable once made (BN folded and F(4,3) weights transformed in `init`; F(2,3) weights made once on
/// first use, under a lock), so one conv serves many streams at once; every scratch buffer comes from the
/// caller's `ExecutionContext`.
public final class Conv2d: Sendable {
    /// How a convolution is computed. Winograd applies to 3×3 stride-1 convs, undilated or with padding =
    /// dilation, with at least 8 input and output channels.
    public enum Algorithm: String, Sendable, CaseIterable {
        case im2col
        /// F(2×2,3×3): 16 products per 2×2 outputs (2.25× fewer MACs than im2col).
        case winograd2x2
        /// F(4×4,3×3): 36 products per 4×4 outputs (4× fewer MACs than im2col).
        case winograd4x4
    }

    public let name: String
    public let inChannels: Int, outChannels: Int
    public let kernelHeight: Int, kernelWidth: Int
    public let stride: Int, padding: Int, dilation: Int
    public let relu: Bool
    let weight: TensorStorage
    let bias: TensorStorage?
    /// Whether the Winograd variants apply (see `Algorithm`; fewer channels don't pay for the transforms).
    let allowsWinograd: Bool
    /// F(4×4,3×3) weights, 36×C_out×C_in (4× the conv's own), made in `init` when Winograd applies: the
    /// variant the rule picks on every map but small ones.
    private let winograd4x4Weights: TensorStorage?
    /// F(2×2,3×3) weights, 16×C_out×C_in (16/9×), made the first time the rule picks F(2,3) (maps with
    /// fewer than 16·threads 4×4 tiles): the one thing a conv writes after `init`, once, under a lock, and
    /// the same bytes whichever stream makes them. Making them at load for every conv would put R18 fp32
    /// at 1024×2048 from 951 to 1029 MiB peak RSS, over the 1 GB bar, for a variant that size never uses
    /// (docs/engine.md).
    private let winograd2x2Weights = OnceCell<TensorStorage>()

    /// - Parameters:
    ///   - weight: C_out·C_in·kh·kw values in PyTorch order.
    ///   - bias: the conv's own bias (C_out) or nil.
    ///   - batchNorm: folded in now: w' = w·s, b' = (b − mean)·s + β with s = γ/√(var + eps).
    public init(name: String, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1,
                padding: Int = 0, dilation: Int = 1, weight: [Float], bias: [Float]? = nil,
                batchNorm: BatchNormParameters? = nil, relu: Bool = false, allowWinograd: Bool = true) {
        precondition(inChannels > 0 && outChannels > 0 && kernelSize > 0 && stride > 0 && dilation > 0 && padding >= 0)
        let k = inChannels * kernelSize * kernelSize
        precondition(weight.count == outChannels * k, "\(name): weight count \(weight.count), expected \(outChannels * k)")
        if let bias { precondition(bias.count == outChannels) }
        self.name = name
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernelHeight = kernelSize; self.kernelWidth = kernelSize
        self.stride = stride; self.padding = padding; self.dilation = dilation
        self.relu = relu
        let w = TensorStorage(capacity: outChannels * k)
        var b: [Float]? = bias
        if let bn = batchNorm {
            precondition([bn.gamma.count, bn.beta.count, bn.mean.count, bn.variance.count].allSatisfy { $0 == outChannels })
            var folded = [Float](repeating: 0, count: outChannels)
            for o in 0..<outChannels {
                let s = bn.gamma[o] / (bn.variance[o] + bn.eps).squareRoot()
                for i in 0..<k { w.pointer[o * k + i] = weight[o * k + i] * s }
                folded[o] = ((bias?[o] ?? 0) - bn.mean[o]) * s + bn.beta[o]
            }
            b = folded
        } else {
            weight.withUnsafeBufferPointer { w.pointer.update(from: $0.baseAddress!, count: weight.count) }
        }
        self.weight = w
        // Dilated convs qualify when their padding keeps the map size: they run as undilated ones on the
        // stacked phases of the map (seg_f32_phases_gather).
        allowsWinograd = allowWinograd && kernelSize == 3 && stride == 1 && (dilation == 1 || padding == dilation)
            && inChannels >= 8 && outChannels >= 8
        if let b {
            let bs = TensorStorage(capacity: outChannels)
            b.withUnsafeBufferPointer { bs.pointer.update(from: $0.baseAddress!, count: outChannels) }
            self.bias = bs
        } else {
            self.bias = nil
        }
        winograd4x4Weights = allowsWinograd
            ? Conv2d.transformedWeights(w, outChannels, inChannels, elements: 36, seg_f32_winograd43_weights) : nil
    }

    public var reductionSize: Int { inChannels * kernelHeight * kernelWidth }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height + 2 * padding - dilation * (kernelHeight - 1) - 1) / stride + 1,
         (width + 2 * padding - dilation * (kernelWidth - 1) - 1) / stride + 1)
    }

    /// Multiply-accumulates for an input of the given size.
    public func macs(height: Int, width: Int) -> Int {
        let (ho, wo) = outputSize(height: height, width: width)
        return outChannels * reductionSize * ho * wo
    }

    /// Bytes one run moves in fp32: weights, input, output and the residual when there is one (the roofline's
    /// arithmetic intensity, `LayerTiming.bytes`).
    public func bytesMoved(height: Int, width: Int, residual: Bool = false) -> Int {
        let (ho, wo) = outputSize(height: height, width: width)
        let outputs = outChannels * ho * wo
        return 4 * (outChannels * reductionSize + inChannels * height * width + outputs + (residual ? outputs : 0))
    }

    private var isPointwise: Bool { kernelHeight == 1 && kernelWidth == 1 && stride == 1 && padding == 0 }

    /// Columns per im2col panel (a tuning knob; set it before running, never concurrently): the panel (K×n floats) stays around 2 MiB, within L2/L3.
    nonisolated(unsafe) public static var panelBudgetBytes = 2 << 20

    /// Runs the convolution from `x` into `y` (which may be a channel slice of a bigger tensor).
    /// `residual`, when given, has y's shape and is added before the ReLU.
    public func run(_ x: Tensor, into y: Tensor, residual: Tensor? = nil, context: ExecutionContext) {
        let (ho, wo) = outputSize(height: x.height, width: x.width)
        run(x, into: y, residual: residual, algorithm: algorithm(outputHeight: ho, outputWidth: wo, threads: context.threads),
            context: context)
    }

    /// `run` with the algorithm given (tests: a Winograd variant runs on any map size, however small).
    func run(_ x: Tensor, into y: Tensor, residual: Tensor?, algorithm: Algorithm, context: ExecutionContext) {
        precondition(algorithm == .im2col || allowsWinograd, "\(name): Winograd does not apply")
        let (ho, wo) = outputSize(height: x.height, width: x.width)
        precondition(x.channels == inChannels, "\(name): input has \(x.channels) channels, expected \(inChannels)")
        precondition(y.channels == outChannels && y.height == ho && y.width == wo,
                     "\(name): output is \(y.shape), expected [\(outChannels), \(ho), \(wo)]")
        if let r = residual { precondition(r.shape == y.shape, "\(name): residual shape \(r.shape) != \(y.shape)") }
        context.measure(name, macs: macs(height: x.height, width: x.width),
                        bytes: bytesMoved(height: x.height, width: x.width, residual: residual != nil)) {
            compute(x, y, residual, algorithm, context)
        }
        context.observe(name, y)
    }

    /// Bytes of Winograd scratch (transformed inputs + products) per chunk of tiles and thread when the
    /// threads split a map by tiles: about Zen 4's per-core L2 (2 MiB measured faster than 4 MiB on DF1's
    /// 32- and 64-channel stages, docs/fp32.md). Splits by output channels take up to 8× this.
    nonisolated(unsafe) public static var winogradBudgetBytes = 2 << 20

    /// Forces one algorithm instead of the rule, for benchmarks and A/B comparisons: a Winograd variant is
    /// used wherever it applies and the map has at least 16 tiles per thread, im2col elsewhere.
    /// Set it before running, never concurrently.
    nonisolated(unsafe) public static var forcedAlgorithm: Algorithm?

    /// The map a Winograd variant runs on: the output itself, or for a dilated conv its stacked phases.
    private func winogradMapSize(outputHeight ho: Int, outputWidth wo: Int) -> (height: Int, width: Int) {
        guard dilation > 1 else { return (ho, wo) }
        let d = dilation, hp = (ho + d - 1) / d, wp = (wo + d - 1) / d
        return (d * d * (hp + 1) - 1, wp)
    }

    /// The algorithm `run` uses for an output of this size.
    public func algorithm(outputHeight: Int, outputWidth: Int, threads: Int) -> Algorithm {
        guard allowsWinograd else { return .im2col }
        let (ho, wo) = winogradMapSize(outputHeight: outputHeight, outputWidth: outputWidth)
        // Fewer tiles than this and the chunks can't keep every thread busy with sgemms worth the call.
        let tiles4 = (ho + 3) / 4 * ((wo + 3) / 4), tiles2 = (ho + 1) / 2 * ((wo + 1) / 2), minTiles = 16 * threads
        switch Conv2d.forcedAlgorithm {
        case .winograd4x4?: return tiles4 >= minTiles ? .winograd4x4 : .im2col
        case .winograd2x2?: return tiles2 >= minTiles ? .winograd2x2 : .im2col
        case .im2col?: return .im2col
        case nil: break
        }
        if tiles4 >= minTiles { return .winograd4x4 }
        if tiles2 >= minTiles { return .winograd2x2 }
        return .im2col
    }

    private func compute(_ x: Tensor, _ y: Tensor, _ residual: Tensor?, _ algorithm: Algorithm, _ context: ExecutionContext) {
        switch algorithm {
        case .winograd4x4:
            let u = winograd4x4Weights!, kernels = seg_f32_ukernels_get(seg_isa_active())!.pointee
            winogradOnPhases(x, y, residual, context) { x, y, residual, padding, relu in
                self.winograd(x, y, residual, u, tile: 4, padding: padding, relu: relu,
                              input: kernels.winograd43_input, output: kernels.winograd43_output, context)
            }
            return
        case .winograd2x2:
            let u = winograd2x2Weights.get {
                Conv2d.transformedWeights(weight, outChannels, inChannels, elements: 16, seg_f32_winograd23_weights)
            }
            winogradOnPhases(x, y, residual, context) { x, y, residual, padding, relu in
                self.winograd(x, y, residual, u, tile: 2, padding: padding, relu: relu,
                              input: seg_f32_winograd23_input, output: seg_f32_winograd23_output, context)
            }
            return
        case .im2col:
            break
        }
        let n = y.planeSize, k = reductionSize, m = outChannels
        let threads = context.threads
        let pointwise = isPointwise
        // Panel width: a multiple of 16 columns, as many panels as a multiple of the thread count.
        let budgetCols = max(64, Conv2d.panelBudgetBytes / (4 * k))
        var panels = (n + budgetCols - 1) / budgetCols
        if pointwise { panels = 1 }
        panels = max(threads, (panels + threads - 1) / threads * threads)
        var cols = (n + panels - 1) / panels
        cols = (cols + 15) / 16 * 16
        let minColsPerThread = 64
        if n >= threads * minColsPerThread || threads == 1 || m < 2 * threads {
            // Split output columns: each worker does its own panels (im2col + sgemm + epilogue).
            if !pointwise { context.reserveScratch(k * cols) }
            let panelCount = (n + cols - 1) / cols
            let workers = min(threads, panelCount)
            context.parallel(workers) { t in
                var p = t
                while p < panelCount {
                    let n0 = p * cols, nc = min(cols, n - n0)
                    self.panel(x, y, residual, n0: n0, ncols: nc, rows: 0..<m,
                               panelBuffer: pointwise ? nil : context.scratch(thread: t))
                    p += workers
                }
            }
        } else {
            // Few columns (coarse maps): build the whole panel once, then split output channels.
            var buffer: UnsafeMutablePointer<Float>? = nil
            if !pointwise {
                context.reserveScratch(k * n)
                buffer = context.scratch(thread: 0)
                im2col(x, n0: 0, ncols: n, into: buffer!)
            }
            let shared = buffer
            context.parallel(threads) { t in
                let rows = ExecutionContext.split(m, parts: threads, index: t)
                self.gemm(x, y, residual, n0: 0, ncols: n, rows: rows, panel: shared, ldPanel: n)
            }
        }
    }

    /// The conv's weights through a Winograd weight transform: `elements`×C_out×C_in floats.
    private static func transformedWeights(_ weight: TensorStorage, _ outChannels: Int, _ inChannels: Int, elements: Int,
                                           _ transform: (UnsafePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?) -> Void)
        -> TensorStorage {
        let u = TensorStorage(capacity: elements * outChannels * inChannels)
        transform(weight.pointer, outChannels, inChannels, u.pointer)
        return u
    }

    typealias WinogradInput = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, Int, Int, Int, Int,
                                              UnsafeMutablePointer<Float>?, Int) -> Void
    typealias WinogradOutput = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, Int, Int, Int,
                                               UnsafePointer<Float>?, UnsafePointer<Float>?, Int32,
                                               UnsafeMutablePointer<Float>?) -> Void

    /// Runs `body(x, y, residual, padding, relu)` on the conv's own tensors, or for a dilated conv on its
    /// stacked phases (layout in CSegKernels.h, seg_f32_phases_gather): input gathered here, then the
    /// output scattered back with the residual and ReLU applied on the way (so the residual needs no
    /// phase copy: same operations, same order as the fused epilogue).
    private func winogradOnPhases(_ x: Tensor, _ y: Tensor, _ residual: Tensor?, _ context: ExecutionContext,
                                  _ body: (Tensor, Tensor, Tensor?, Int, Bool) -> Void) {
        guard dilation > 1 else { body(x, y, residual, padding, relu); return }
        let d = dilation, h = x.height, w = x.width, threads = context.threads
        let (hs, ws) = winogradMapSize(outputHeight: h, outputWidth: w)
        let plane = hs * ws, cin = inChannels, cout = outChannels
        let storage = context.sharedScratch((cin + cout) * plane)
        let px = Tensor(storage: storage, offset: 0, channels: cin, height: hs, width: ws)
        let py = Tensor(storage: storage, offset: cin * plane, channels: cout, height: hs, width: ws)
        context.parallel(threads) { t in
            let cs = ExecutionContext.split(cin, parts: threads, index: t)
            seg_f32_phases_gather(x.data + cs.lowerBound * h * w, cs.count, h, w, d, px.data + cs.lowerBound * plane)
        }
        body(px, py, nil, 1, residual == nil && relu)
        let resPtr = residual.map { UnsafePointer($0.data) }
        context.parallel(threads) { t in
            let os = ExecutionContext.split(cout, parts: threads, index: t)
            seg_f32_phases_scatter(py.data + os.lowerBound * plane, os.count, h, w, d,
                                   resPtr.map { $0 + os.lowerBound * h * w }, residual != nil && self.relu ? 1 : 0,
                                   y.data + os.lowerBound * h * w)
        }
    }

    /// Winograd F(tile×tile,3×3): per chunk of output tiles, transform the inputs, one sgemm per transform
    /// element ((tile+2)² of them: U[e] (C_out×C_in) · V[e] (C_in×tiles)), transform back with bias, residual
    /// and ReLU fused.
    ///
    /// Two ways to share the work, chosen by which operand would otherwise be read once per thread:
    /// - by tiles (workers take whole chunks round-robin, no synchronisation): every chunk re-reads all of U,
    ///   fine while U is small next to a chunk's V, i.e. on big maps with few channels;
    /// - by output channels (all workers on one chunk: transform a share of its tiles, then their rows of U
    ///   against all of V): U is read once per chunk in total. Taken when C_out exceeds the tiles a
    ///   by-tiles chunk would hold (small maps, many channels: SFNet's last two stages; U of a 512→512
    ///   conv is 37.7 MB).
    private func winograd(_ x: Tensor, _ y: Tensor, _ residual: Tensor?, _ u: TensorStorage, tile: Int, padding: Int,
                          relu: Bool, input: WinogradInput?, output: WinogradOutput?, _ context: ExecutionContext) {
        let threads = context.threads
        let elements = (tile + 2) * (tile + 2)
        let tilesW = (y.width + tile - 1) / tile, tiles = (y.height + tile - 1) / tile * tilesW
        let cin = inChannels, cout = outChannels
        let budgetFloats = Conv2d.winogradBudgetBytes / 4
        let biasPtr = bias.map { UnsafePointer($0.pointer) }
        let resPtr = residual.map { UnsafePointer($0.data) }
        let input = input!, output = output!
        let plane = y.planeSize
        // By tiles: chunk size from the scratch budget, as many chunks as a multiple of the thread count.
        let perTile = elements * (cin + cout)
        var chunks = max(1, tiles / max(16, budgetFloats / perTile))
        chunks = (chunks + threads - 1) / threads * threads
        let nt = (tiles + chunks - 1) / chunks
        if threads > 1 && cout > nt {
            // Every chunk costs one more pass over U, so chunks here are as big as 8 budgets (16 MiB by
            // default, half of Zen 4's L3): enough for all tiles of SFNet's 512-channel convs at 1024×2048.
            let rowsPerThread = (cout + threads - 1) / threads
            let perTileShared = elements * (cin + rowsPerThread)
            let ntShared = min(tiles, max(16, 8 * budgetFloats / perTileShared))
            // Thread 0's scratch holds the chunk's V, then its products; the others' only their products.
            context.reserveScratch(perTileShared * ntShared, thread: 0)
            for t in 1..<threads { context.reserveScratch(elements * rowsPerThread * ntShared, thread: t) }
            let v = context.scratch(thread: 0)
            var t0 = 0
            while t0 < tiles {
                let count = min(ntShared, tiles - t0)
                context.parallel(threads) { t in
                    let part = ExecutionContext.split(count, parts: threads, index: t)
                    if !part.isEmpty {
                        input(x.data, cin, x.height, x.width, padding, tilesW, t0 + part.lowerBound, part.count,
                              v + part.lowerBound, count)
                    }
                }
                context.parallel(threads) { t in
                    let rows = ExecutionContext.split(cout, parts: threads, index: t)
                    guard !rows.isEmpty else { return }
                    let m = context.scratch(thread: t) + (t == 0 ? elements * cin * ntShared : 0)
                    for e in 0..<elements {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows.count), Int32(count), Int32(cin),
                                    1.0, u.pointer + (e * cout + rows.lowerBound) * cin, Int32(cin), v + e * cin * count,
                                    Int32(count), 0.0, m + e * rows.count * count, Int32(count))
                    }
                    output(m, rows.count, count, tilesW, t0, y.height, y.width, biasPtr.map { $0 + rows.lowerBound },
                           resPtr.map { $0 + rows.lowerBound * plane }, relu ? 1 : 0, y.data + rows.lowerBound * plane)
                }
                t0 += count
            }
            return
        }
        let chunkCount = (tiles + nt - 1) / nt
        context.reserveScratch(perTile * nt)
        let workers = min(threads, chunkCount)
        context.parallel(workers) { t in
            let v = context.scratch(thread: t)
            var c = t
            while c < chunkCount {
                let t0 = c * nt, count = min(nt, tiles - t0)
                let m = v + elements * cin * count
                input(x.data, cin, x.height, x.width, padding, tilesW, t0, count, v, count)
                for e in 0..<elements {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(count), Int32(cin),
                                1.0, u.pointer + e * cout * cin, Int32(cin), v + e * cin * count, Int32(count),
                                0.0, m + e * cout * count, Int32(count))
                }
                output(m, cout, count, tilesW, t0, y.height, y.width, biasPtr, resPtr, relu ? 1 : 0, y.data)
                c += workers
            }
        }
    }

    private func im2col(_ x: Tensor, n0: Int, ncols: Int, into col: UnsafeMutablePointer<Float>) {
        let (ho, wo) = outputSize(height: x.height, width: x.width)
        seg_f32_im2col_panel(x.data, inChannels, x.height, x.width, kernelHeight, kernelWidth, stride, stride,
                             padding, padding, dilation, dilation, ho, wo, n0, ncols, col)
    }

    private func panel(_ x: Tensor, _ y: Tensor, _ residual: Tensor?, n0: Int, ncols: Int, rows: Range<Int>,
                       panelBuffer: UnsafeMutablePointer<Float>?) {
        if let panelBuffer {
            im2col(x, n0: n0, ncols: ncols, into: panelBuffer)
            gemm(x, y, residual, n0: n0, ncols: ncols, rows: rows, panel: panelBuffer, ldPanel: ncols)
        } else {
            gemm(x, y, residual, n0: n0, ncols: ncols, rows: rows, panel: nil, ldPanel: 0)
        }
    }

    /// y[rows, n0..<n0+ncols] = epilogue(W[rows] · panel). A nil panel means the input itself (pointwise).
    private func gemm(_ x: Tensor, _ y: Tensor, _ residual: Tensor?, n0: Int, ncols: Int, rows: Range<Int>,
                      panel: UnsafeMutablePointer<Float>?, ldPanel: Int) {
        guard !rows.isEmpty, ncols > 0 else { return }
        let n = y.planeSize, k = reductionSize
        let b: UnsafePointer<Float> = panel.map { UnsafePointer($0) } ?? UnsafePointer(x.data + n0)
        let ldb = panel == nil ? x.planeSize : ldPanel
        let c = y.data + rows.lowerBound * n + n0
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows.count), Int32(ncols), Int32(k),
                    1.0, weight.pointer + rows.lowerBound * k, Int32(k), b, Int32(ldb), 0.0, c, Int32(n))
        let biasPtr = bias.map { UnsafePointer($0.pointer + rows.lowerBound) }
        let resPtr = residual.map { UnsafePointer($0.data + rows.lowerBound * n + n0) }
        if biasPtr != nil || resPtr != nil || relu {
            seg_f32_bias_residual_relu(c, n, rows.count, ncols, biasPtr, resPtr, n, relu ? 1 : 0)
        }
    }
}

/// A value made at most once, on first use, under a lock; then only read.
///
/// `@unchecked Sendable`: `value` is read and written only while holding `lock`.
final class OnceCell<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value?

    /// The value, made by `make` if this is the first call.
    func get(_ make: () -> Value) -> Value {
        lock.lock(); defer { lock.unlock() }
        if let value { return value }
        let v = make()
        value = v
        return v
    }
}
