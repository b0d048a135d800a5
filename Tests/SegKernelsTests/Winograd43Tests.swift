import CSegKernels
import Testing

/// Winograd F(4×4,3×3) kernels: the scalar transforms against a direct convolution computed in double, and
/// every SIMD variant against the scalar one, bit for bit (they promise the same float operations in the
/// same order).
@Suite struct Winograd43Tests {
    struct Shape: Sendable, CustomStringConvertible {
        let cin, cout, h, w, pad: Int
        var ho: Int { h + 2 * pad - 2 }
        var wo: Int { w + 2 * pad - 2 }
        var tilesW: Int { (wo + 3) / 4 }
        var tiles: Int { (ho + 3) / 4 * tilesW }
        var description: String { "C\(cin)→\(cout) \(h)x\(w) pad \(pad)" }
    }

    static let shapes = [
        Shape(cin: 3, cout: 5, h: 7, w: 9, pad: 1), Shape(cin: 8, cout: 4, h: 13, w: 31, pad: 1),
        Shape(cin: 2, cout: 3, h: 6, w: 6, pad: 0), Shape(cin: 5, cout: 2, h: 1, w: 1, pad: 1),
        // A tile row of 71 tiles: more than the SIMD kernels' 64-tile segments and not a multiple of 16 or 8.
        Shape(cin: 4, cout: 3, h: 9, w: 283, pad: 1), Shape(cin: 1, cout: 1, h: 18, w: 5, pad: 1),
    ]

    /// Chunkings of the tile range: whole, single tiles, and odd sizes that start and end mid-row.
    static func chunks(_ tiles: Int) -> [Int] { Array(Set([tiles, 1, 5, 17, 71].map { min($0, tiles) })).sorted() }

    static func random(_ n: Int, _ rng: inout SplitMix) -> [Float] { (0..<n).map { _ in Float.random(in: -1...1, using: &rng) } }

    /// The transformed inputs of tiles [t0, t0 + nt), v[36][C][ldv] (columns past nt stay NaN).
    static func input(_ isa: seg_isa, _ s: Shape, _ x: [Float], t0: Int, nt: Int, ldv: Int? = nil) -> [Float] {
        var v = [Float](repeating: .nan, count: 36 * s.cin * (ldv ?? nt))
        seg_f32_ukernels_get(isa)!.pointee.winograd43_input!(x, s.cin, s.h, s.w, s.pad, s.tilesW, t0, nt, &v, ldv ?? nt)
        return v
    }

    /// Output transform of every chunk into y (prefilled with NaN, plus a guard region past the end).
    static func output(_ isa: seg_isa, _ s: Shape, _ m: [[Float]], chunk: Int, bias: [Float]?, res: [Float]?,
                       relu: Bool) -> [Float] {
        var y = [Float](repeating: .nan, count: s.cout * s.ho * s.wo + 64)
        let out = seg_f32_ukernels_get(isa)!.pointee.winograd43_output!
        for (k, t0) in stride(from: 0, to: s.tiles, by: chunk).enumerated() {
            out(m[k], s.cout, min(chunk, s.tiles - t0), s.tilesW, t0, s.ho, s.wo, bias, res, relu ? 1 : 0, &y)
        }
        return y
    }

