import CSegKernels
import Testing

@Suite("qu8 convolution")
struct QU8ConvTests {
    /// A random case over the shapes that matter: odd channel counts, K not a multiple of the block,
    /// Cout not a multiple of 16 or 64, 1×1 / 3×3, stride 2, padding, dilation 2 and 4, residual, ReLU,
    /// output stride > Cout, ranges starting mid-row.
    static func randomCase(_ rng: inout SplitMix) -> ConvCase {
        var c = ConvCase()
        c.cin = [1, 2, 3, 4, 5, 8, 19, 32, 33, 64, 67, 128].randomElement(using: &rng)!
        c.cout = [1, 2, 3, 16, 19, 31, 48, 64, 65, 80, 128, 130].randomElement(using: &rng)!
        let k = [1, 1, 3, 3, 3, 2].randomElement(using: &rng)!
        c.kh = k; c.kw = k
        c.stride = [1, 1, 2].randomElement(using: &rng)!
        c.dilation = k == 1 ? 1 : [1, 1, 2, 4].randomElement(using: &rng)!
        c.pad = k == 1 ? 0 : [0, c.dilation, c.dilation].randomElement(using: &rng)!
        c.inH = Int.random(in: 1...13, using: &rng)
        c.inW = Int.random(in: 1...17, using: &rng)
        while c.outH < 1 || c.outW < 1 { c.inH += 1; c.inW += 1 }
        let cin4 = (c.cin + 3) / 4 * 4
        c.xStride = cin4 + [0, 0, 4, 12].randomElement(using: &rng)!
        c.residual = Bool.random(using: &rng)
        c.relu = Bool.random(using: &rng)
        c.f32 = Int.random(in: 0..<5, using: &rng) == 0
        c.bias = Bool.random(using: &rng)
        c.yStride = (c.f32 ? 4 : 1) * (c.cout + [0, 0, 1, 7].randomElement(using: &rng)!)
        let pixels = c.outH * c.outW
        if Bool.random(using: &rng) {
            c.pixelBegin = Int.random(in: 0..<pixels, using: &rng)
            c.pixelEnd = Int.random(in: (c.pixelBegin + 1)...pixels, using: &rng)
        }
        return c
    }

    @Test("every ISA equals the scalar reference bit for bit (random shapes)")
    func randomShapes() {
        var rng = TestSeed.rng("conv.random")
        for _ in 0..<150 {
            let c = Self.randomCase(&rng)
            let p = ConvProblem(c, &rng)
            let ref = p.run(SEG_ISA_SCALAR)
            for isa in simdISAs {
                let bad = mismatch(p.run(isa, rebase: Bool.random(using: &rng)), ref)
                #expect(bad == nil, "\(isaName(isa)) != scalar: \(bad ?? ""); \(c); \(TestSeed.note)")
                if bad != nil { return }
            }
        }
    }

    @Test("fixed edge cases: 1×1 image, classifier, stride 2, dilation 4, bigger shapes")
    func edgeCases() {
        var rng = TestSeed.rng("conv.edges")
        var cases: [ConvCase] = []
        cases.append(ConvCase(cin: 3, cout: 16, kh: 3, kw: 3, pad: 1, inH: 1, inW: 1, xStride: 4, yStride: 16))
        cases.append(ConvCase(cin: 128, cout: 19, kh: 1, kw: 1, pad: 0, inH: 9, inW: 11, xStride: 128, yStride: 19))
        cases.append(ConvCase(cin: 128, cout: 19, kh: 1, kw: 1, pad: 0, inH: 9, inW: 11, xStride: 128, yStride: 76, f32: true))
        cases.append(ConvCase(cin: 128, cout: 2, kh: 3, kw: 3, pad: 1, inH: 8, inW: 8, xStride: 128, yStride: 8, f32: true))
        // The narrow (≤ 4 outputs) dot kernels: K tails below 64, several 64-byte steps, u8 output + residual.
        cases.append(ConvCase(cin: 256, cout: 2, kh: 3, kw: 3, pad: 1, inH: 9, inW: 7, xStride: 256, yStride: 8, f32: true))
        cases.append(ConvCase(cin: 200, cout: 4, kh: 3, kw: 3, pad: 1, inH: 6, inW: 11, xStride: 204, yStride: 5, residual: true, relu: true, pixelBegin: 3, pixelEnd: 61))
        cases.append(ConvCase(cin: 70, cout: 3, kh: 1, kw: 1, pad: 0, inH: 5, inW: 5, xStride: 72, yStride: 3))
        cases.append(ConvCase(cin: 64, cout: 128, kh: 3, kw: 3, stride: 2, pad: 1, inH: 15, inW: 17, xStride: 64, yStride: 128))
        cases.append(ConvCase(cin: 64, cout: 64, kh: 3, kw: 3, dilation: 4, pad: 4, inH: 12, inW: 10, xStride: 64, yStride: 64, residual: true, relu: true))
        cases.append(ConvCase(cin: 128, cout: 128, kh: 3, kw: 3, dilation: 2, pad: 2, inH: 16, inW: 24, xStride: 128, yStride: 512, residual: true, relu: true))
        cases.append(ConvCase(cin: 512, cout: 64, kh: 1, kw: 1, stride: 2, pad: 0, inH: 9, inW: 13, xStride: 1024, yStride: 64))
        cases.append(ConvCase(cin: 130, cout: 200, kh: 3, kw: 3, pad: 1, inH: 20, inW: 21, xStride: 132, yStride: 256, residual: true, relu: false, pixelBegin: 37, pixelEnd: 301))
        for c in cases {
            let p = ConvProblem(c, &rng)
            let ref = p.run(SEG_ISA_SCALAR)
            for isa in simdISAs {
                let bad = mismatch(p.run(isa), ref), bad2 = mismatch(p.run(isa, rebase: true), ref)
                #expect(bad == nil, "\(isaName(isa)) != scalar: \(bad ?? ""); \(c); \(TestSeed.note)")
                #expect(bad2 == nil, "\(isaName(isa)) rebased != scalar: \(bad2 ?? ""); \(c); \(TestSeed.note)")
            }
        }
    }

