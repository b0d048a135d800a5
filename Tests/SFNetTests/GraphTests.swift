import Foundation
import SegEngine
@testable import SFNet
import Testing

/// The network description and its buffer plan, checked by replaying the plan: every buffer a node touches
/// is live, slices stay inside their concat, buffers are given back exactly once (after their last
/// reader), and the concat producers really write into the concat's buffer.
@Suite struct GraphTests {
    static let configs: [SFNetConfig] = SFNetArch.allCases.map { arch in
        var c = SFNetConfig(arch: arch)
        c.widthDivisor = 16
        return c
    } + [SFNetArch.df1, .r18].map { arch in   // with FBNet's and IFBFNet's decoder blocks (docs/blocks.md)
        var c = SFNetConfig(arch: arch, widthDivisor: 16)
        c.decoderBlocks = DecoderBlocks(featureModulator: true, balancedFusion: true)
        return c
    }

    @Test(arguments: configs, [(64, 96), (37, 59), (512, 1024)])
    func planKeepsEveryBufferAliveWhileUsed(_ config: SFNetConfig, _ size: (Int, Int)) {
        let graph = Graph.sfnet(config)
        let plan = GraphPlan(graph, height: size.0, width: size.1)
        var live = Set<Int>(), taken = Set<Int>(), givenBack = Set<Int>()
        var lastUse = [Int: Int]()
        for (i, node) in graph.nodes.enumerated() {
            for b in plan.take[i] {
                #expect(!taken.contains(b), "buffer \(b) taken twice")
                taken.insert(b); live.insert(b)
            }
            for v in node.inputs + (node.residual.map { [$0] } ?? []) + [node.output] where v != graph.input {
                let b = plan.bufferOfValue[v]
                #expect(live.contains(b), "\(node.name) uses buffer \(b) while it is not live")
                lastUse[b] = i
                // The value fits its buffer: its channels inside, the same height and width.
                let value = graph.values[v], s = plan.shapes[v], bs = plan.bufferShapes[b]
                #expect(value.channelOffset + value.channels <= bs.channels && s.height == bs.height && s.width == bs.width,
                        "\(node.name): value \(v) \(s) does not fit buffer \(bs)")
            }
            // Live buffers and this node's scratch are in distinct slots, each big enough.
            let slots = live.map { plan.slotOfBuffer[$0] } + plan.scratchSlots[i]
            #expect(Set(slots).count == slots.count, "\(node.name): two live buffers share a slot")
            for b in live {
                let s = plan.bufferShapes[b]
                #expect(plan.slotElements[plan.slotOfBuffer[b]] >= s.channels * s.height * s.width)
            }
            for b in plan.giveBack[i] {
                #expect(live.contains(b) && !givenBack.contains(b))
                live.remove(b); givenBack.insert(b)
                #expect(lastUse[b] == i, "buffer \(b) given back after node \(i), last used by \(lastUse[b] ?? -1)")
            }
        }
        // Everything but the logits goes back; the logits stay live for the caller.
        #expect(live == [plan.bufferOfValue[graph.output]])
        #expect(taken == Set(plan.bufferShapes.indices))
        let out = plan.shapes[graph.output]
        #expect(out.channels == config.numClasses)
    }

    @Test(arguments: configs)
    func concatProducersWriteIntoOneBuffer(_ config: SFNetConfig) throws {
        let (backbone, head) = Graph.sfnetModules(config)
        let graph = Graph.sfnet(config)
        let plan = GraphPlan(graph, height: 64, width: 96)
        func output(of name: String) throws -> Int { try #require(graph.nodes.first { $0.name == name }).output }
        func input(of name: String) throws -> Int { try #require(graph.nodes.first { $0.name == name }).inputs[0] }
        let f = head.dim, bins = head.ppm.bins.count
        // PPM: the top backbone feature is written into the concat's last channels, the bins before it, and
        // the bottleneck reads the whole buffer.
        let top = try output(of: backbone.stages.last!.blocks.last!.conv2.name)
        let ppm = plan.bufferOfValue[try input(of: head.ppm.bottleneck.name)]
        #expect(plan.bufferOfValue[top] == ppm && graph.values[top].channelOffset == bins * f)
        for k in 0..<bins {
            let v = try output(of: "head.ppm.resize.\(k)")
            #expect(plan.bufferOfValue[v] == ppm && graph.values[v].channelOffset == k * f)
        }
        #expect(plan.bufferShapes[ppm].channels == bins * f + graph.values[top].channels)
        // FAM: up(down_h) and down_l fill the flow conv's input.
        for i in head.fam.indices {
            let cat = plan.bufferOfValue[try input(of: head.fam[i].flowMake.name)]
            #expect(plan.bufferOfValue[try output(of: "head.fpn_out_align.\(i).resize")] == cat)
            let dl = try output(of: head.fam[i].downL.name)
            #expect(plan.bufferOfValue[dl] == cat && graph.values[dl].channelOffset == f / 2)
        }
        // Fuse: fpn_out.0 at channel 0, then the resized levels; conv_last reads it all.
        let fused = plan.bufferOfValue[try input(of: head.convLast.name)]
        let p2 = try output(of: head.fpnOut[0].name)
        #expect(plan.bufferOfValue[p2] == fused && graph.values[p2].channelOffset == 0)
        for j in 1..<(head.fpnIn.count + 1) {
            let v = try output(of: "head.fuse.resize.\(j)")
            #expect(plan.bufferOfValue[v] == fused && graph.values[v].channelOffset == j * f)
        }
    }

    /// The int8 groups the graph gives are the documented ones (docs/int8.md): concat members share their
    /// concat's params, pools and resizes keep their input's, the FAM sum has its own.
    @Test func quantizationGroupsFollowTheConcats() throws {
        let t = Graph.sfnetModules(Self.configs[1]).head
        let graph = Graph.sfnet(Self.configs[1])
        let groups = graph.quantizationGroups()
        func group(ofOutput name: String) throws -> String? { groups[try #require(graph.nodes.first { $0.name == name }).output] }
        #expect(try group(ofOutput: t.ppm.stages[2].name) == "head.ppm.concat")
        #expect(try group(ofOutput: t.ppm.bottleneck.name) == "head.fuse.concat")
        #expect(try group(ofOutput: t.fpnOut[1].name) == "head.fuse.concat")
        #expect(try group(ofOutput: t.fam[0].downH.name) == "head.fpn_out_align.0.concat")
        #expect(try group(ofOutput: "head.fpn_out_align.1.warp") == "head.fpn_out_align.1.sum")
        #expect(try group(ofOutput: t.fpnIn[0].name) == t.fpnIn[0].name)
        #expect(try group(ofOutput: t.fam[0].flowMake.name) == nil)   // fp32 flow
        #expect(try group(ofOutput: t.classifier.name) == nil)        // fp32 logits
        #expect(groups[graph.input] == "input")
    }

    @Test func decoderBlockGroups() throws {
        // FBNet's modulator and IFBFNet's fusion (docs/int8.md): P5 gets its own group, the modulated P5 joins the
        // fuse concat as P5 does without the block, the warp keeps the coarse feature's group, the balanced sum is
        // the FAM sum, the gate convs write fp32.
        let config = Self.configs.first { $0.arch == .df1 && !$0.decoderBlocks.isEmpty }!
        let t = Graph.sfnetModules(config).head
        let graph = Graph.sfnet(config)
        let groups = graph.quantizationGroups()
        func group(ofOutput name: String) throws -> String? { groups[try #require(graph.nodes.first { $0.name == name }).output] }
        #expect(try group(ofOutput: t.ppm.bottleneck.name) == t.ppm.bottleneck.name)
        #expect(try group(ofOutput: "head.dfm") == "head.fuse.concat")
        #expect(try group(ofOutput: "head.fpn_out_align.1.warp") == "head.fuse.concat")   // DF1's level 1 warps P5
        #expect(try group(ofOutput: "head.fpn_out_align.0.warp") == "head.fpn_out_align.1.sum")
        #expect(try group(ofOutput: "head.ifbf.0") == "head.fpn_out_align.0.sum")
        for conv in ["head.dfm.spatial", "head.dfm.channel", "head.ifbf.0.fc_h", "head.ifbf.1.fc_l"] {
            #expect(try group(ofOutput: conv) == nil, "\(conv)")
        }
        #expect(SFNetInt8Plan.fp32Candidates(graph).contains("head.dfm.spatial"))
    }
}

extension SFNetConfig: CustomTestStringConvertible {
    public var testDescription: String {
        "\(arch.rawValue)/\(widthDivisor)" + (decoderBlocks.isEmpty ? "" : "+" + decoderBlocks.names.joined(separator: "+"))
    }
}
