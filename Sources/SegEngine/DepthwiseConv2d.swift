import CSegKernels

/// A depthwise 2-D convolution (groups = channels), stride 1, with folded batch norm, fused residual add and
/// ReLU: `y[c] = relu?(conv(x[c], W[c]) + b[c] + residual?[c])` (C kernel `seg_f32_dwconv`, a scalar reference
/// beside AVX2/AVX-512 row kernels, bit-identical). The dense `Conv2d` would run it as im2col with a
/// block-diagonal weight, C times the work.
///
/// Layouts: CHW in and out; weights C×k×k (PyTorch's `[C, 1, k, k]`). Output size: `H + 2p − d(k−1)`.
/// Immutable once made; threads split the channels.
public final class DepthwiseConv2d: Sendable {
    public let name: String
    public let channels: Int, kernelSize: Int, padding: Int, dilation: Int
    public let relu: Bool
    let weight: [Float]
    let bias: [Float]

    public init(name: String, channels: Int, kernelSize: Int, padding: Int = 0, dilation: Int = 1, weight: [Float],
                bias: [Float]? = nil, batchNorm: BatchNormParameters? = nil, relu: Bool = false) {
        precondition(channels > 0 && kernelSize > 0 && dilation > 0 && padding >= 0)
        let k = kernelSize * kernelSize
        precondition(weight.count == channels * k, "\(name): weight count \(weight.count), expected \(channels * k)")
        self.name = name
        self.channels = channels; self.kernelSize = kernelSize; self.padding = padding; self.dilation = dilation
        self.relu = relu
        var w = weight, b = bias ?? [Float](repeating: 0, count: channels)
        if let bn = batchNorm {
            for c in 0..<channels {
                let s = bn.gamma[c] / (bn.variance[c] + bn.eps).squareRoot()
                for i in 0..<k { w[c * k + i] = weight[c * k + i] * s }
                b[c] = (b[c] - bn.mean[c]) * s + bn.beta[c]
            }
        }
        self.weight = w
        self.bias = b
    }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        (height + 2 * padding - dilation * (kernelSize - 1), width + 2 * padding - dilation * (kernelSize - 1))
    }

    public func macs(height: Int, width: Int) -> Int {
        let (ho, wo) = outputSize(height: height, width: width)
        return channels * kernelSize * kernelSize * ho * wo
    }

    /// Runs from `x` into `y` (either may be a channel slice); `residual` has y's shape. `isa` pins the row kernel
    /// (tests); nil: the active one.
    public func run(_ x: Tensor, into y: Tensor, residual: Tensor? = nil, context: ExecutionContext, isa: seg_isa? = nil) {
        let (ho, wo) = outputSize(height: x.height, width: x.width)
        precondition(x.channels == channels && y.shape == [channels, ho, wo],
                     "\(name): \(x.shape) into \(y.shape), expected \([channels, ho, wo])")
        if let r = residual { precondition(r.shape == y.shape, "\(name): residual shape \(r.shape) != \(y.shape)") }
        let isa = Int32(bitPattern: (isa ?? seg_isa_active()).rawValue)
        let kk = kernelSize * kernelSize
        context.measure(name, macs: macs(height: x.height, width: x.width),
                        bytes: 4 * (weight.count + x.count + y.count * (residual == nil ? 1 : 2))) {
            weight.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    let workers = min(context.threads, channels)
                    context.parallel(workers) { t in
                        let r = ExecutionContext.split(channels, parts: workers, index: t)
                        seg_f32_dwconv_isa(isa, x.data + r.lowerBound * x.planeSize, r.count, x.height, x.width, kernelSize,
                                           dilation, padding, w.baseAddress! + r.lowerBound * kk, b.baseAddress! + r.lowerBound,
                                           residual.map { UnsafePointer($0.data + r.lowerBound * $0.planeSize) },
                                           relu ? 1 : 0, y.data + r.lowerBound * y.planeSize)
                    }
                }
            }
        }
        context.observe(name, y)
    }
}
