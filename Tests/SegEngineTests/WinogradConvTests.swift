@testable import SegEngine
import Testing

/// Every algorithm of Conv2d (im2col + sgemm, both Winograd variants) against a float64 direct convolution, on
/// map sizes that are not multiples of the tile, with bias, residual and ReLU fused.
@Suite struct WinogradConvTests {
    struct Case: Sendable, CustomStringConvertible {
        let cin, cout, h, w, pad: Int
        var dilation = 1
        var description: String { "C\(cin)→\(cout) \(h)x\(w) pad \(pad)" + (dilation > 1 ? " dilation \(dilation)" : "") }
    }

    static let cases = [
        Case(cin: 8, cout: 12, h: 7, w: 9, pad: 1), Case(cin: 16, cout: 9, h: 13, w: 31, pad: 1),
        Case(cin: 11, cout: 8, h: 5, w: 6, pad: 0), Case(cin: 8, cout: 8, h: 1, w: 1, pad: 1),
        Case(cin: 24, cout: 17, h: 34, w: 71, pad: 1),
        // Many channels on a small map: with 2+ threads the work is split by output channels, over two chunks
        // of its 192 tiles, the second starting mid-row (8 × the 2 MiB budget holds 151 tiles of 512→512).
        Case(cin: 512, cout: 512, h: 45, w: 61, pad: 1),
        // Dilated: run on the stacked phases of the map; sizes not multiples of the dilation leave short phases.
        Case(cin: 8, cout: 12, h: 13, w: 31, pad: 2, dilation: 2), Case(cin: 16, cout: 9, h: 17, w: 23, pad: 4, dilation: 4),
        Case(cin: 9, cout: 8, h: 3, w: 5, pad: 4, dilation: 4),
    ]

    /// Deterministic values in [−1, 1): the same data for every algorithm and thread count.
    static func values(_ n: Int, seed: Int) -> [Float] {
        (0..<n).map { i in Float((i &* 7919 &+ seed &* 104729) % 2000) / 1000 - 1 }
    }

