import CSegKernels
import Testing

/// The int8 Winograd F(4×4,3×3) (`seg_qu8_winograd43_*`): exact, so every comparison is byte for byte —
/// against the dense conv (`seg_qu8_conv_isa`, scalar) and, per ISA, against the scalar Winograd.
@Suite("qu8 Winograd F(4x4,3x3)")
struct QU8WinogradTests {
    /// A ConvProblem run through the Winograd path.
    final class WinogradRun {
        let p: ConvProblem
        let w: OpaquePointer
        let scratch: UnsafeMutableRawPointer

        init(_ p: ConvProblem) {
            self.p = p
            w = p.w.withUnsafeBufferPointer { seg_qu8_winograd43_pack(p.packed, $0.baseAddress)! }
            scratch = .allocate(byteCount: seg_qu8_winograd43_scratch_bytes(w), alignment: 64)
        }
        deinit {
            seg_qu8_winograd43_weights_free(w)
            scratch.deallocate()
        }

        /// Output bytes (sentinel-filled first, so stray writes show), tile rows cut at `split` into two calls.
        func run(_ isa: seg_isa, split: Double = 1) -> [UInt8] {
            let c = p.c
            var y = [UInt8](repeating: 0xA5, count: max(1, c.outH * c.outW * c.yStride))
            let (rz, yz, rs, ys) = (p.rZp, p.yZp, p.rScale, p.yScale)
            p.x.withUnsafeBufferPointer { xp in
                p.r.withUnsafeBufferPointer { rp in
                    y.withUnsafeMutableBufferPointer { yp in
                        var a = seg_qu8_winograd43_args(
                            w: w, x: xp.baseAddress, x_stride: c.xStride, in_h: c.inH, in_w: c.inW, out_h: c.outH,
                            out_w: c.outW, pad: c.pad, dilation: c.dilation, x_zp: p.xZp, y: yp.baseAddress,
                            y_stride: c.yStride, r: c.residual ? rp.baseAddress : nil, r_stride: c.cout,
                            r_mult: rs / ys, r_zp: rz, y_zp: yz, y_min: c.relu ? yz : 0, y_max: 255)
                        let rows = seg_qu8_winograd43_tile_rows(&a)
                        let cut = Int((Double(rows) * split).rounded(.down))
                        seg_qu8_winograd43_isa(isa, &a, 0, cut, scratch)
                        seg_qu8_winograd43_isa(isa, &a, cut, rows, scratch)
                    }
                }
            }
            return y
        }
    }

    /// 3×3 stride-1 u8-output cases: odd sizes, maps smaller than a tile, padding 0…2·dilation, dilation
    /// 1, 2, 4, channel counts off every vector width, residual, ReLU, strided input and output pixels.
    static func randomCase(_ rng: inout SplitMix) -> ConvCase {
        var c = ConvCase()
        c.cin = [1, 2, 3, 5, 8, 19, 31, 32, 33, 64, 67, 130].randomElement(using: &rng)!
        c.cout = [1, 3, 16, 19, 31, 48, 64, 65, 80, 128, 130].randomElement(using: &rng)!
        c.dilation = [1, 1, 1, 2, 4].randomElement(using: &rng)!
        c.pad = Int.random(in: 0...2, using: &rng) * c.dilation
        c.inH = Int.random(in: 1...19, using: &rng)
        c.inW = Int.random(in: 1...23, using: &rng)
        while c.outH < 1 || c.outW < 1 { c.inH += 1; c.inW += 1 }
        c.xStride = (c.cin + 3) / 4 * 4 + [0, 0, 4, 12].randomElement(using: &rng)!
        c.yStride = c.cout + [0, 0, 1, 7].randomElement(using: &rng)!
        c.residual = Bool.random(using: &rng)
        c.relu = Bool.random(using: &rng)
        c.bias = Bool.random(using: &rng)
        return c
    }

    @Test("the scalar Winograd equals the dense conv byte for byte (random shapes, dilation, padding)")
    func equalsDense() {
        var rng = TestSeed.rng("wino.dense")
        for _ in 0..<120 {
            let c = Self.randomCase(&rng)
            let p = ConvProblem(c, &rng)
            let bad = mismatch(WinogradRun(p).run(SEG_ISA_SCALAR), p.run(SEG_ISA_SCALAR))
            #expect(bad == nil, "Winograd != dense: \(bad ?? ""); \(c); \(TestSeed.note)")
            if bad != nil { return }
        }
    }

    /// Wide layers with uniform weights in [−127, 127] need several input-channel slices (255·Σ|w| > 2^26).
    @Test("layers cut into several slices equal the dense conv, in every ISA")
    func slices() {
        var rng = TestSeed.rng("wino.slices")
        for i in 0..<6 {
            var c = Self.randomCase(&rng)
            c.cin = [517, 600, 1030][i % 3]
            c.cout = [7, 64, 80][i % 3]
            c.inH = min(c.inH, 9); c.inW = min(c.inW, 11)
            while c.outH < 1 || c.outW < 1 { c.inH += 1; c.inW += 1 }
            c.xStride = (c.cin + 3) / 4 * 4
            c.yStride = c.cout + i % 2
            let p = ConvProblem(c, &rng)
            let slices = p.w.withUnsafeBufferPointer { seg_qu8_winograd43_slices(c.cout, c.cin, $0.baseAddress) }
            #expect(slices >= 2, "\(c): \(slices) slice(s)")
            let run = WinogradRun(p), want = p.run(SEG_ISA_SCALAR)
            for isa in [SEG_ISA_SCALAR] + simdISAs {
                let bad = mismatch(run.run(isa, split: 0.5), want)
                #expect(bad == nil, "\(isaName(isa)) Winograd != dense: \(bad ?? ""); \(c); \(TestSeed.note)")
            }
        }
    }

