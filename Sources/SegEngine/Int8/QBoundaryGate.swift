import CSegKernels

extension QOps {
    /// The 256-entry table of the int8 boundary gate for these params (`seg_qu8_gate_table`).
    public static func gateTable(attention a: QuantParams, feature b: QuantParams, output y: QuantParams) -> [Float] {
        var t = [Float](repeating: 0, count: 256)
        seg_qu8_gate_table(a.scale, a.zeroPoint, b.scale, y.scale, &t)
        return t
    }

    /// y ≈ b·(1 − σ(a)) requantized to y's params (SeENet's BAM); `table` from `gateTable` for these params.
    public static func boundaryGate(attention a: QTensor, feature b: QTensor, into y: QTensor, table: [Float],
                                    context: ExecutionContext, isa: seg_isa? = nil, name: String = "gate") {
        precondition(a.shape == b.shape && b.shape == y.shape && table.count == 256, "\(name): \(a.shape), \(b.shape) into \(y.shape)")
        context.measure(name, bytes: 3 * y.channels * y.pixelCount) {
            table.withUnsafeBufferPointer { t in
                rows(y.height, context, minRowsPerWorker: 1) { r in
                    let p0 = r.lowerBound * y.width, n = r.count * y.width
                    let args = (a.data + p0 * a.pixelStride, b.data + p0 * b.pixelStride, y.data + p0 * y.pixelStride)
                    if let isa {
                        seg_qu8_gate_isa(isa, n, y.channels, args.0, a.pixelStride, args.1, b.pixelStride, t.baseAddress,
                                         Int32(b.params.zeroPoint), Int32(y.params.zeroPoint), args.2, y.pixelStride)
                    } else {
                        seg_qu8_gate(n, y.channels, args.0, a.pixelStride, args.1, b.pixelStride, t.baseAddress,
                                     Int32(b.params.zeroPoint), Int32(y.params.zeroPoint), args.2, y.pixelStride)
                    }
                }
            }
        }
    }
}
