import CSegKernels
import Foundation
import SegEngine
@testable import SFNet
import Testing

/// SeENet's decoder blocks (issue #15) beyond PyTorch parity (NetworkParityTests) and int8 agreement
/// (Int8NetworkTests): the file switch, the int8 lowering and every ISA, the graph the blocks add.
@Suite struct SeENetBlockTests {
    @Test func filesNameTheirBlocks() throws {
        let a = try SFNetModel(contentsOf: try fixtureURL("df1_w16_seem_bam"))
        #expect(a.config.decoderBlocks == DecoderBlocks(semanticEnhancement: .sdaspp, boundaryAttention: true))
        #expect(a.config.metadata["decoder_blocks"] == #"{"bam": true, "seem": "s-daspp"}"#)
        let b = try SFNetModel(contentsOf: try fixtureURL("r18_w16_seem_fs"))
        #expect(b.config.decoderBlocks.names == ["seem:fs"])
        // A file whose tensors lack the blocks its metadata names is refused, naming the first missing tensor.
        let plain = try SafetensorsFile(contentsOf: try fixtureURL("df1_w16_ac0"))
        var meta = plain.metadata
        meta["decoder_blocks"] = #"{"seem": "fs"}"#
        var w = SafetensorsWriter(metadata: meta)
        for n in plain.names { w.add(n, shape: plain.entries[n]!.shape, floats: try plain.floats(n)) }
        #expect(throws: ModelFileError.missingTensor("head.seem.0.branches.0.reduce.0.weight")) {
            try SFNetModel(file: try SafetensorsFile(bytes: Array(try w.serialized())))
        }
    }

    @Test func graphHasTheBlocksNodesAndGroups() throws {
        let config = try SFNetModel(contentsOf: try fixtureURL("df2_w16_seem_fs_bam")).config
        let g = Graph.sfnet(config)
        let depthwise = g.parameters.filter(\.isDepthwise)
        // Two levels × four branches × (atrous + local for dilations 2, 4, 8).
        #expect(depthwise.count == 2 * (4 + 3))
        #expect(depthwise.map(\.kernel).filter { $0 > 3 }.sorted() == [5, 5, 9, 9])
        #expect(g.nodes.filter { if case .boundaryGate = $0.op { return true } else { return false } }.count == 1)
        let plan = try SFNetInt8Plan(graph: g, fp32Layers: [])
        for group in ["head.seem.0.concat", "head.seem.1.concat", "head.seem.0.project.0", "head.bam.attention", "head.bam.gate"] {
            #expect(plan.groups.contains(group), "\(group)")
        }
        #expect(plan.io["head.seem.1.branches.3.atrous.0"]! == ("head.seem.1.branches.3.local.0", "head.seem.1.branches.3.atrous.0"))
        // conv_last reads the BAM slice too.
        #expect(g.parameters.first { $0.name == "head.conv_last.0.0" }!.inChannels == (3 + 1) * 64 / 16)
    }

    @Test func int8EveryISAGivesIdenticalOutputAndTheProfileNamesTheBlocks() throws {
        for name in ["df1_w16_seem_bam", "df2_w16_seem_fs_bam"] {
            let (_, int8, bytes) = try quantizedFixture(name, frames: 2)
            let file = try SafetensorsFile(bytes: Array(bytes))
            #expect(file.entries["head.seem.0.branches.1.atrous.0.weight_q"]!.shape == [2, 1, 3, 3])
            #expect(file.entries["act.head.bam.gate.scale"] != nil)
            let x = syntheticFrame(height: 50, width: 70, seed: 5)
            expectEveryISAIdentical(int8, x, name)
            let profile = int8.profile(input: x)
            let atrous = try #require(profile.first { $0.name == "head.seem.0.branches.3.atrous.0" })
            #expect(atrous.macs > 0)
            #expect(profile.contains { $0.name == "head.bam.gate" })
        }
    }

    /// A tensor calibrated all-zero (a dead ReLU branch, common in SeEM's narrow branches) gets the unit range, so
    /// a conv reading it keeps its bias: with the old 1e-8 scale round(b/(s_x·s_w)) overflowed int32 and the
    /// df2 SeEM-FS fixture's int8 logits were 25 % off fp32 (now 2 %).
    @Test func convReadingADeadTensorKeepsItsBias() {
        let dead = QuantParams(min: 0, max: 0), out = QuantParams(min: 0, max: 4)
        #expect(dead.scale == 1 / 255 && dead.zeroPoint == 0)
        let conv = QConv2d(name: "c", inChannels: 4, outChannels: 2, kernelSize: 1, weight: [Int8](repeating: 127, count: 8),
                           weightScale: [1e-3, 1e-3], bias: [3, 0.5], input: dead, output: out, relu: true)
        let x = QTensor(channels: 4, height: 2, width: 3, params: dead)   // zero-filled: the zero point
        let y = QTensor(channels: 2, height: 2, width: 3, params: out)
        conv.run(x, into: y, context: ExecutionContext(threads: 1))
        let v = y.dequantized()
        #expect(v.count == 12 && (0..<6).allSatisfy { abs(v[$0] - 3) <= out.scale && abs(v[6 + $0] - 0.5) <= out.scale }, "\(v)")
    }
}