    @Test("every ISA equals the scalar Winograd byte for byte, work split at any tile row")
    func everyISA() {
        var rng = TestSeed.rng("wino.isa")
        for _ in 0..<120 {
            let c = Self.randomCase(&rng)
            let run = WinogradRun(ConvProblem(c, &rng))
            let ref = run.run(SEG_ISA_SCALAR)
            for isa in simdISAs {
                let bad = mismatch(run.run(isa, split: Double.random(in: 0...1, using: &rng)), ref)
                #expect(bad == nil, "\(isaName(isa)) != scalar: \(bad ?? ""); \(c); \(TestSeed.note)")
                if bad != nil { return }
            }
        }
    }

    /// Weights at the exactness bound (channel 0: 255·Σ|w| = 2^26 − 2, the most one slice takes, sign by input channel; channels
    /// 1 and 2 as large or past it, all positive and all negative) with the inputs that reach the accumulator's extremes: all 255, all 0,
    /// and 255 exactly where channel 0's weights are positive (its maximum) or negative (its minimum). The
    /// output scale puts those extremes at most 56 LSB from the zero point, unclamped, so a wrong recovery
    /// (off by a multiple of 2^26) changes the bytes.
    @Test("exact at the accumulator's extremes, in one slice and in two")
    func extremes() {
        var rng = TestSeed.rng("wino.extremes")
        let cin = 256, cout = 3, k = cin * 9
        let negative = (0..<cin).map { $0 % 3 == 0 }
        /// ±127 (the sign by input channel, or all `sign`), magnitudes cut until Σ|w| = sum.
        func channel(sum: Int, sign: Int8? = nil) -> [Int8] {
            var w = (0..<k).map { i in sign.map { $0 * 127 } ?? Int8(negative[i / 9] ? -127 : 127) }
            var excess = w.reduce(0) { $0 + abs(Int($1)) } - sum
            for i in 0..<k where excess > 0 {
                let cut = min(excess, 100)
                w[i] = w[i] < 0 ? w[i] + Int8(cut) : w[i] - Int8(cut)
                excess -= cut
            }
            return w
        }
        // The largest Σ|w| one slice takes: 255·263 172 = 67 108 860 ≤ 2^26 − 2; one more needs two.
        #expect(seg_qu8_winograd43_slices(1, cin, channel(sum: 263_172)) == 1)
        #expect(seg_qu8_winograd43_slices(1, cin, channel(sum: 263_173)) == 2)
        let w0 = channel(sum: 263_172)
        #expect(w0.reduce(0) { $0 + abs(Int($1)) } == 263_172)
        for (weights, slices) in [(w0 + channel(sum: 263_172, sign: 1) + channel(sum: 263_172, sign: -1), 1),
                                  (w0 + channel(sum: 292_608, sign: 1) + channel(sum: 292_608, sign: -1), 2)] {
            #expect(seg_qu8_winograd43_slices(cout, cin, weights) == slices)
            var c = ConvCase(cin: cin, cout: cout, kh: 3, kw: 3, pad: 1, inH: 9, inW: 10, xStride: cin, yStride: cout)
            c.bias = false
            let n = c.inH * c.inW * cin
            let inputs: [[UInt8]] = [
                [UInt8](repeating: 255, count: n), [UInt8](repeating: 0, count: n),
                (0..<n).map { negative[$0 % cin] ? 0 : 255 }, (0..<n).map { negative[$0 % cin] ? 255 : 0 },
            ]
            for input in inputs {
                // |acc − zp·Σw| ≤ 255·292608; real = that·0.02·w_scale (≤ 0.015) ⇒ ≤ 22 390; 56 LSB at 400.
                let p = ConvProblem(c, &rng, weights: weights, input: input, outputScale: 400, outputZeroPoint: 128)
                let run = WinogradRun(p)
                let want = p.run(SEG_ISA_SCALAR)
                #expect(!want.contains(0) && !want.contains(255), "outputs clamped: the case would hide a wrong acc")
                for isa in [SEG_ISA_SCALAR] + simdISAs {
                    let bad = mismatch(run.run(isa), want)
                    #expect(bad == nil, "\(isaName(isa)) Winograd != dense at the extremes: \(bad ?? ""); \(TestSeed.note)")
                }
            }
        }
        // 256 channels × 9 taps all at 127: 255·Σ|w| = 74.6 M > 2^26; 1200 channels: 349 M, 6 slices.
        #expect(seg_qu8_winograd43_slices(1, cin, [Int8](repeating: 127, count: k)) == 2)
        #expect(seg_qu8_winograd43_slices(1, 1200, [Int8](repeating: -127, count: 1200 * 9)) == 6)
        #expect(seg_qu8_winograd43_slices(1, 1, [Int8](repeating: -127, count: 9)) == 1)
    }
}
