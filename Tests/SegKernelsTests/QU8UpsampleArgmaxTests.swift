import CSegKernels
import Foundation
import Testing

/// The int8 output stage `seg_qu8_upsample_argmax`: every ISA must give exactly the labels of
/// `seg_f32_bilinear_argmax_u8` (the fp32 engine's kernel, the reference) on the CHW transpose.
@Suite("qu8 upsample + argmax")
struct QU8UpsampleArgmaxTests {
    static let allISAs: [seg_isa] = [SEG_ISA_SCALAR] + simdISAs

    /// NHWC logits (pixel stride `stride`) → labels with `isa`, rows split into three calls with distinct
    /// misaligned scratch buffers.
    static func labels(_ isa: seg_isa, _ x: [Float], c: Int, stride: Int, inH: Int, inW: Int, outH: Int, outW: Int,
                       align: Bool, split: (Int, Int)) -> [UInt8] {
        var out = [UInt8](repeating: 0xEE, count: outH * outW)
        let bytes = seg_qu8_upsample_argmax_scratch_bytes(c, inW, outW)
        var scratch = [UInt8](repeating: 0, count: bytes + 8)
        let cuts = [0, split.0, split.1, outH]
        x.withUnsafeBufferPointer { xp in
            scratch.withUnsafeMutableBytes { s in
                for k in 0..<3 {
                    seg_qu8_upsample_argmax_isa(isa, xp.baseAddress, c, stride, inH, inW, &out, outH, outW, align ? 1 : 0,
                                                cuts[k], cuts[k + 1], s.baseAddress! + 1 + 3 * k % 8)
                }
            }
        }
        return out
    }

    static func reference(_ x: [Float], c: Int, stride: Int, inH: Int, inW: Int, outH: Int, outW: Int, align: Bool) -> [UInt8] {
        var chw = [Float](repeating: 0, count: c * inH * inW)
        for p in 0..<(inH * inW) { for k in 0..<c { chw[k * inH * inW + p] = x[p * stride + k] } }
        var out = [UInt8](repeating: 0, count: outH * outW)
        seg_f32_bilinear_argmax_u8(chw, c, inH, inW, &out, outH, outW, 0, outH, align ? 1 : 0)
        return out
    }

    @Test func everyISAEqualsTheFP32Kernel() {
        var rng = TestSeed.rng("upsampleArgmax")
        for trial in 0..<200 {
            let c = [1, 2, 3, 7, 16, 17, 19, 32, 33, 64].randomElement(using: &rng)!
            let inH = Int.random(in: 1...14, using: &rng), inW = Int.random(in: 1...40, using: &rng)
            var outH = Int.random(in: 1...50, using: &rng), outW = Int.random(in: 1...130, using: &rng)
            if trial % 3 == 0 {   // the network's case: an integer upscale (plus a few)
                outH = inH * Int.random(in: 1...8, using: &rng) + Int.random(in: 0...2, using: &rng)
                outW = inW * Int.random(in: 1...8, using: &rng) + Int.random(in: 0...2, using: &rng)
            }
            let stride = c + [0, 1, 5].randomElement(using: &rng)!
            let align = Bool.random(using: &rng)
            // Few distinct levels make exact ties between classes common; otherwise spread values.
            let levels = trial % 2 == 0 ? Int.random(in: 1...3, using: &rng) : 0
            let x = (0..<(inH * inW * stride)).map { _ in
                levels > 0 ? Float(Int.random(in: 0..<levels, using: &rng)) : Float.random(in: -30...30, using: &rng)
            }
            let a = Int.random(in: 0...outH, using: &rng), b = Int.random(in: a...outH, using: &rng)
            let ref = Self.reference(x, c: c, stride: stride, inH: inH, inW: inW, outH: outH, outW: outW, align: align)
            for isa in Self.allISAs {
                let got = Self.labels(isa, x, c: c, stride: stride, inH: inH, inW: inW, outH: outH, outW: outW, align: align,
                                      split: (a, b))
                #expect(got == ref, "\(isaName(isa)) c=\(c) \(inH)x\(inW)→\(outH)x\(outW) align=\(align) rows \(a),\(b) \(TestSeed.note)")
            }
        }
    }

    @Test func tiesGoToTheLowerClassAndNaNNeverWins() {
        // 2×2 input, 3 classes, upsampled to 3×3 (align corners). Classes 1 and 2 tie everywhere and beat
        // class 0, so class 1 wins (the lower class). Then pixel (1,1) gets a NaN in class 1: every blend
        // that reads it is NaN, even with weight 0 as in the fp32 kernel (0·NaN = NaN), and with 2 input
        // rows and columns every output pixel reads it (it is the xb/yb tap of the last ones), so class 1
        // is NaN everywhere and class 2 wins: a NaN never wins.
        let tie: [Float] = [0, 5, 5,   0, 5, 5,
                            0, 5, 5,   0, 5, 5]
        let nan = Float.nan
        let x: [Float] = [0, 5, 5,   0, 5, 5,
                          0, 5, 5,   0, nan, 5]
        for isa in Self.allISAs {
            let tied = Self.labels(isa, tie, c: 3, stride: 3, inH: 2, inW: 2, outH: 3, outW: 3, align: true, split: (1, 2))
            #expect(tied == [UInt8](repeating: 1, count: 9), "\(isaName(isa))")
            let got = Self.labels(isa, x, c: 3, stride: 3, inH: 2, inW: 2, outH: 3, outW: 3, align: true, split: (1, 2))
            #expect(got == [UInt8](repeating: 2, count: 9), "\(isaName(isa))")
            #expect(got == Self.reference(x, c: 3, stride: 3, inH: 2, inW: 2, outH: 3, outW: 3, align: true))
            // All classes equal: class 0.
            let flat = Self.labels(isa, [Float](repeating: 1, count: 12), c: 3, stride: 3, inH: 2, inW: 2, outH: 5, outW: 7,
                                   align: false, split: (0, 5))
            #expect(flat.allSatisfy { $0 == 0 }, "\(isaName(isa))")
        }
    }

    @Test func largeUpscaleMatches() {
        // The DF1/R18 geometry at a small scale (1/4 → full, 19 classes), one call per half.
        var rng = TestSeed.rng("upsampleArgmaxLarge")
        let (c, inH, inW, outH, outW) = (19, 16, 40, 64, 160)
        let x = (0..<(inH * inW * c)).map { _ in Float.random(in: -8...8, using: &rng) }
        let ref = Self.reference(x, c: c, stride: c, inH: inH, inW: inW, outH: outH, outW: outW, align: true)
        for isa in Self.allISAs {
            #expect(Self.labels(isa, x, c: c, stride: c, inH: inH, inW: inW, outH: outH, outW: outW, align: true,
                                split: (32, 32)) == ref, "\(isaName(isa))")
        }
    }
}
