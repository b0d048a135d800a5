import CSegKernels
import Foundation
import Testing

/// SeENet's kernels: the depthwise conv (fp32 and int8) and the BAM gate (fp32 and int8), every ISA against the
/// scalar reference on odd shapes, and the scalar references against plain independent loops.
@Suite struct DepthwiseGateKernelTests {
    struct DW: CustomStringConvertible, Sendable {
        let c: Int, h: Int, w: Int, k: Int, d: Int, relu: Bool, residual: Bool
        var p: Int { d * (k - 1) / 2 }
        var description: String { "c=\(c) \(h)x\(w) k=\(k) d=\(d) relu=\(relu) res=\(residual)" }
    }

    static let shapes: [DW] = [
        DW(c: 1, h: 1, w: 1, k: 3, d: 1, relu: false, residual: false),
        DW(c: 3, h: 7, w: 5, k: 3, d: 4, relu: true, residual: false),      // dilation larger than the map
        DW(c: 17, h: 9, w: 37, k: 3, d: 2, relu: true, residual: true),
        DW(c: 33, h: 6, w: 19, k: 5, d: 1, relu: false, residual: true),
        DW(c: 2, h: 11, w: 23, k: 9, d: 1, relu: true, residual: false),
        DW(c: 40, h: 5, w: 50, k: 3, d: 8, relu: false, residual: false),
    ]

