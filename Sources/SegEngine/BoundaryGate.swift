import CSegKernels

/// SeENet's boundary gate (BAM, SeENet §3.3): `y = b·(1 − σ(a))`, elementwise over same-shaped CHW tensors
/// (`seg_f32_gate`).
public enum BoundaryGate {
    public static func apply(attention a: Tensor, feature b: Tensor, into y: Tensor, context: ExecutionContext,
                             isa: seg_isa? = nil, name: String = "gate") {
        precondition(a.shape == b.shape && b.shape == y.shape, "\(name): \(a.shape), \(b.shape) into \(y.shape)")
        let isa = Int32(bitPattern: (isa ?? seg_isa_active()).rawValue)
        context.measure(name, bytes: 12 * y.count) {
            let workers = min(context.threads, y.channels)
            context.parallel(workers) { t in
                let r = ExecutionContext.split(y.channels, parts: workers, index: t)
                let o = r.lowerBound * y.planeSize
                seg_f32_gate_isa(isa, a.data + o, b.data + o, y.data + o, r.count * y.planeSize)
            }
        }
        context.observe(name, y)
    }
}
