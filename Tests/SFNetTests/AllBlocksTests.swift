import CSegKernels
import Foundation
import SegEngine
import SFNet
import Testing

/// Every decoder block of issue #15 on at once (dfm, ifbf, seem s-daspp, bam; `df1_w16_all_blocks`, weights and
/// BN statistics randomised by tools/make_fixtures.py): the blocks compose in both engines as in the PyTorch
/// reference, not only one by one.
@Suite struct AllBlocksTests {
    @Test(arguments: [(0, 2), (1, 1)])
    func fp32MatchesPyTorch(_ c: (input: Int, threads: Int)) throws {
        let model = try SFNetModel(contentsOf: try fixtureURL("df1_w16_all_blocks"))
        #expect(model.config.decoderBlocks == DecoderBlocks(featureModulator: true, balancedFusion: true,
                                                             semanticEnhancement: .sdaspp, boundaryAttention: true))
        let session = model.session(threads: c.threads)
        let io = try SafetensorsFile(contentsOf: try fixtureURL("df1_w16_all_blocks_io"))
        let xs = io.entries["input\(c.input)"]!.shape
        let input = Tensor(channels: xs[0], height: xs[1], width: xs[2], values: try io.floats("input\(c.input)"))
        let expected = try io.floats("logits\(c.input)")
        let logits = session.forward(input: input).toArray()
        let diff = maxAbsDiff(logits, expected), scale = maxAbs(expected)
        #expect(diff <= 1e-4 * scale, "input \(c.input): max |Δ| \(diff) vs max |logit| \(scale)")
    }

    @Test func int8AgreesWithFP32AndEveryISAIsIdentical() throws {
        // The thresholds of Int8NetworkTests.argmaxAgreesWithFP32 and of each block's own suite.
        let (fp32, int8, _) = try quantizedFixture("df1_w16_all_blocks", method: .mse)
        var agree = 0.0, err2: Float = 0, ref2: Float = 0
        for seed in 0..<2 {
            let x = syntheticFrame(height: 64, width: 96, seed: 300 + seed)
            agree += argmaxAgreement(int8.predictLabels(input: x), fp32.predictLabels(input: x)) / 2
            let av = int8.lowResolutionLogits(input: x).toArray(), bv = fp32.lowResolutionLogits(input: x).toArray()
            for i in av.indices { err2 += (av[i] - bv[i]) * (av[i] - bv[i]); ref2 += bv[i] * bv[i] }
        }
        let rel = (err2 / ref2).squareRoot()
        print("int8 df1_w16_all_blocks: label agreement \(agree), relative L2 logit error \(rel)")
        #expect(rel <= 0.06)
        #expect(agree >= 0.85)

        let x = syntheticFrame(height: 45, width: 77, seed: 9)
        int8.isa = SEG_ISA_SCALAR
        let reference = int8.lowResolutionLogits(input: x).toArray()
        for isa in [SEG_ISA_AVX2, SEG_ISA_AVX512VNNI] where seg_isa_supported(isa) != 0 {
            int8.isa = isa
            #expect(int8.lowResolutionLogits(input: x).toArray() == reference, "\(String(cString: seg_isa_name(isa)))")
        }
    }
}