    static func randomFloats(_ n: Int, _ rng: inout SplitMix, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in (Float(rng.next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
    }

    @Test(arguments: shapes)
    func f32DepthwiseEveryISAEqualsScalarAndScalarEqualsLoops(_ s: DW) {
        var rng = TestSeed.rng("f32dw \(s)")
        let x = Self.randomFloats(s.c * s.h * s.w, &rng), w = Self.randomFloats(s.c * s.k * s.k, &rng, scale: 0.5)
        let b = Self.randomFloats(s.c, &rng), r = s.residual ? Self.randomFloats(s.c * s.h * s.w, &rng) : []
        func run(_ isa: seg_isa) -> [Float] {
            var y = [Float](repeating: .nan, count: s.c * s.h * s.w)
            r.withUnsafeBufferPointer { rp in
                seg_f32_dwconv_isa(Int32(bitPattern: isa.rawValue), x, s.c, s.h, s.w, s.k, s.d, s.p, w, b,
                                   s.residual ? rp.baseAddress : nil, s.relu ? 1 : 0, &y)
            }
            return y
        }
        let scalar = run(SEG_ISA_SCALAR)
        // Independent loops: zero padding, bias, residual, ReLU.
        var maxErr: Float = 0
        for c in 0..<s.c { for i in 0..<s.h { for j in 0..<s.w {
            var acc: Double = 0
            for u in 0..<s.k { for v in 0..<s.k {
                let iy = i - s.p + s.d * u, ix = j - s.p + s.d * v
                guard iy >= 0, iy < s.h, ix >= 0, ix < s.w else { continue }
                acc += Double(w[(c * s.k + u) * s.k + v]) * Double(x[(c * s.h + iy) * s.w + ix])
            } }
            acc += Double(b[c]) + (s.residual ? Double(r[(c * s.h + i) * s.w + j]) : 0)
            if s.relu { acc = max(acc, 0) }
            maxErr = max(maxErr, abs(Float(acc) - scalar[(c * s.h + i) * s.w + j]))
        } } }
        #expect(maxErr <= 1e-5, "\(s): scalar vs loops \(maxErr); \(TestSeed.note)")
        for isa in simdISAs { #expect(run(isa) == scalar, "\(isaName(isa)) \(s); \(TestSeed.note)") }
    }

    @Test func f32GateEveryISAWithinTolerance() {
        var rng = TestSeed.rng("f32gate")
        for n in [1, 7, 8, 15, 16, 17, 100, 1027] {
            var a = Self.randomFloats(n, &rng, scale: 30)
            if n > 10 { a[0] = 200; a[1] = -200; a[2] = 88.5; a[3] = -87.5; a[4] = 0 }
            let b = Self.randomFloats(n, &rng, scale: 3)
            var scalar = [Float](repeating: 0, count: n)
            seg_f32_gate_isa(Int32(bitPattern: SEG_ISA_SCALAR.rawValue), a, b, &scalar, n)
            for j in 0..<n {
                let ref = Double(b[j]) / (1 + exp(Double(a[j])))
                #expect(abs(Double(scalar[j]) - ref) <= 1e-6 * max(abs(ref), 1e-30) + 1e-37, "scalar n=\(n) j=\(j) a=\(a[j])")
            }
            for isa in simdISAs {
                var y = [Float](repeating: .nan, count: n)
                seg_f32_gate_isa(Int32(bitPattern: isa.rawValue), a, b, &y, n)
                for j in 0..<n {
                    #expect(abs(y[j] - scalar[j]) <= 1e-6 * abs(scalar[j]) + 1e-37, "\(isaName(isa)) n=\(n) a=\(a[j]): \(y[j]) vs \(scalar[j])")
                }
            }
        }
    }

    @Test(arguments: shapes)
    func qu8DepthwiseEveryISAEqualsScalarAndScalarEqualsIntegerLoops(_ s: DW) throws {
        var rng = TestSeed.rng("qu8dw \(s)")
        let xStride = (s.c + 3) / 4 * 4 + (s.c % 2) * 4, yStride = s.c + 5   // padded pixels, as concat slices have
        let x = randomBytes(s.h * s.w * xStride, &rng)
        let w = randomBytes(s.c * s.k * s.k, &rng).map { Int8(clamping: Int(Int8(bitPattern: $0))) }.map { $0 == -128 ? -127 : $0 }
        let ws = (0..<s.c).map { _ in Float(rng.next() % 1000 + 1) * 1e-5 }
        let bias = Self.randomFloats(s.c, &rng, scale: 0.2)
        let xScale: Float = 0.02, yScale: Float = 0.05, xZp: UInt8 = 77, yZp: UInt8 = 130
        let packed = try #require(seg_qu8_dwconv_pack(s.c, s.k, w, ws, bias, xScale, yScale))
        defer { seg_qu8_dwconv_weights_free(packed) }
        func run(_ isa: seg_isa, rows: [Range<Int>]) -> [UInt8] {
            var y = [UInt8](repeating: 0xEE, count: s.h * s.w * yStride)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    var a = seg_qu8_dwconv_args()
                    a.w = packed
                    a.x = xp.baseAddress
                    a.in_h = s.h; a.in_w = s.w; a.x_stride = xStride
                    a.dilation = s.d; a.pad = s.p
                    a.y = yp.baseAddress; a.y_stride = yStride
                    a.x_zp = Int32(xZp); a.y_zp = Int32(yZp)
                    a.y_min = s.relu ? yZp : 0; a.y_max = 255
                    for r in rows { seg_qu8_dwconv_isa(isa, &a, r.lowerBound, r.upperBound) }
                }
            }
            return y
        }
        let scalar = run(SEG_ISA_SCALAR, rows: [0..<s.h])
        // Integer loops with the documented requantization.
        var mismatches = 0
        for i in 0..<s.h { for j in 0..<s.w { for c in 0..<s.c {
            var acc: Int32 = 0
            for u in 0..<s.k { for v in 0..<s.k {
                let iy = i - s.p + s.d * u, ix = j - s.p + s.d * v
                guard iy >= 0, iy < s.h, ix >= 0, ix < s.w else { continue }
                acc += (Int32(x[(iy * s.w + ix) * xStride + c]) - Int32(xZp)) * Int32(w[(c * s.k + u) * s.k + v])
            } }
            let sxw = xScale * ws[c]
            var vf = Float(acc + Int32(lrintf(bias[c] / sxw))) * (sxw / yScale)
            vf = min(max(vf, Float(Int32(s.relu ? yZp : 0) - Int32(yZp))), Float(255 - Int32(yZp)))
            let q = UInt8(Int32(lrintf(vf)) + Int32(yZp))
            if scalar[(i * s.w + j) * yStride + c] != q { mismatches += 1 }
        } } }
        #expect(mismatches == 0, "\(s): \(mismatches) outputs differ from the loops; \(TestSeed.note)")
        // Bytes past the channels are never written.
        #expect((0..<(s.h * s.w)).allSatisfy { p in (s.c..<yStride).allSatisfy { scalar[p * yStride + $0] == 0xEE } })
        let split = [0..<(s.h / 2), (s.h / 2)..<s.h]
        for isa in simdISAs { #expect(run(isa, rows: split) == scalar, "\(isaName(isa)) \(s); \(TestSeed.note)") }
    }

    @Test func qu8GateEveryISAEqualsScalarAndTracksFloat() {
        var rng = TestSeed.rng("qu8gate")
        let aScale: Float = 0.08, aZp: UInt8 = 120, bScale: Float = 0.03, bZp: UInt8 = 40, yScale: Float = 0.02, yZp: UInt8 = 60
        var table = [Float](repeating: 0, count: 256)
        seg_qu8_gate_table(aScale, aZp, bScale, yScale, &table)
        for (n, c, stride) in [(1, 1, 4), (3, 7, 8), (5, 8, 8), (4, 17, 20), (9, 33, 36), (2, 64, 68)] {
            let a = randomBytes(n * stride, &rng), b = randomBytes(n * stride, &rng)
            func run(_ isa: seg_isa) -> [UInt8] {
                var y = [UInt8](repeating: 0xEE, count: n * stride)
                seg_qu8_gate_isa(isa, n, c, a, stride, b, stride, table, Int32(bZp), Int32(yZp), &y, stride)
                return y
            }
            let scalar = run(SEG_ISA_SCALAR)
            for p in 0..<n {
                for k in 0..<c {
                    let av = aScale * (Float(a[p * stride + k]) - Float(aZp)), bv = bScale * (Float(b[p * stride + k]) - Float(bZp))
                    let ref = bv / (1 + exp(av)), got = yScale * (Float(scalar[p * stride + k]) - Float(yZp))
                    let lo = yScale * (0 - Float(yZp)), hi = yScale * (255 - Float(yZp))
                    #expect(abs(got - min(max(ref, lo), hi)) <= 0.5 * yScale + 1e-5, "n=\(n) c=\(c): \(got) vs \(ref)")
                }
                #expect((c..<stride).allSatisfy { scalar[p * stride + $0] == 0xEE })
            }
            for isa in simdISAs { #expect(run(isa) == scalar, "\(isaName(isa)) n=\(n) c=\(c)") }
        }
    }
}
