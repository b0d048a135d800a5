import CSegKernels
import Foundation
import Testing

/// The decoder blocks' gate kernels (gate.c, gate-avx2.c; issue #15): every SIMD ISA bit for bit against the
/// scalar reference on odd shapes, and the scalar u8 kernels against the real-valued formulas.
@Suite struct GateTests {
    struct Shape: CustomStringConvertible {
        var c = 1, pixels = 1, xStride = 4, rStride = 4, yStride = 4, p0 = 0, p1 = 1
        var description: String { "c=\(c) pixels=\(pixels) strides=\(xStride)/\(rStride)/\(yStride) range=\(p0)..<\(p1)" }
    }

    static func randomShape(_ rng: inout SplitMix) -> Shape {
        var s = Shape()
        s.c = [1, 3, 7, 8, 9, 16, 17, 31, 64, 67].randomElement(using: &rng)!
        s.pixels = Int.random(in: 1...70, using: &rng)
        s.xStride = s.c + Int.random(in: 0...9, using: &rng)
        s.rStride = s.c + Int.random(in: 0...9, using: &rng)
        s.yStride = s.c + Int.random(in: 0...9, using: &rng)
        s.p0 = Int.random(in: 0..<s.pixels, using: &rng)
        s.p1 = Int.random(in: (s.p0 + 1)...s.pixels, using: &rng)
        return s
    }

    static func floats(_ n: Int, _ range: ClosedRange<Float>, _ rng: inout SplitMix) -> [Float] {
        (0..<n).map { _ in Float.random(in: range, using: &rng) }
    }

