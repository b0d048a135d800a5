import CSegKernels

/// The FAM warp of SFNet, fused with its upsample and the `lat +` residual.
public enum FlowWarp {
    /// out = lat + grid_sample(high, base_grid + flow/(W_o, H_o)) with bilinear taps and zero padding.
    ///
    /// - high: C×H_i×W_i coarse map, sampled directly at the output grid (no separate upsample).
    /// - flow: 2×H_o×W_o, channel 0 = x (width), channel 1 = y (height), in output pixels·2/size units.
    /// - lat: C×H_o×W_o or nil (then out is the pure warp).
    /// - alignCorners: grid_sample's corner convention (SFNet checkpoints: see the model's config).
    public static func warpAdd(high: Tensor, flow: Tensor, lat: Tensor?, into out: Tensor, alignCorners: Bool,
                               context: ExecutionContext, name: String = "flow_warp") {
        precondition(flow.channels == 2 && flow.height == out.height && flow.width == out.width, "flow shape \(flow.shape)")
        precondition(out.channels == high.channels, "warp: \(high.channels) channels into \(out.channels)")
        if let lat { precondition(lat.shape == out.shape, "lat shape \(lat.shape) != \(out.shape)") }
        context.measure(name) {
            let workers = min(context.threads, out.height)
            context.parallel(workers) { t in
                let rows = ExecutionContext.split(out.height, parts: workers, index: t)
                seg_f32_flow_warp_add(high.data, high.channels, high.height, high.width, flow.data,
                                      lat.map { UnsafePointer($0.data) }, out.data, out.height, out.width,
                                      rows.lowerBound, rows.upperBound, alignCorners ? 1 : 0)
            }
        }
        context.observe(name, out)
    }
}