    @Test(arguments: cases, [1, 2, 3])
    func matchesDirectConvolution(_ c: Case, threads: Int) {
        let conv = Conv2d(name: "w\(c)", inChannels: c.cin, outChannels: c.cout, kernelSize: 3, padding: c.pad,
                          dilation: c.dilation,
                          weight: Self.values(c.cout * c.cin * 9, seed: 1).map { $0 * 0.3 },
                          bias: Self.values(c.cout, seed: 2), relu: true)
        let (ho, wo) = conv.outputSize(height: c.h, width: c.w)
        let x = Tensor(channels: c.cin, height: c.h, width: c.w, values: Self.values(c.cin * c.h * c.w, seed: 3))
        let residual = Tensor(channels: c.cout, height: ho, width: wo, values: Self.values(c.cout * ho * wo, seed: 4))
        let context = ExecutionContext(threads: threads)
        // A first run on a bigger map leaves the conv's and the context's scratch dirty, laid out for other
        // sizes: results must not depend on it.
        let (oh, ow) = (c.h + 3, c.w + 5), (oho, owo) = conv.outputSize(height: oh, width: ow)
        let other = Tensor(channels: c.cin, height: oh, width: ow, values: [Float](repeating: 5, count: c.cin * oh * ow))
        func run(_ a: Conv2d.Algorithm, residual: Tensor?) -> [Float] {
            conv.run(other, into: Tensor(channels: c.cout, height: oho, width: owo), residual: nil, algorithm: a,
                     context: context)
            // Into a channel slice of a bigger tensor, whose other channels must stay as they were.
            let out = Tensor(channels: c.cout + 2, height: ho, width: wo)
            for i in 0..<out.count { out.data[i] = -7 }
            conv.run(x, into: out.channelSlice(1..<(c.cout + 1)), residual: residual, algorithm: a, context: context)
            let all = out.toArray(), plane = ho * wo
            #expect(all[..<plane].allSatisfy { $0 == -7 } && all[((c.cout + 1) * plane)...].allSatisfy { $0 == -7 },
                    "\(a) \(c) wrote outside its channels")
            return Array(all[plane..<((c.cout + 1) * plane)])
        }
        let weights = Self.values(c.cout * c.cin * 9, seed: 1).map { $0 * 0.3 }, bias = Self.values(c.cout, seed: 2)
        let input = x.toArray(), res = residual.toArray()
        for withResidual in [true, false] {
            let outputs = Conv2d.Algorithm.allCases.map { ($0, run($0, residual: withResidual ? residual : nil)) }
            let im2col = outputs[0].1
            #expect(im2col.contains { $0 > 0 } && im2col.contains { $0 == 0 }, "the ReLU should bite somewhere")
            // Every algorithm against a float64 direct convolution at sampled outputs. fp32 summation error grows
            // with the magnitude of the terms, not of the result, so the bound is relative to Σ|w·x| + |b| + |r|
            // at that output (a forward error bound); Winograd's transforms add a constant factor to it. Seen here
            // (OpenBLAS 0.3.21, Haswell and SkylakeX kernels): im2col ≤ 1.7e-7, F(2×2) ≤ 2.2e-7, F(4×4) ≤ 8.9e-7;
            // one wrong or missing term is ≥ 2e-4 even at C_in = 512.
            for o in stride(from: 0, to: c.cout, by: max(1, c.cout / 7)) {
                for p in stride(from: o % 5, to: ho * wo, by: max(1, ho * wo / 97)) {
                    let (oy, ox) = (p / wo, p % wo)
                    var sum = Double(bias[o]), magnitude = Double(abs(bias[o]))
                    if withResidual { sum += Double(res[o * ho * wo + p]); magnitude += Double(abs(res[o * ho * wo + p])) }
                    for i in 0..<c.cin {
                        for ky in 0..<3 {
                            let iy = oy - c.pad + ky * c.dilation
                            guard iy >= 0 && iy < c.h else { continue }
                            for kx in 0..<3 {
                                let ix = ox - c.pad + kx * c.dilation
                                guard ix >= 0 && ix < c.w else { continue }
                                let t = Double(weights[((o * c.cin + i) * 3 + ky) * 3 + kx]) * Double(input[(i * c.h + iy) * c.w + ix])
                                sum += t
                                magnitude += abs(t)
                            }
                        }
                    }
                    let expected = max(0, sum)
                    for (algorithm, got) in outputs {
                        let bound = (algorithm == .im2col ? 1e-6 : 4e-6) * max(1, magnitude)
                        #expect(abs(Double(got[o * ho * wo + p]) - expected) <= bound,
                                "\(algorithm) \(c) threads \(threads) residual \(withResidual) at channel \(o) pixel \(p)")
                    }
                }
            }
        }
    }

    @Test func ruleFollowsMapSizeAndChannels() {
        let conv = Conv2d(name: "r", inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1,
                          weight: [Float](repeating: 0.01, count: 64 * 64 * 9))
        #expect(conv.algorithm(outputHeight: 128, outputWidth: 256, threads: 2) == .winograd4x4)
        #expect(conv.algorithm(outputHeight: 2, outputWidth: 2, threads: 2) == .im2col)
        let thin = Conv2d(name: "t", inChannels: 4, outChannels: 64, kernelSize: 3, padding: 1,
                          weight: [Float](repeating: 0.01, count: 64 * 4 * 9))
        #expect(thin.algorithm(outputHeight: 128, outputWidth: 256, threads: 2) == .im2col)
        let dilated = Conv2d(name: "d", inChannels: 64, outChannels: 64, kernelSize: 3, padding: 2, dilation: 2,
                             weight: [Float](repeating: 0.01, count: 64 * 64 * 9))
        #expect(dilated.algorithm(outputHeight: 128, outputWidth: 256, threads: 2) == .winograd4x4)
        let shrinking = Conv2d(name: "p", inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1, dilation: 2,
                               weight: [Float](repeating: 0.01, count: 64 * 64 * 9))
        #expect(shrinking.algorithm(outputHeight: 126, outputWidth: 254, threads: 2) == .im2col)
        let strided = Conv2d(name: "s", inChannels: 64, outChannels: 64, kernelSize: 3, stride: 2, padding: 1,
                             weight: [Float](repeating: 0.01, count: 64 * 64 * 9))
        #expect(strided.algorithm(outputHeight: 128, outputWidth: 256, threads: 2) == .im2col)
    }
}
