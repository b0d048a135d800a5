import CSegKernels
import Foundation
import Testing

/// Float bilinear sample of channel k at (u, v) from u8 x, taps outside contribute `zp` (zero padding).
private func sample(_ x: [UInt8], _ h: Int, _ w: Int, _ stride: Int, _ zp: UInt8, _ k: Int, _ u: Double, _ v: Double) -> Double {
    let x0 = Int(floor(u)), y0 = Int(floor(v))
    let fx = u - Double(x0), fy = v - Double(y0)
    func at(_ yy: Int, _ xx: Int) -> Double {
        (yy >= 0 && yy < h && xx >= 0 && xx < w) ? Double(x[(yy * w + xx) * stride + k]) : Double(zp)
    }
    return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1))
}

@Suite("qu8 resize, warp, pooling")
struct QU8ResampleTests {
    struct Shape: CustomStringConvertible {
        var c: Int, inH: Int, inW: Int, outH: Int, outW: Int, xStride: Int, yStride: Int, align: Bool
        var rowBegin: Int, rowEnd: Int
        var description: String {
            "c=\(c) in=\(inH)x\(inW) out=\(outH)x\(outW) xStride=\(xStride) yStride=\(yStride) align=\(align) rows=\(rowBegin)..<\(rowEnd)"
        }
    }

    static func randomShape(_ rng: inout SplitMix) -> Shape {
        let c = [1, 2, 3, 16, 19, 31, 32, 33, 64, 100, 128, 130].randomElement(using: &rng)!
        let inH = Int.random(in: 1...12, using: &rng), inW = Int.random(in: 1...12, using: &rng)
        let outH = Int.random(in: 1...20, using: &rng), outW = Int.random(in: 1...20, using: &rng)
        let rb = Int.random(in: 0..<outH, using: &rng)
        let re = Bool.random(using: &rng) ? outH : Int.random(in: (rb + 1)...outH, using: &rng)
        return Shape(c: c, inH: inH, inW: inW, outH: outH, outW: outW,
                     xStride: c + [0, 1, 13].randomElement(using: &rng)!, yStride: c + [0, 3].randomElement(using: &rng)!,
                     align: Bool.random(using: &rng), rowBegin: rb, rowEnd: re)
    }

    static func resize(_ isa: seg_isa, _ s: Shape, _ x: [UInt8]) -> [UInt8] {
        var y = [UInt8](repeating: 0xA5, count: s.outH * s.outW * s.yStride)
        seg_qu8_resize_bilinear_isa(isa, s.c, s.inH, s.inW, x, s.xStride, s.outH, s.outW, &y, s.yStride, s.align ? 1 : 0,
                                    s.rowBegin, s.rowEnd)
        return y
    }

    /// The fused add's operand and scales (lat in FAM).
    struct Add {
        var r: [UInt8], rStride: Int, xMult: Float, rMult: Float, rZp: UInt8, yZp: UInt8, yMin: UInt8, yMax: UInt8
        static func random(_ s: Shape, _ rng: inout SplitMix) -> Add {
            let rs = s.c + [0, 2].randomElement(using: &rng)!
            let zp = UInt8.random(in: 0...255, using: &rng)
            return Add(r: randomBytes(s.outH * s.outW * rs, &rng), rStride: rs, xMult: Float.random(in: 0.3...1.5, using: &rng),
                       rMult: Float.random(in: 0.3...1.5, using: &rng), rZp: UInt8.random(in: 0...255, using: &rng),
                       yZp: zp, yMin: Bool.random(using: &rng) ? zp : 0, yMax: 255)
        }
    }

    static func warp(_ isa: seg_isa, _ s: Shape, _ x: [UInt8], _ zp: UInt8, _ flow: [Float], _ add: Add? = nil) -> [UInt8] {
        var y = [UInt8](repeating: 0xA5, count: s.outH * s.outW * s.yStride)
        if let add {
            add.r.withUnsafeBufferPointer { rp in
                var p = seg_qu8_add_params(r: rp.baseAddress, r_stride: add.rStride, x_mult: add.xMult, r_mult: add.rMult,
                                           r_zp: add.rZp, y_zp: add.yZp, y_min: add.yMin, y_max: add.yMax)
                seg_qu8_warp_bilinear_isa(isa, s.c, s.inH, s.inW, x, s.xStride, zp, s.outH, s.outW, flow, 8, &y, s.yStride,
                                          s.align ? 1 : 0, &p, s.rowBegin, s.rowEnd)
            }
        } else {
            seg_qu8_warp_bilinear_isa(isa, s.c, s.inH, s.inW, x, s.xStride, zp, s.outH, s.outW, flow, 8, &y, s.yStride,
                                      s.align ? 1 : 0, nil, s.rowBegin, s.rowEnd)
        }
        return y
    }

