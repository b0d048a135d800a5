import CSegKernels
import Testing

/// The fused first conv (`seg_qu8_stem_conv`) against its definition: quantize the fp32 CHW input to RGBX as
/// the engine's `QOps.quantize` does (written out here), then the scalar igemm over an indirection table.
@Suite("qu8 fused stem conv")
struct QU8StemTests {
    struct Case: CustomStringConvertible {
        var inH = 9, inW = 13, cout = 32, yStride = 32, relu = true, split = 0
        /// Scales that put (acc + bias)·mult far beyond 2^31 before the clamp: the AVX-512 kernel's integer
        /// epilogue would overflow there, so its range check must fall back to the float clamp.
        var hugeMultiplier = false
        var outH: Int { (inH - 1) / 2 + 1 }
        var outW: Int { (inW - 1) / 2 + 1 }
        var description: String {
            "in=\(inH)x\(inW) cout=\(cout) yStride=\(yStride) relu=\(relu) split=\(split) hugeMultiplier=\(hugeMultiplier)"
        }
    }

    /// Runs one case in every ISA (scalar included) and compares with the reference; nil when all agree.
    static func check(_ c: Case, _ rng: inout SplitMix) -> String? {
        let hw = c.inH * c.inW
        // Values around the quantization range and beyond it (clamping), with exact .5 ties now and then.
        let xScale = c.hugeMultiplier ? 1000 : Float(Int.random(in: 5...60, using: &rng)) / 1000
        let xZp = UInt8.random(in: 0...255, using: &rng)
        let x: [Float] = (0..<(3 * hw)).map { _ in
            Int.random(in: 0..<8, using: &rng) == 0 ? (Float(Int.random(in: -300...300, using: &rng)) + 0.5) * xScale
                : Float.random(in: -4...4, using: &rng)
        }
        let w = (0..<(c.cout * 27)).map { _ in Int8.random(in: -127...127, using: &rng) }
        let wScale = (0..<c.cout).map { _ in Float.random(in: 0.001...0.02, using: &rng) }
        let bias = (0..<c.cout).map { _ in Float.random(in: -2...2, using: &rng) }
        let yScale = c.hugeMultiplier ? 1e-6 : Float.random(in: 0.01...0.1, using: &rng)
        let yZp = UInt8.random(in: 0...255, using: &rng)
        guard let packed = seg_qu8_conv_pack(c.cout, 3, 3, 3, w, wScale, bias, xScale, xZp, yScale) else { return "pack failed" }
        defer { seg_qu8_conv_weights_free(packed) }
        if seg_qu8_stem_supported(packed) == 0 { return "stem not supported for cout \(c.cout)" }

        // Reference: QOps.quantize's expression per channel, RGBX words, then the scalar conv.
        let inv = 1 / xScale, zp = Float(xZp)
        var xq = [UInt8](repeating: 0, count: hw * 4)
        for p in 0..<hw {
            for k in 0..<3 { xq[p * 4 + k] = UInt8(min(max(x[k * hw + p] * inv + zp, 0), 255).rounded(.toNearestOrEven)) }
            xq[p * 4 + 3] = xZp
        }
        let pixels = c.outH * c.outW
        var ref = [UInt8](repeating: 0xAB, count: pixels * c.yStride)
        xq.withUnsafeBufferPointer { xb in
            var g = seg_qu8_conv_geometry(in_h: UInt32(c.inH), in_w: UInt32(c.inW), out_h: UInt32(c.outH), out_w: UInt32(c.outW),
                                          kh: 3, kw: 3, stride_h: 2, stride_w: 2, dilation_h: 1, dilation_w: 1, pad_top: 1, pad_left: 1)
            let ind = seg_qu8_conv_indirection(&g, 3, xb.baseAddress, 4, xZp)!
            defer { seg_qu8_indirection_free(ind) }
            ref.withUnsafeMutableBytes { yb in
                var a = seg_qu8_conv_args(w: packed, ind: ind, x: nil, y: yb.baseAddress, y_stride: c.yStride, r: nil, r_stride: 0,
                                          r_mult: 0, r_zp: 0, y_zp: yZp, y_min: c.relu ? yZp : 0, y_max: 255)
                seg_qu8_conv_isa(SEG_ISA_SCALAR, &a, 0, pixels)
            }
        }
        let scratchBytes = seg_qu8_stem_scratch_bytes(c.inW)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        defer { scratch.deallocate() }
        for isa in [SEG_ISA_SCALAR] + simdISAs {
            var got = [UInt8](repeating: 0xAB, count: pixels * c.yStride)
            x.withUnsafeBufferPointer { xb in
                got.withUnsafeMutableBufferPointer { yb in
                    var a = seg_qu8_stem_args(w: packed, x: xb.baseAddress, in_h: c.inH, in_w: c.inW, x_scale: xScale,
                                              x_zp: xZp, y: yb.baseAddress, y_stride: c.yStride, y_zp: yZp,
                                              y_min: c.relu ? yZp : 0, y_max: 255, planes: (nil, nil, nil),
                                              plane_stride: 0, pixel_table: nil)
                    // Two calls on one output row range each, as two workers would (the scratch is reused).
                    let mid = min(c.split, c.outH)
                    seg_qu8_stem_conv_isa(isa, &a, 0, mid, scratch)
                    seg_qu8_stem_conv_isa(isa, &a, mid, c.outH, scratch)
                }
            }
            if let i = got.indices.first(where: { got[$0] != ref[$0] }) {
                return "\(isaName(isa)): output pixel \(i / c.yStride) byte \(i % c.yStride) is \(got[i]), expected \(ref[i])"
                    + (i % c.yStride >= c.cout ? " (past cout: must stay untouched)" : "")
            }
        }
        return nil
    }

