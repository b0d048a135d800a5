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
/// `@unchecked Sendable`: `packed` is an opaque pointer to weights written once in `init` and only read
/// afterwards (freed in `deinit`); every other stored property is an immutable value.
public final class QConv2d: @unchecked Sendable {
    public let name: String
    public let inChannels: Int, outChannels: Int
    public let kernelSize: Int, stride: Int, padding: Int, dilation: Int
    public let relu: Bool
    public let input: QuantParams
    /// nil: fp32 output.
    public let output: QuantParams?
    private let packed: OpaquePointer

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
    }

    deinit {
        seg_qu8_conv_weights_free(packed)
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
        let ind = table(for: x, context: context)
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
        context.measure(name, macs: macs(height: x.height, width: x.width),
                        bytes: bytesMoved(height: x.height, width: x.width, residual: residual != nil)) {
            execute(args, height: ho, width: wo, context: context, isa: isa)
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
        precondition(quantizesItsInput, "\(name): not a 3-channel 3×3/s2/p1 conv with u8 output")
        let out = output!
        let (ho, wo) = outputSize(height: x.height, width: x.width)
        precondition(x.channels == 3 && x.height > 0 && x.width > 0, "\(name): input \(x.shape)")
        precondition(y.channels == outChannels && y.height == ho && y.width == wo && y.params == out,
                     "\(name): output is \(y.shape) \(y.params), expected [\(ho), \(wo), \(outChannels)] \(out)")
        let args = seg_qu8_stem_args(
            w: packed, x: UnsafePointer(x.data), in_h: x.height, in_w: x.width, x_scale: input.scale,
            x_zp: input.zeroPoint, y: y.data, y_stride: y.pixelStride, y_zp: out.zeroPoint,
            y_min: relu ? out.zeroPoint : 0, y_max: 255)
        context.reserveScratch((seg_qu8_stem_scratch_bytes(x.width) + 3) / 4)
        let bytes = outChannels * 27 + 4 * 3 * x.height * x.width + outChannels * ho * wo
        context.measure(name, macs: macs(height: x.height, width: x.width), bytes: bytes) {
            let workers = min(context.threads, ho)
            context.parallel(workers) { t in
                var a = args
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
    private func execute(_ args: seg_qu8_conv_args, height: Int, width: Int, context: ExecutionContext, isa: seg_isa?) {
        let pixels = height * width
        // Below ~2 micro-tiles of work per thread the fan-out costs more than it saves.
        let workers = max(1, min(context.threads, height, pixels / 24))
        context.parallel(workers) { t in
            var a = args
            let rows = ExecutionContext.split(height, parts: workers, index: t)
            if let isa { seg_qu8_conv_isa(isa, &a, rows.lowerBound * width, rows.upperBound * width) }
            else { seg_qu8_conv(&a, rows.lowerBound * width, rows.upperBound * width) }
        }
    }
}