    @Test(arguments: shapes)
    func scalarComputesTheConvolution(_ s: Shape) {
        var rng = TestSeed.rng("winograd43.conv.\(s)")
        let x = Self.random(s.cin * s.h * s.w, &rng), w = Self.random(s.cout * s.cin * 9, &rng)
        let bias = Self.random(s.cout, &rng), res = Self.random(s.cout * s.ho * s.wo, &rng)
        var u = [Float](repeating: 0, count: 36 * s.cout * s.cin)
        seg_f32_winograd43_weights(w, s.cout, s.cin, &u)
        for chunk in Self.chunks(s.tiles) {
            // The 36 products m[e] = u[e]·v[e], done naively here (the engine calls sgemm).
            let m = stride(from: 0, to: s.tiles, by: chunk).map { t0 -> [Float] in
                let nt = min(chunk, s.tiles - t0)
                let v = Self.input(SEG_ISA_SCALAR, s, x, t0: t0, nt: nt)
                var m = [Float](repeating: 0, count: 36 * s.cout * nt)
                for e in 0..<36 { for o in 0..<s.cout { for j in 0..<nt {
                    var acc: Float = 0
                    for c in 0..<s.cin { acc += u[(e * s.cout + o) * s.cin + c] * v[(e * s.cin + c) * nt + j] }
                    m[(e * s.cout + o) * nt + j] = acc
                } } }
                return m
            }
            let y = Self.output(SEG_ISA_SCALAR, s, m, chunk: chunk, bias: bias, res: res, relu: true)
            // Reference in double; the tolerance scales with Σ|w·x| + |b| + |r|, the size of the terms summed:
            // fp32 rounding in the transforms (coefficients up to 8) stays far below 1e-5 of it, and a wrong
            // coefficient or a misplaced tile is off by a sizeable fraction of it.
            var worst: Double = 0
            for o in 0..<s.cout { for oy in 0..<s.ho { for ox in 0..<s.wo {
                let p = (o * s.ho + oy) * s.wo + ox
                var acc = Double(bias[o]) + Double(res[p]), scale = abs(Double(bias[o])) + abs(Double(res[p]))
                for c in 0..<s.cin { for ky in 0..<3 { for kx in 0..<3 {
                    let iy = oy + ky - s.pad, ix = ox + kx - s.pad
                    guard iy >= 0, iy < s.h, ix >= 0, ix < s.w else { continue }
                    let t = Double(w[(o * s.cin + c) * 9 + ky * 3 + kx]) * Double(x[(c * s.h + iy) * s.w + ix])
                    acc += t; scale += abs(t)
                } } }
                worst = max(worst, abs(Double(y[p]) - max(0, acc)) / max(scale, 1e-3))
            } } }
            #expect(worst <= 1e-5, "\(s) chunk \(chunk): relative error \(worst); \(TestSeed.note)")
            let guardUntouched = y[(s.cout * s.ho * s.wo)...].allSatisfy { $0.isNaN }
            #expect(guardUntouched, "\(s) chunk \(chunk): wrote past the output")
        }
    }

    @Test(.enabled(if: !simdISAs.isEmpty), arguments: shapes)
    func simdTransformsMatchScalarBitForBit(_ s: Shape) {
        var rng = TestSeed.rng("winograd43.simd.\(s)")
        var x = Self.random(s.cin * s.h * s.w, &rng)
        x[0] = -0.0   // the sign of zero survives identical operations only
        let bias = Self.random(s.cout, &rng), res = Self.random(s.cout * s.ho * s.wo, &rng)
        for isa in simdISAs {
            for chunk in Self.chunks(s.tiles) {
                var ms: [[Float]] = []
                for t0 in stride(from: 0, to: s.tiles, by: chunk) {
                    let nt = min(chunk, s.tiles - t0)
                    let want = Self.input(SEG_ISA_SCALAR, s, x, t0: t0, nt: nt)
                    let got = Self.input(isa, s, x, t0: t0, nt: nt)
                    #expect(firstBitDifference(got, want) == nil, "\(isaName(isa)) input \(s) tiles \(t0)..<\(t0 + nt)")
                    // A wider row stride (part of a bigger chunk): the same values, the gaps untouched.
                    let wide = Self.input(SEG_ISA_SCALAR, s, x, t0: t0, nt: nt, ldv: nt + 3)
                    let wideGot = Self.input(isa, s, x, t0: t0, nt: nt, ldv: nt + 3)
                    #expect(firstBitDifference(wideGot, wide) == nil, "\(isaName(isa)) input ldv \(nt + 3) \(s)")
                    #expect(wide.enumerated().allSatisfy { ($0.offset % (nt + 3) < nt) != $0.element.isNaN },
                            "\(s) ldv \(nt + 3): values in the columns < nt only")
                    ms.append(Self.random(36 * s.cout * nt, &rng))
                }
                for (b, r, relu) in [(bias, res, true), (nil, nil, false), (bias, nil, true)] as [([Float]?, [Float]?, Bool)] {
                    let want = Self.output(SEG_ISA_SCALAR, s, ms, chunk: chunk, bias: b, res: r, relu: relu)
                    let got = Self.output(isa, s, ms, chunk: chunk, bias: b, res: r, relu: relu)
                    #expect(firstBitDifference(got, want) == nil, "\(isaName(isa)) output \(s) chunk \(chunk) bias \(b != nil) res \(r != nil) relu \(relu)")
                }
            }
        }
    }
}

/// nil when the bit patterns are equal (so NaN sentinels match and −0 differs from +0), else where they first differ.
func firstBitDifference(_ got: [Float], _ want: [Float]) -> String? {
    if got.count != want.count { return "sizes \(got.count) vs \(want.count)" }
    guard let i = got.indices.first(where: { got[$0].bitPattern != want[$0].bitPattern }) else { return nil }
    return "first difference at \(i): got \(got[i]), want \(want[i])"
}