    static func sigmoid(_ x: [Float], _ scale: Float = 1) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        seg_f32_sigmoid(x, x.count, scale, &y)
        return y
    }

    struct U8Case {
        var s: Shape
        var x: [UInt8], r: [UInt8], y0: [UInt8]
        var xZp: UInt8, rZp: UInt8, yZp: UInt8
        var gs: [Float], gc: [Float], mh: [Float], ml: [Float], mult: Float

        static func random(_ rng: inout SplitMix) -> U8Case {
            let s = GateTests.randomShape(&rng)
            return U8Case(s: s, x: randomBytes(s.pixels * s.xStride, &rng), r: randomBytes(s.pixels * s.rStride, &rng),
                          y0: randomBytes(s.pixels * s.yStride, &rng), xZp: UInt8.random(in: 0...255, using: &rng),
                          rZp: UInt8.random(in: 0...255, using: &rng), yZp: UInt8.random(in: 0...255, using: &rng),
                          gs: GateTests.sigmoid(GateTests.floats(s.pixels, -6...6, &rng)),
                          gc: GateTests.sigmoid(GateTests.floats(s.c, -6...6, &rng)),
                          mh: GateTests.floats(s.c, 0...3, &rng), ml: GateTests.floats(s.c, 0...3, &rng),
                          mult: Float.random(in: 0.2...3, using: &rng))
        }

        func modulate(_ isa: seg_isa) -> [UInt8] {
            var y = y0
            seg_qu8_modulate_isa(isa, s.c, x, s.xStride, xZp, mult, gs, gc, &y, s.yStride, yZp, s.p0, s.p1)
            return y
        }

        func balancedSum(_ isa: seg_isa) -> [UInt8] {
            var y = y0
            seg_qu8_balanced_sum_isa(isa, s.c, x, s.xStride, xZp, mh, r, s.rStride, rZp, ml, &y, s.yStride, yZp, s.p0, s.p1)
            return y
        }
    }

    @Test("u8 modulate and balanced sum: every ISA equals scalar bit for bit, outside the range untouched")
    func u8ISAs() {
        var rng = TestSeed.rng("gate.u8.isa")
        for _ in 0..<300 {
            let t = U8Case.random(&rng)
            let m = t.modulate(SEG_ISA_SCALAR), b = t.balancedSum(SEG_ISA_SCALAR)
            // Bytes outside [p0, p1) and past c in each pixel keep their old values.
            for p in 0..<t.s.pixels {
                for k in 0..<t.s.yStride where !(t.s.p0..<t.s.p1).contains(p) || k >= t.s.c {
                    let i = p * t.s.yStride + k
                    #expect(m[i] == t.y0[i] && b[i] == t.y0[i], "byte \(i) overwritten; \(t.s)")
                }
            }
            for isa in simdISAs {
                #expect(t.modulate(isa) == m, "modulate \(isaName(isa)); \(t.s); \(TestSeed.note)")
                #expect(t.balancedSum(isa) == b, "balanced sum \(isaName(isa)); \(t.s); \(TestSeed.note)")
            }
        }
    }

    @Test("u8 scalar gates are the real-valued formulas rounded (within 0.5 step + float slack)")
    func u8AgainstReal() {
        var rng = TestSeed.rng("gate.u8.real")
        var saturatedOrChecked = 0
        for _ in 0..<100 {
            let t = U8Case.random(&rng)
            let m = t.modulate(SEG_ISA_SCALAR), b = t.balancedSum(SEG_ISA_SCALAR)
            for p in t.s.p0..<t.s.p1 {
                for k in 0..<t.s.c {
                    let x = Double(Int(t.x[p * t.s.xStride + k]) - Int(t.xZp)) * Double(t.mult)
                    let wantM = x + x * Double(t.gs[p]) * Double(t.gc[k]) + Double(t.yZp)
                    let h = Double(Int(t.x[p * t.s.xStride + k]) - Int(t.xZp)), l = Double(Int(t.r[p * t.s.rStride + k]) - Int(t.rZp))
                    let wantB = h * Double(t.mh[k]) + l * Double(t.ml[k]) + Double(t.yZp)
                    for (got, want) in [(m[p * t.s.yStride + k], wantM), (b[p * t.s.yStride + k], wantB)] {
                        let clamped = min(max(want, 0), 255)
                        #expect(abs(Double(got) - clamped) <= 0.5 + 1e-3, "got \(got), want \(want); \(t.s)")
                        saturatedOrChecked += 1
                    }
                }
            }
        }
        #expect(saturatedOrChecked > 1000)
    }

    @Test("fp32 modulate and balanced sum: every ISA equals scalar bit for bit; scalar equals the formula")
    func f32ISAs() {
        var rng = TestSeed.rng("gate.f32.isa")
        for _ in 0..<200 {
            let s = Self.randomShape(&rng)
            let hw = s.pixels, c = s.c
            let x = Self.floats(c * hw, -4...4, &rng), l = Self.floats(c * hw, -4...4, &rng)
            let gs = Self.sigmoid(Self.floats(hw, -6...6, &rng)), gc = Self.sigmoid(Self.floats(c, -6...6, &rng))
            let wh = Self.sigmoid(Self.floats(c, -6...6, &rng), 2), wl = Self.sigmoid(Self.floats(c, -6...6, &rng), 2)
            let y0 = Self.floats(c * hw, -1...1, &rng)
            func modulate(_ isa: seg_isa) -> [Float] {
                var y = y0
                seg_f32_modulate_isa(isa, x, c, hw, gs, gc, &y, s.p0, s.p1)
                return y
            }
            func balanced(_ isa: seg_isa) -> [Float] {
                var y = y0
                seg_f32_balanced_sum_isa(isa, x, l, c, hw, wh, wl, &y, s.p0, s.p1)
                return y
            }
            let m = modulate(SEG_ISA_SCALAR), b = balanced(SEG_ISA_SCALAR)
            for k in 0..<c {
                for p in 0..<hw {
                    let i = k * hw + p
                    if (s.p0..<s.p1).contains(p) {
                        let wantM = Double(x[i]) + Double(x[i]) * Double(gs[p]) * Double(gc[k])
                        let wantB = Double(wh[k]) * Double(x[i]) + Double(wl[k]) * Double(l[i])
                        #expect(abs(Double(m[i]) - wantM) <= 1e-5 * max(1, abs(wantM)), "modulate \(s)")
                        #expect(abs(Double(b[i]) - wantB) <= 1e-5 * max(1, abs(wantB)), "balanced \(s)")
                    } else {
                        #expect(m[i] == y0[i] && b[i] == y0[i], "outside the range; \(s)")
                    }
                }
            }
            for isa in simdISAs {
                #expect(modulate(isa) == m, "modulate \(isaName(isa)); \(s); \(TestSeed.note)")
                #expect(balanced(isa) == b, "balanced sum \(isaName(isa)); \(s); \(TestSeed.note)")
            }
        }
    }

    @Test("sigmoid: scale/(1 + e^−x), saturating without NaN")
    func sigmoid() {
        let x: [Float] = [0, 1, -1, 20, -20, 100, -100]
        let y = Self.sigmoid(x, 2)
        for (xi, yi) in zip(x, y) {
            #expect(abs(Double(yi) - 2 / (1 + exp(-Double(xi)))) <= 1e-6, "σ(\(xi))")
        }
    }
}