    static func randomFlow(_ s: Shape, _ rng: inout SplitMix) -> [Float] {
        let mag = [Float(0), 1, 5, 40].randomElement(using: &rng)!
        return (0..<(s.outH * s.outW * 2)).map { _ in Float.random(in: -mag...max(mag, 1e-6), using: &rng) }
    }

    @Test("bilinear resize: every ISA equals scalar bit for bit")
    func resizeISAs() {
        var rng = TestSeed.rng("resize.isa")
        for _ in 0..<200 {
            let s = Self.randomShape(&rng)
            let x = randomBytes(s.inH * s.inW * s.xStride, &rng)
            let ref = Self.resize(SEG_ISA_SCALAR, s, x)
            for isa in simdISAs {
                let bad = mismatch(Self.resize(isa, s, x), ref)
                #expect(bad == nil, "resize \(isaName(isa)): \(bad ?? ""); \(s); \(TestSeed.note)")
            }
        }
    }

    @Test("flow warp: every ISA equals scalar bit for bit")
    func warpISAs() {
        var rng = TestSeed.rng("warp.isa")
        for _ in 0..<200 {
            let s = Self.randomShape(&rng)
            let x = randomBytes(s.inH * s.inW * s.xStride, &rng)
            let zp = UInt8.random(in: 0...255, using: &rng)
            let flow = Self.randomFlow(s, &rng)
            let add: Add? = Bool.random(using: &rng) ? Add.random(s, &rng) : nil
            let ref = Self.warp(SEG_ISA_SCALAR, s, x, zp, flow, add)
            for isa in simdISAs {
                let bad = mismatch(Self.warp(isa, s, x, zp, flow, add), ref)
                #expect(bad == nil, "warp \(isaName(isa)): \(bad ?? ""); \(s); \(TestSeed.note)")
            }
        }
    }

    /// Source coordinate in double, PyTorch's rules.
    static func src(_ d: Int, _ inn: Int, _ out: Int, _ align: Bool) -> Double {
        if align { return out > 1 ? Double(d) * Double(inn - 1) / Double(out - 1) : 0 }
        return max((Double(d) + 0.5) * Double(inn) / Double(out) - 0.5, 0)
    }

    @Test("scalar resize and warp match float bilinear within 0.55 LSB (Q14 weights + rounding)")
    func againstFloat() {
        var rng = TestSeed.rng("resample.float")
        for _ in 0..<60 {
            var s = Self.randomShape(&rng)
            s.rowBegin = 0; s.rowEnd = s.outH
            let x = randomBytes(s.inH * s.inW * s.xStride, &rng)
            let zp = UInt8.random(in: 0...255, using: &rng)
            let flow = Self.randomFlow(s, &rng)
            let add = Add.random(s, &rng)
            let r = Self.resize(SEG_ISA_SCALAR, s, x), w = Self.warp(SEG_ISA_SCALAR, s, x, zp, flow)
            let wa = Self.warp(SEG_ISA_SCALAR, s, x, zp, flow, add)
            var worstR = 0.0, worstW = 0.0, worstA = 0.0
            for i in 0..<s.outH {
                for j in 0..<s.outW {
                    let v = Self.src(i, s.inH, s.outH, s.align), u = Self.src(j, s.inW, s.outW, s.align)
                    let fx = Double(flow[(i * s.outW + j) * 2]), fy = Double(flow[(i * s.outW + j) * 2 + 1])
                    let uw: Double, vw: Double
                    if s.align {
                        uw = (s.outW > 1 ? Double(j) * Double(s.inW - 1) / Double(s.outW - 1) : 0) + fx * Double(s.inW - 1) / Double(2 * s.outW)
                        vw = (s.outH > 1 ? Double(i) * Double(s.inH - 1) / Double(s.outH - 1) : 0) + fy * Double(s.inH - 1) / Double(2 * s.outH)
                    } else {
                        let gx = (s.outW > 1 ? -1 + 2 * Double(j) / Double(s.outW - 1) : -1) + fx / Double(s.outW)
                        let gy = (s.outH > 1 ? -1 + 2 * Double(i) / Double(s.outH - 1) : -1) + fy / Double(s.outH)
                        uw = ((gx + 1) * Double(s.inW) - 1) / 2
                        vw = ((gy + 1) * Double(s.inH) - 1) / 2
                    }
                    for k in 0..<s.c {
                        // Resize clamps taps to the edge, so sampling with zp never happens there.
                        let wantR = sample(x, s.inH, s.inW, s.xStride, 0, k, min(u, Double(s.inW - 1)), min(v, Double(s.inH - 1)))
                        worstR = max(worstR, abs(Double(r[(i * s.outW + j) * s.yStride + k]) - wantR))
                        let wantW = sample(x, s.inH, s.inW, s.xStride, zp, k, uw, vw)
                        worstW = max(worstW, abs(Double(w[(i * s.outW + j) * s.yStride + k]) - wantW))
                        let rq = Double(add.r[(i * s.outW + j) * add.rStride + k])
                        var a = Double(add.xMult) * (wantW - Double(zp)) + Double(add.rMult) * (rq - Double(add.rZp))
                        a = min(max(a + Double(add.yZp), Double(add.yMin)), Double(add.yMax))
                        // Tolerance: rounding 0.5 + Q14 weight error (≤ 0.03 LSB of x) scaled by x_mult ≤ 1.5.
                        worstA = max(worstA, abs(Double(wa[(i * s.outW + j) * s.yStride + k]) - a) - 0.05)
                    }
                }
            }
            #expect(worstR <= 0.55, "resize off by \(worstR): \(s); \(TestSeed.note)")
            #expect(worstW <= 0.55, "warp off by \(worstW): \(s); \(TestSeed.note)")
            #expect(worstA <= 0.5, "warp+add off by \(worstA): \(s); \(TestSeed.note)")
        }
    }

