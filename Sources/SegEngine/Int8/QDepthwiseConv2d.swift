import CSegKernels
import Foundation

/// An int8 depthwise convolution (C kernel `seg_qu8_dwconv`), stride 1: u8 NHWC in and out with per-tensor
/// params, s8 weights with per-channel scales (BN folded), int32 accumulation and the dense conv's float
/// requantization with bias and ReLU fused (docs/int8.md).
///
/// `@unchecked Sendable`: `packed` is an opaque pointer written once in `init` and only read afterwards.
public final class QDepthwiseConv2d: @unchecked Sendable {
    public let name: String
    public let channels: Int, kernelSize: Int, padding: Int, dilation: Int
    public let relu: Bool
    public let input: QuantParams, output: QuantParams
    private let packed: OpaquePointer

    /// - weight: s8 values in [−127, 127], [channels][k][k]; weightScale and bias per channel.
    public init(name: String, channels: Int, kernelSize: Int, padding: Int, dilation: Int, weight: [Int8],
                weightScale: [Float], bias: [Float], input: QuantParams, output: QuantParams, relu: Bool) {
        precondition(weight.count == channels * kernelSize * kernelSize && weightScale.count == channels && bias.count == channels,
                     "\(name): weight/scale/bias count")
        precondition(kernelSize * kernelSize <= Int(SEG_QU8_DW_MAX_TAPS), "\(name): kernel too large")
        self.name = name
        self.channels = channels; self.kernelSize = kernelSize; self.padding = padding; self.dilation = dilation
        self.relu = relu
        self.input = input
        self.output = output
        guard let p = seg_qu8_dwconv_pack(channels, kernelSize, weight, weightScale, bias, input.scale, output.scale) else {
            fatalError("\(name): out of memory packing weights")
        }
        packed = p
    }

    deinit { seg_qu8_dwconv_weights_free(packed) }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        (height + 2 * padding - dilation * (kernelSize - 1), width + 2 * padding - dilation * (kernelSize - 1))
    }

    public func macs(height: Int, width: Int) -> Int {
        let (ho, wo) = outputSize(height: height, width: width)
        return channels * kernelSize * kernelSize * ho * wo
    }

    /// y (possibly a concat slice) = relu?(dwconv(x)).
    public func run(_ x: QTensor, into y: QTensor, context: ExecutionContext, isa: seg_isa? = nil) {
        let (ho, wo) = outputSize(height: x.height, width: x.width)
        precondition(x.channels == channels && y.shape == [ho, wo, channels], "\(name): \(x.shape) into \(y.shape)")
        precondition(x.params == input && y.params == output, "\(name): tensor params differ from the packed ones")
        var args = seg_qu8_dwconv_args()
        args.w = packed
        args.x = UnsafePointer(x.data)
        args.in_h = x.height
        args.in_w = x.width
        args.x_stride = x.pixelStride
        args.dilation = dilation
        args.pad = padding
        args.y = y.data
        args.y_stride = y.pixelStride
        args.x_zp = Int32(input.zeroPoint)
        args.y_zp = Int32(output.zeroPoint)
        args.y_min = relu ? output.zeroPoint : 0
        args.y_max = 255
        context.measure(name, macs: macs(height: x.height, width: x.width),
                        bytes: channels * kernelSize * kernelSize + x.channels * x.pixelCount + y.channels * y.pixelCount) {
            QOps.rows(ho, context, minRowsPerWorker: 1) { r in
                var a = args
                if let isa { seg_qu8_dwconv_isa(isa, &a, r.lowerBound, r.upperBound) }
                else { seg_qu8_dwconv(&a, r.lowerBound, r.upperBound) }
            }
        }
    }
}
