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
        let (agree, rel) = int8AgreementWithFP32(int8, fp32, seeds: 300..<302)
        print("int8 df1_w16_all_blocks: label agreement \(agree), relative L2 logit error \(rel)")
        #expect(rel <= 0.06)
        #expect(agree >= 0.85)
        expectEveryISAIdentical(int8, syntheticFrame(height: 45, width: 77, seed: 9), "df1_w16_all_blocks")
    }
}