    @Test("zero flow warp equals align_corners=True resize")
    func zeroFlow() {
        var rng = TestSeed.rng("warp.zero")
        for _ in 0..<30 {
            var s = Self.randomShape(&rng)
            s.align = true; s.rowBegin = 0; s.rowEnd = s.outH
            let x = randomBytes(s.inH * s.inW * s.xStride, &rng)
            let flow = [Float](repeating: 0, count: s.outH * s.outW * 2)
            for isa in [SEG_ISA_SCALAR] + simdISAs {
                let bad = mismatch(Self.warp(isa, s, x, 7, flow), Self.resize(isa, s, x))
                #expect(bad == nil, "\(isaName(isa)): \(bad ?? ""); \(s); \(TestSeed.note)")
            }
        }
    }

    @Test("adaptive average pool and 3×3 s2 max pool match direct definitions")
    func pools() {
        var rng = TestSeed.rng("pools")
        for _ in 0..<40 {
            let c = [1, 3, 19, 64, 300].randomElement(using: &rng)!
            let h = Int.random(in: 1...33, using: &rng), w = Int.random(in: 1...65, using: &rng)
            let xs = c + [0, 5].randomElement(using: &rng)!
            let x = randomBytes(h * w * xs, &rng)
            for bins in [1, 2, 3, 6] {
                var y = [UInt8](repeating: 0, count: bins * bins * c)
                seg_qu8_adaptive_avgpool(c, h, w, x, xs, bins, bins, &y, c)
                for oy in 0..<bins {
                    for ox in 0..<bins {
                        let y0 = oy * h / bins, y1 = ((oy + 1) * h + bins - 1) / bins
                        let x0 = ox * w / bins, x1 = ((ox + 1) * w + bins - 1) / bins
                        let n = (y1 - y0) * (x1 - x0)
                        for k in 0..<c {
                            var sum = 0
                            for iy in y0..<y1 { for ix in x0..<x1 { sum += Int(x[(iy * w + ix) * xs + k]) } }
                            let want = UInt8((sum + n / 2) / n)
                            if y[(oy * bins + ox) * c + k] != want {
                                Issue.record("avgpool bins=\(bins) c=\(c) in=\(h)x\(w) at \(oy),\(ox),\(k); \(TestSeed.note)")
                                return
                            }
                        }
                    }
                }
            }
            let oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1
            var y = [UInt8](repeating: 0, count: oh * ow * c)
            seg_qu8_maxpool_3x3s2p1(c, h, w, x, xs, &y, c, 0, oh)
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for k in 0..<c {
                        var m = 0
                        for iy in max(0, 2 * oy - 1)...min(h - 1, 2 * oy + 1) {
                            for ix in max(0, 2 * ox - 1)...min(w - 1, 2 * ox + 1) { m = max(m, Int(x[(iy * w + ix) * xs + k])) }
                        }
                        if Int(y[(oy * ow + ox) * c + k]) != m {
                            Issue.record("maxpool c=\(c) in=\(h)x\(w) at \(oy),\(ox),\(k); \(TestSeed.note)")
                            return
                        }
                    }
                }
            }
        }
    }
}
