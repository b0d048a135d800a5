@testable import SegEngine
import Testing

/// Both Winograd variants of Conv2d against its im2col + sgemm path (an independent computation of the same
/// convolution) on map sizes that are not multiples of the tile, with bias, residual and ReLU fused.
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
    func matchesIm2col(_ c: Case, threads: Int) {
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
        for res in [residual, nil] {
            let reference = run(.im2col, residual: res)
            #expect(reference.contains { $0 > 0 } && reference.contains { $0 == 0 }, "the ReLU should bite somewhere")
            for a in [Conv2d.Algorithm.winograd4x4, .winograd2x2] {
                let got = run(a, residual: res)
                // Both are fp32 sums of the same ~9·C_in terms of size ≤ 0.3, plus the transforms' rounding.
                #expect(maxAbsDiff(got, reference) <= 1e-5 * max(1, maxAbs(reference)),
                        "\(a) \(c) threads \(threads) residual \(res != nil)")
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
