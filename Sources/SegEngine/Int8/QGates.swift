import CSegKernels

/// The decoder blocks' gating ops on u8 NHWC (issue #15, docs/blocks.md; kernels in `gate.c`). The gate logits are
/// the fp32 outputs of the blocks' convs (NHWC: H×W floats for a per-pixel gate, C for a per-channel one); their
/// sigmoids, folded with the requantization scales, are computed once per op into `scratch`.
extension QOps {
    /// Floats of scratch `modulate` needs.
    public static func modulateScratch(channels: Int, height: Int, width: Int) -> Int { height * width + channels }
    /// Floats of scratch `balancedSum` needs.
    public static func balancedSumScratch(channels: Int) -> Int { 2 * channels }

    /// y = x + (x·σ(spatial))·σ(channel) (FBNet's DFM), requantized to y's params.
    public static func modulate(_ x: QTensor, spatial: UnsafePointer<Float>, channel: UnsafePointer<Float>, into y: QTensor,
                                scratch: UnsafeMutablePointer<Float>, context: ExecutionContext, isa: seg_isa? = nil,
                                name: String = "modulate") {
        precondition(x.channels == y.channels && x.height == y.height && x.width == y.width, "\(name): \(x.shape) into \(y.shape)")
        let hw = x.height * x.width, c = x.channels
        let mult = x.params.scale / y.params.scale
        let isa = isa ?? seg_isa_active()
        context.measure(name) {
            seg_f32_sigmoid(spatial, hw, 1, scratch)
            seg_f32_sigmoid(channel, c, 1, scratch + hw)
            rows(x.height, context, minRowsPerWorker: 1) { r in
                seg_qu8_modulate_isa(isa, c, x.data, x.pixelStride, x.params.zeroPoint, mult, scratch, scratch + hw,
                                     y.data, y.pixelStride, y.params.zeroPoint, r.lowerBound * x.width, r.upperBound * x.width)
            }
        }
    }

    /// y = 2σ(a_h)·high + 2σ(a_l)·low per channel, a = logitsHigh + logitsLow (2C floats each; IFBFNet's balanced
    /// fusion), requantized to y's params; high, low and y keep their own params.
    public static func balancedSum(high: QTensor, low: QTensor, logitsHigh: UnsafePointer<Float>,
                                   logitsLow: UnsafePointer<Float>, into y: QTensor, scratch: UnsafeMutablePointer<Float>,
                                   context: ExecutionContext, isa: seg_isa? = nil, name: String = "balanced_sum") {
        let c = high.channels
        precondition(low.shape == high.shape && y.shape == high.shape, "\(name): \(high.shape) \(low.shape) \(y.shape)")
        let isa = isa ?? seg_isa_active()
        let hMult = high.params.scale / y.params.scale, lMult = low.params.scale / y.params.scale
        context.measure(name) {
            for k in 0..<(2 * c) { scratch[k] = logitsHigh[k] + logitsLow[k] }
            seg_f32_sigmoid(scratch, 2 * c, 2, scratch)
            for k in 0..<c {
                scratch[k] *= hMult
                scratch[c + k] *= lMult
            }
            rows(high.height, context, minRowsPerWorker: 1) { r in
                seg_qu8_balanced_sum_isa(isa, c, high.data, high.pixelStride, high.params.zeroPoint, scratch, low.data,
                                         low.pixelStride, low.params.zeroPoint, scratch + c, y.data, y.pixelStride,
                                         y.params.zeroPoint, r.lowerBound * high.width, r.upperBound * high.width)
            }
        }
    }
}