    @Test("every ISA equals quantize + the scalar conv bit for bit (random shapes)")
    func randomShapes() {
        var rng = TestSeed.rng("stem.random")
        for _ in 0..<60 {
            var c = Case()
            c.inH = Int.random(in: 1...19, using: &rng)
            c.inW = Int.random(in: 1...45, using: &rng)
            c.cout = [1, 3, 16, 17, 31, 32, 33, 48, 63, 64].randomElement(using: &rng)!
            c.yStride = c.cout + [0, 0, 1, 5, 32].randomElement(using: &rng)!
            c.relu = Bool.random(using: &rng)
            c.split = Int.random(in: 0...c.outH, using: &rng)
            let bad = Self.check(c, &rng)
            #expect(bad == nil, "\(bad ?? ""); \(c); \(TestSeed.note)")
            if bad != nil { return }
        }
    }

    @Test("the network shapes: DF1/DF2 (32 outputs) and R18 (64) stems on a 96×160 and an odd 67×101 input")
    func networkShapes() {
        var rng = TestSeed.rng("stem.network")
        for (h, w) in [(96, 160), (67, 101)] {
            for cout in [32, 64] {
                let c = Case(inH: h, inW: w, cout: cout, yStride: cout, relu: true, split: (h + 1) / 4)
                let bad = Self.check(c, &rng)
                #expect(bad == nil, "\(bad ?? ""); \(c); \(TestSeed.note)")
            }
        }
    }

    @Test("outputs far beyond the u8 range before the clamp (huge multipliers) still match")
    func hugeMultipliers() {
        var rng = TestSeed.rng("stem.huge")
        for cout in [32, 64, 19] {
            for relu in [false, true] {
                let c = Case(inH: 11, inW: 29, cout: cout, yStride: cout, relu: relu, split: 3, hugeMultiplier: true)
                let bad = Self.check(c, &rng)
                #expect(bad == nil, "\(bad ?? ""); \(c); \(TestSeed.note)")
            }
        }
    }