    @Test("the scalar oracle matches a float computation within ±1 LSB")
    func oracleAgainstFloat() {
        var rng = TestSeed.rng("conv.float")
        for i in 0..<40 {
            var c = Self.randomCase(&rng)
            c.yStride = (c.f32 ? 4 : 1) * c.cout
            c.pixelBegin = 0; c.pixelEnd = Int.max
            if i < 4 { c.inH = min(c.inH, 6); c.inW = min(c.inW, 6) }
            let p = ConvProblem(c, &rng)
            let got = p.run(SEG_ISA_SCALAR)
            let want = p.floatReference()
            var worst: Float = 0
            got.withUnsafeBytes { raw in
                for i in 0..<want.count {
                    let g: Float = c.f32 ? raw.load(fromByteOffset: i * 4, as: Float.self) : Float(raw[i])
                    // fp32 output: relative tolerance (float accumulation order differs).
                    let tol: Float = c.f32 ? 1e-4 * max(1, abs(want[i])) * 10 : 1
                    worst = max(worst, abs(g - want[i]) - tol)
                }
            }
            #expect(worst <= 0, "scalar vs float off by \(worst) beyond tolerance: \(c); \(TestSeed.note)")
        }
    }

    @Test("pack rejects nothing it should not, quantize_weights is symmetric per channel")
    func quantizeWeights() {
        let w: [Float] = [0.5, -1.0, 0.25, 0, 0, 0]
        var q = [Int8](repeating: 0, count: 6)
        var s = [Float](repeating: 0, count: 2)
        seg_qu8_quantize_weights(2, 3, w, &q, &s)
        #expect(q[1] == -127 && q[0] == 64 && s[1] == 1)
        #expect(abs(s[0] - 1.0 / 127) < 1e-9)
    }
}

@Suite("ISA dispatch")
struct ISADispatchTests {
    @Test("active ISA is supported and named")
    func active() {
        let a = seg_isa_active()
        #expect(seg_isa_supported(a) != 0)
        #expect(seg_isa_supported(SEG_ISA_SCALAR) != 0)
        #expect(["scalar", "avx2", "avx512vnni"].contains(isaName(a)))
        if seg_isa_override_status() == 0 { #expect(a == seg_isa_best()) }
    }

    @Test("SEGSTREAM_ISA rule: names, unsupported and unknown requests")
    func resolve() {
        var isa = SEG_ISA_SCALAR
        #expect(seg_isa_resolve(nil, &isa, 1) == 0 && isa == seg_isa_best())
        #expect(seg_isa_resolve("", &isa, 1) == 0 && isa == seg_isa_best())
        #expect(seg_isa_resolve("scalar", &isa, 1) == 1 && isa == SEG_ISA_SCALAR)
        #expect(seg_isa_resolve("avx-9000", &isa, 1) == -1 && isa == seg_isa_best())
        for i in [SEG_ISA_AVX2, SEG_ISA_AVX512VNNI] {
            let status = seg_isa_resolve(seg_isa_name(i), &isa, 1)
            if seg_isa_supported(i) != 0 { #expect(status == 1 && isa == i) } else { #expect(status == -1 && isa == seg_isa_best()) }
        }
    }
}
