import CSegKernels
import Foundation
import SegEngine
import SFNet
import Testing

/// FBNet's Dual Feature Modulator and IFBFNet's balanced fusion (issue #15, `decoder_blocks` dfm / ifbf) in both
/// engines: fp32 against tools/sfnet/model.py (fixtures with the blocks' weights randomised), int8 against fp32,
/// and the model-file rules.
@Suite struct FBNetBlockTests {
    /// (fixture, input, threads): DF1 with both blocks (two FAM levels), R18 with the fusion at its three levels.
    static let cases: [(String, Int, Int)] = [("df1_w16_dfm_ifbf", 0, 2), ("df1_w16_dfm_ifbf", 1, 1), ("r18_w16_ifbf", 0, 2)]

    @Test(arguments: cases)
    func fp32MatchesPyTorch(_ c: (model: String, input: Int, threads: Int)) throws {
        let session = try SFNetModel(contentsOf: try fixtureURL(c.model)).session(threads: c.threads)
        let io = try SafetensorsFile(contentsOf: try fixtureURL("\(c.model)_io"))
        let xs = io.entries["input\(c.input)"]!.shape
        let input = Tensor(channels: xs[0], height: xs[1], width: xs[2], values: try io.floats("input\(c.input)"))
        let expected = try io.floats("logits\(c.input)")
        for pass in 0..<2 {
            let logits = session.forward(input: input).toArray()
            let diff = maxAbsDiff(logits, expected), scale = maxAbs(expected)
            #expect(diff <= 1e-4 * scale, "\(c.model) pass \(pass): max |Δ| \(diff) vs max |logit| \(scale)")
        }
    }

    @Test func blocksChangeTheOutput() throws {
        // The parity above means something only if the blocks act: the same file read as plain SFNet (block
        // tensors dropped) must give other logits.
        let src = try SafetensorsFile(contentsOf: try fixtureURL("df1_w16_dfm_ifbf"))
        var meta = src.metadata
        meta["decoder_blocks"] = nil
        var w = SafetensorsWriter(metadata: meta)
        for n in src.names where !n.hasPrefix("head.dfm.") && !n.hasPrefix("head.ifbf.") {
            w.add(n, shape: src.entries[n]!.shape, floats: try src.floats(n))
        }
        let plain = try SFNetModel(file: try SafetensorsFile(bytes: Array(try w.serialized()))).session(threads: 2)
        let blocks = try SFNetModel(file: src).session(threads: 2)
        let x = syntheticFrame(height: 48, width: 96, seed: 5)
        let a = plain.lowResolutionLogits(input: x).toArray(), b = blocks.lowResolutionLogits(input: x).toArray()
        #expect(maxAbsDiff(a, b) > 0.005 * maxAbs(b))   // 50× the parity tolerance
    }

    @Test(arguments: ["df1_w16_dfm_ifbf", "r18_w16_ifbf"])
    func int8AgreesWithFP32(_ name: String) throws {
        // The thresholds of Int8NetworkTests.argmaxAgreesWithFP32, on the block models.
        let (fp32, int8, bytes) = try quantizedFixture(name, method: .mse)
        let file = try SafetensorsFile(bytes: Array(bytes))
        #expect(file.metadata["decoder_blocks"] == (name.contains("dfm") ? #"{"dfm": true, "ifbf": true}"# : #"{"ifbf": true}"#))
        // P5 gets a group of its own; the DFM output, resized into the fuse concat, shares that concat's (as P5 does
        // without the block); the balanced sums keep the FAM sum groups.
        #expect((file.entries["act.head.ppm.bottleneck.0.scale"] != nil) == name.contains("dfm"))
        #expect(file.entries["act.head.dfm.scale"] == nil && file.entries["act.head.fpn_out_align.0.sum.scale"] != nil)
        let (agree, rel) = int8AgreementWithFP32(int8, fp32, seeds: 200..<202)
        print("int8 \(name): label agreement \(agree), relative L2 logit error \(rel)")
        #expect(rel <= 0.06)
        #expect(agree >= 0.85)
    }

    @Test func int8EveryISAGivesIdenticalOutput() throws {
        let (_, int8, _) = try quantizedFixture("df1_w16_dfm_ifbf", frames: 2)
        expectEveryISAIdentical(int8, syntheticFrame(height: 45, width: 77, seed: 9), "df1_w16_dfm_ifbf")
    }

    @Test func metadataAndTensorsMustAgree() throws {
        let src = try SafetensorsFile(contentsOf: try fixtureURL("df1_w16_dfm_ifbf"))
        func load(_ metadata: [String: String], dropping prefix: String? = nil) throws -> SFNetModel {
            var w = SafetensorsWriter(metadata: metadata)
            for n in src.names where prefix.map({ !n.hasPrefix($0) }) ?? true {
                w.add(n, shape: src.entries[n]!.shape, floats: try src.floats(n))
            }
            return try SFNetModel(file: try SafetensorsFile(bytes: Array(try w.serialized())))
        }
        let model = try load(src.metadata)
        #expect(model.config.decoderBlocks == DecoderBlocks(featureModulator: true, balancedFusion: true))
        #expect(model.config.decoderBlocks.names == ["dfm", "ifbf"])
        // Block tensors in state-dict order after the head's own; the BwBCE classifier is not in files.
        let names = SFNetModel.expectedTensors(for: model.config).map(\.name)
        #expect(Array(names.suffix(10)) == [
            "head.dfm.spatial.weight", "head.dfm.spatial.bias", "head.dfm.channel.weight", "head.dfm.channel.bias",
            "head.ifbf.0.fc_h.weight", "head.ifbf.0.fc_h.bias", "head.ifbf.0.fc_l.weight",
            "head.ifbf.1.fc_h.weight", "head.ifbf.1.fc_h.bias", "head.ifbf.1.fc_l.weight",
        ])
        var meta = src.metadata
        meta["decoder_blocks"] = #"{"ifbf": true}"#
        do {
            _ = try load(meta)
            Issue.record("DFM tensors without dfm in decoder_blocks were accepted")
        } catch let ModelFileError.unexpectedTensor(name) {
            #expect(name.hasPrefix("head.dfm."))
        }
        #expect(throws: ModelFileError.missingTensor("head.ifbf.0.fc_h.weight")) { try load(src.metadata, dropping: "head.ifbf.") }
        for bad in [#"{"dfm": 1}"#, #"{"ifbf": "yes"}"#, #"{"fbnet": true}"#, "[]"] {
            meta["decoder_blocks"] = bad
            #expect(throws: ModelFileError.self, "\(bad)") { try load(meta) }
        }
        // The config round-trips through its metadata.
        #expect(try SFNetConfig(metadata: model.config.metadata) == model.config)
    }
}