    /// The 8-bit planes path against the fp32 one: the planes normalised by `seg_f32_from_planar_u8_affine` (the
    /// network input's normalisation) and run through the scalar fp32 path are the reference; every ISA's planes
    /// path must give its bytes. nil when all agree.
    static func checkPlanes(inH: Int, inW: Int, stride: Int, cout: Int, split: Int, _ rng: inout SplitMix) -> String? {
        // A model's affine (1/(255·std), −mean/std) with a random mean and std, and an input range around it.
        let scale = (0..<3).map { _ in 1 / (255 * Float.random(in: 0.15...0.35, using: &rng)) }
        let bias = (0..<3).map { c in -Float.random(in: 0.3...0.6, using: &rng) * scale[c] * 255 }
        let xScale = Float(Int.random(in: 8...40, using: &rng)) / 1000
        let xZp = UInt8.random(in: 60...200, using: &rng)
        let planes = (0..<3).map { _ in (0..<(inH * stride)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        let w = (0..<(cout * 27)).map { _ in Int8.random(in: -127...127, using: &rng) }
        let wScale = (0..<cout).map { _ in Float.random(in: 0.001...0.02, using: &rng) }
        let convBias = (0..<cout).map { _ in Float.random(in: -2...2, using: &rng) }
        let yScale = Float.random(in: 0.01...0.1, using: &rng), yZp = UInt8.random(in: 0...255, using: &rng)
        guard let packed = seg_qu8_conv_pack(cout, 3, 3, 3, w, wScale, convBias, xScale, xZp, yScale) else { return "pack failed" }
        defer { seg_qu8_conv_weights_free(packed) }
        let outH = (inH - 1) / 2 + 1, outW = (inW - 1) / 2 + 1, pixels = outH * outW
        var x = [Float](repeating: .nan, count: 3 * inH * inW)
        var table = [UInt32](repeating: 0, count: 768)
        seg_qu8_stem_pixel_table(scale, bias, xScale, xZp, &table)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: seg_qu8_stem_scratch_bytes(inW), alignment: 64)
        defer { scratch.deallocate() }
        return planes[0].withUnsafeBufferPointer { r in
            planes[1].withUnsafeBufferPointer { g in
                planes[2].withUnsafeBufferPointer { b in
                    let p: [UnsafePointer<UInt8>?] = [r.baseAddress, g.baseAddress, b.baseAddress]
                    seg_f32_from_planar_u8_affine(p, stride, inW, inH, scale, bias, &x)
                    func run(_ isa: seg_isa, fromPlanes: Bool) -> [UInt8] {
                        var y = [UInt8](repeating: 0xAB, count: pixels * cout)
                        x.withUnsafeBufferPointer { xb in
                            table.withUnsafeBufferPointer { tb in
                                y.withUnsafeMutableBufferPointer { yb in
                                    var a = seg_qu8_stem_args()
                                    a.w = packed
                                    a.x = fromPlanes ? nil : xb.baseAddress
                                    a.planes = fromPlanes ? (p[0], p[1], p[2]) : (nil, nil, nil)
                                    a.plane_stride = stride
                                    a.pixel_table = fromPlanes ? tb.baseAddress : nil
                                    (a.in_h, a.in_w, a.x_scale, a.x_zp) = (inH, inW, xScale, xZp)
                                    (a.y, a.y_stride, a.y_zp, a.y_min, a.y_max) = (yb.baseAddress, cout, yZp, yZp, 255)
                                    let mid = min(split, outH)
                                    seg_qu8_stem_conv_isa(isa, &a, 0, mid, scratch)
                                    seg_qu8_stem_conv_isa(isa, &a, mid, outH, scratch)
                                }
                            }
                        }
                        return y
                    }
                    let ref = run(SEG_ISA_SCALAR, fromPlanes: false)
                    for isa in [SEG_ISA_SCALAR] + simdISAs {
                        for fromPlanes in [true, false] {
                            let got = run(isa, fromPlanes: fromPlanes)
                            if let i = got.indices.first(where: { got[$0] != ref[$0] }) {
                                return "\(isaName(isa)) \(fromPlanes ? "planes" : "fp32"): output pixel \(i / cout) byte "
                                    + "\(i % cout) is \(got[i]), the fp32 path's \(ref[i])"
                            }
                        }
                    }
                    return nil
                }
            }
        }
    }

    @Test("8-bit planes with the pixel table equal the normalised fp32 input, every ISA (odd sizes, strides > width)")
    func planesEqualNormalisedInput() {
        var rng = TestSeed.rng("stem.planes")
        var shapes = [(96, 160, 160), (67, 101, 128), (1, 1, 1), (2, 3, 64)]
        for _ in 0..<30 {
            let h = Int.random(in: 1...23, using: &rng), w = Int.random(in: 1...53, using: &rng)
            shapes.append((h, w, w + [0, 1, 7, 64].randomElement(using: &rng)!))
        }
        for (h, w, stride) in shapes {
            let cout = [16, 19, 32, 64].randomElement(using: &rng)!
            let split = Int.random(in: 0...((h - 1) / 2 + 1), using: &rng)
            let bad = Self.checkPlanes(inH: h, inW: w, stride: stride, cout: cout, split: split, &rng)
            #expect(bad == nil, "\(bad ?? ""); in=\(h)x\(w) stride=\(stride) cout=\(cout); \(TestSeed.note)")
            if bad != nil { return }
        }
    }

    @Test("the pixel table holds each channel's quantized byte in its own lane, computed as the fp32 path does")
    func pixelTable() {
        let scale: [Float] = [1 / (255 * 0.229), 1 / (255 * 0.224), 1 / (255 * 0.225)]
        let bias: [Float] = [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225]
        let xScale: Float = 0.0185, xZp: UInt8 = 117
        var table = [UInt32](repeating: 0, count: 768)
        seg_qu8_stem_pixel_table(scale, bias, xScale, xZp, &table)
        for c in 0..<3 {
            for p in 0..<256 {
                // The normalisation and QOps.quantize written out: v·scale + bias, then v·(1/s) + zp clamped, rounded.
                let v = Float(p) * scale[c] + bias[c]
                let q = UInt32(min(max(v * (1 / xScale) + Float(xZp), 0), 255).rounded(.toNearestOrEven))
                #expect(table[c * 256 + p] == q << (8 * UInt32(c)), "channel \(c) value \(p)")
            }
        }
    }

    @Test("only 3-channel 3×3 u8-output convs with at most 64 outputs take the fused path")
    func supported() {
        func pack(_ cout: Int, _ cin: Int, _ k: Int, yScale: Float) -> OpaquePointer {
            let w = [Int8](repeating: 1, count: cout * cin * k * k)
            return seg_qu8_conv_pack(cout, cin, k, k, w, [Float](repeating: 0.01, count: cout), nil, 0.02, 10, yScale)!
        }
        let cases: [(OpaquePointer, Bool)] = [
            (pack(32, 3, 3, yScale: 0.1), true), (pack(64, 3, 3, yScale: 0.1), true), (pack(65, 3, 3, yScale: 0.1), false),
            (pack(32, 4, 3, yScale: 0.1), false), (pack(32, 3, 1, yScale: 0.1), false), (pack(32, 3, 3, yScale: 0), false),
        ]
        for (p, want) in cases {
            #expect((seg_qu8_stem_supported(p) != 0) == want)
            seg_qu8_conv_weights_free(p)
        }
    }
}
