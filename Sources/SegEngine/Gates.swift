import CSegKernels

/// The decoder blocks' gating ops in fp32 (issue #15, docs/blocks.md; kernels in `gate.c`): FBNet's Dual Feature
/// Modulator and IFBFNet's balanced fusion. The gates are sigmoids of small logit maps (one value per pixel or per
/// channel), computed once per op into `scratch`; the elementwise pass splits pixels across the workers.
public enum Gates {
    /// Floats of scratch `modulate` needs for a C×H×W input.
    public static func modulateScratch(channels: Int, height: Int, width: Int) -> Int { height * width + channels }
    /// Floats of scratch `balancedSum` needs for C channels.
    public static func balancedSumScratch(channels: Int) -> Int { 2 * channels }

    /// y = x + (x·σ(spatial))·σ(channel): `spatial` 1×H×W logits (the spatial sensor), `channel` C×1×1 logits (the
    /// channel sensor), both broadcast over x (C×H×W).
    public static func modulate(_ x: Tensor, spatial: Tensor, channel: Tensor, into y: Tensor,
                                scratch: UnsafeMutablePointer<Float>, context: ExecutionContext, name: String = "modulate") {
        precondition(spatial.channels == 1 && spatial.height == x.height && spatial.width == x.width, "\(name): spatial \(spatial.shape)")
        precondition(channel.count == x.channels && y.shape == x.shape, "\(name): channel \(channel.shape), y \(y.shape)")
        let hw = x.planeSize, c = x.channels
        let isa = context.isa ?? seg_isa_active()
        context.measure(name) {
            seg_f32_sigmoid(spatial.data, hw, 1, scratch)
            seg_f32_sigmoid(channel.data, c, 1, scratch + hw)
            let workers = max(1, min(context.threads, hw / 256))
            context.parallel(workers) { t in
                let r = ExecutionContext.split(hw, parts: workers, index: t)
                seg_f32_modulate_isa(isa, x.data, c, hw, scratch, scratch + hw, y.data, r.lowerBound, r.upperBound)
            }
        }
        context.observe(name, y)
    }

    /// y = 2σ(a_h)·high + 2σ(a_l)·low per channel, a = logitsHigh + logitsLow (2C×1×1 each: the balanced fusion's
    /// fc over [avgpool(high), avgpool(low)] split by input half; channels [0, C) weigh high, [C, 2C) low).
    public static func balancedSum(high: Tensor, low: Tensor, logitsHigh: Tensor, logitsLow: Tensor, into y: Tensor,
                                   scratch: UnsafeMutablePointer<Float>, context: ExecutionContext,
                                   name: String = "balanced_sum") {
        let c = high.channels, hw = high.planeSize
        precondition(low.shape == high.shape && y.shape == high.shape, "\(name): \(high.shape) \(low.shape) \(y.shape)")
        precondition(logitsHigh.count == 2 * c && logitsLow.count == 2 * c, "\(name): logits \(logitsHigh.shape)")
        let isa = context.isa ?? seg_isa_active()
        context.measure(name) {
            for k in 0..<(2 * c) { scratch[k] = logitsHigh.data[k] + logitsLow.data[k] }
            seg_f32_sigmoid(scratch, 2 * c, 2, scratch)
            let workers = max(1, min(context.threads, hw / 256))
            context.parallel(workers) { t in
                let r = ExecutionContext.split(hw, parts: workers, index: t)
                seg_f32_balanced_sum_isa(isa, high.data, low.data, c, hw, scratch, scratch + c, y.data, r.lowerBound,
                                         r.upperBound)
            }
        }
        context.observe(name, y)
    }
}
