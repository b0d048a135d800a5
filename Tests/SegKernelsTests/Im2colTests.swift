import CSegKernels
import Testing

/// im2col panels against a direct definition, including panels that start and end mid-row.
@Suite struct Im2colTests {
    struct Geometry: Sendable, CustomStringConvertible {
        let c, h, w, k, s, p, d: Int
        var description: String { "C\(c) \(h)x\(w) k\(k) s\(s) p\(p) d\(d)" }
    }

    @Test(arguments: [
        Geometry(c: 2, h: 7, w: 9, k: 3, s: 1, p: 1, d: 1), Geometry(c: 3, h: 8, w: 11, k: 3, s: 2, p: 1, d: 1),
        Geometry(c: 1, h: 9, w: 13, k: 3, s: 1, p: 2, d: 2), Geometry(c: 2, h: 12, w: 10, k: 3, s: 1, p: 4, d: 4),
        Geometry(c: 2, h: 5, w: 6, k: 1, s: 2, p: 0, d: 1), Geometry(c: 1, h: 3, w: 3, k: 5, s: 1, p: 2, d: 1),
    ])
    func matchesDefinition(_ g: Geometry) {
        let ho = (g.h + 2 * g.p - g.d * (g.k - 1) - 1) / g.s + 1, wo = (g.w + 2 * g.p - g.d * (g.k - 1) - 1) / g.s + 1
        let x = (0..<(g.c * g.h * g.w)).map { Float($0 + 1) }
        let n = ho * wo, kk = g.c * g.k * g.k
        for (n0, cols) in [(0, n), (1, n - 1), (wo / 2, min(wo + 3, n - wo / 2)), (n - 1, 1)] where cols > 0 {
            var panel = [Float](repeating: .nan, count: kk * cols)
            seg_f32_im2col_panel(x, g.c, g.h, g.w, g.k, g.k, g.s, g.s, g.p, g.p, g.d, g.d, ho, wo, n0, cols, &panel)
            var bad = 0
            for c in 0..<g.c { for ky in 0..<g.k { for kx in 0..<g.k { for j in 0..<cols {
                let row = (c * g.k + ky) * g.k + kx
                let oy = (n0 + j) / wo, ox = (n0 + j) % wo
                let iy = oy * g.s - g.p + ky * g.d, ix = ox * g.s - g.p + kx * g.d
                let want: Float = (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) ? x[(c * g.h + iy) * g.w + ix] : 0
                if panel[row * cols + j] != want { bad += 1 }
            } } } }
            #expect(bad == 0, "\(g) panel at \(n0) of \(cols)")
        }
    }

    @Test func epilogueAddsBiasResidualAndClamps() {
        var y: [Float] = [1, -2, 3, -4, 5, -6]
        let bias: [Float] = [0.5, -1]
        let res: [Float] = [0, 0, -10, 1, 1, 1]
        seg_f32_bias_residual_relu(&y, 3, 2, 3, bias, res, 3, 1)
        #expect(y == [1.5, 0, 0, 0, 5, 0])
    }
}
