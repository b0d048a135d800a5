import Foundation
import SegEngine
import SFNet
import Testing

func fixtureURL(_ name: String) throws -> URL {
    try #require(Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures"))
}

/// Whole networks against tools/sfnet/model.py (narrow widths, random weights and BN statistics).
@Suite struct NetworkParityTests {
    struct Case: Sendable, CustomStringConvertible {
        let model: String, input: Int, threads: Int
        var description: String { "\(model) input\(input) threads \(threads)" }
    }

    static let cases: [Case] = [
        Case(model: "r18_w16", input: 0, threads: 2), Case(model: "r18_w16", input: 1, threads: 1),
        Case(model: "df1_w16_ac0", input: 0, threads: 2), Case(model: "df1_w16_ac0", input: 1, threads: 3),
        Case(model: "df2_w16", input: 0, threads: 2),
        // SeENet's blocks (issue #15): SeEM S-DASPP + BAM, SeEM-FS, SeEM-FS + BAM.
        Case(model: "df1_w16_seem_bam", input: 0, threads: 2), Case(model: "df1_w16_seem_bam", input: 1, threads: 3),
        Case(model: "r18_w16_seem_fs", input: 0, threads: 1), Case(model: "df2_w16_seem_fs_bam", input: 0, threads: 2),
    ]

    @Test(arguments: cases)
    func logitsMatchPyTorch(_ c: Case) throws {
        let model = try SFNetModel(contentsOf: try fixtureURL(c.model)).session(threads: c.threads)
        let io = try SafetensorsFile(contentsOf: try fixtureURL("\(c.model)_io"))
        let xs = io.entries["input\(c.input)"]!.shape, ys = io.entries["logits\(c.input)"]!.shape
        let input = Tensor(channels: xs[0], height: xs[1], width: xs[2], values: try io.floats("input\(c.input)"))
        let expected = try io.floats("logits\(c.input)")
        #expect(ys == [model.config.numClasses, xs[1], xs[2]])

        // Twice: the second pass replays the activation arena and must give the same numbers.
        for pass in 0..<2 {
            let logits = model.forward(input: input)
            #expect(logits.shape == ys)
            let diff = maxAbsDiff(logits.toArray(), expected), scale = maxAbs(expected)
            #expect(diff <= 1e-4 * scale, "pass \(pass): max |Δ| \(diff) vs max |logit| \(scale)")
        }

        // Labels: fused upsample+argmax against PyTorch's argmax.
        let labels = model.predictLabels(input: input)
        let (c0, hw) = (ys[0], ys[1] * ys[2])
        var agree = 0
        for p in 0..<hw {
            var best = 0
            for k in 1..<c0 where expected[k * hw + p] > expected[best * hw + p] { best = k }
            if Int(labels[p]) == best { agree += 1 }
        }
        #expect(Double(agree) >= 0.9999 * Double(hw), "argmax agrees on \(agree) of \(hw) pixels")
    }

    @Test func steadyStateReusesActivations() throws {
        // Alternating input sizes give the same numbers, and repeated sizes allocate nothing new.
        let model = try SFNetModel(contentsOf: try fixtureURL("df2_w16")).session(threads: 2)
        let a = Tensor(channels: 3, height: 40, width: 56, values: (0..<(3 * 40 * 56)).map { Float($0 % 17) / 8 - 1 })
        let b = Tensor(channels: 3, height: 33, width: 47, values: (0..<(3 * 33 * 47)).map { Float($0 % 13) / 6 - 1 })
        let first = model.forward(input: a).toArray()
        _ = model.forward(input: b)
        let bytes = model.activationBytes
        #expect(model.forward(input: a).toArray() == first)
        _ = model.predictLabels(input: b)
        _ = model.forward(input: a)
        #expect(model.activationBytes == bytes)
    }

    @Test func outputsAtAnotherSizeComeStraightFromTheLowResolutionLogits() throws {
        // infer/eval run the network at network_scale × the image and want labels and logits at the image's
        // size: one bilinear resize (align_corners=True) of the network's logits, then the argmax.
        let model = try SFNetModel(contentsOf: try fixtureURL("df1_w16_ac0")).session(threads: 2)
        let x = Tensor(channels: 3, height: 64, width: 96, values: (0..<(3 * 64 * 96)).map { Float($0 % 23) / 11 - 1 })
        let low = model.lowResolutionLogits(input: x)
        let context = ExecutionContext(threads: 1)
        for (h, w) in [(32, 48), (45, 70), (64, 96)] {
            let expected = Tensor(channels: low.channels, height: h, width: w)
            Resize.bilinear(low, into: expected, alignCorners: true, context: context)
            let logits = model.forward(input: x, outputHeight: h, outputWidth: w)
            #expect(logits.shape == [low.channels, h, w])
            #expect(logits.toArray() == expected.toArray())
            var labels = [UInt8](repeating: 0, count: h * w)
            labels.withUnsafeMutableBufferPointer { Resize.argmax(expected, labels: $0.baseAddress!) }
            #expect(model.predictLabels(input: x, outputHeight: h, outputWidth: w) == labels, "\(h)x\(w)")
        }
    }

    @Test func networkScaleComesFromMetadata() throws {
        let file = try SafetensorsFile(contentsOf: try fixtureURL("r18_w16"))
        #expect(try SFNetConfig(metadata: file.metadata).networkScale == 1)
        var m = file.metadata
        m["network_scale"] = "2.0"
        let config = try SFNetConfig(metadata: m)
        #expect(config.networkScale == 2)
        #expect(try SFNetConfig(metadata: config.metadata) == config)
        for bad in ["0", "-1", "nan", "9", "two", ""] {
            m["network_scale"] = bad
            #expect(throws: ModelFileError.self, "\(bad)") { try SFNetConfig(metadata: m) }
        }
    }

    @Test func configComesFromMetadata() throws {
        let r18 = try SFNetModel(contentsOf: try fixtureURL("r18_w16")).session(threads: 1)
        #expect(r18.config.arch == .r18 && r18.config.numClasses == 19 && r18.config.widthDivisor == 16)
        #expect(r18.config.classNames == SFNetConfig.cityscapesClassNames && r18.config.palette == SFNetConfig.cityscapesPalette)
        #expect(r18.config.warpAlignCorners)
        let df1 = try SFNetModel(contentsOf: try fixtureURL("df1_w16_ac0")).session(threads: 1)
        #expect(df1.config.arch == .df1 && df1.config.numClasses == 7 && !df1.config.warpAlignCorners)
        #expect(df1.config.classNames.first == "class0" && df1.config.palette[1] == [20, 50, 90])
        #expect(abs(df1.config.mean[0] - 0.485) < 1e-6 && abs(df1.config.std[2] - 0.225) < 1e-6)
    }

    @Test func profileListsLayersWithMacs() throws {
        let model = try SFNetModel(contentsOf: try fixtureURL("df1_w16_ac0")).session(threads: 1)
        let timings = model.profile(input: Tensor(channels: 3, height: 64, width: 128))
        #expect(timings.first?.name == "backbone.stage1.0")
        #expect(timings.contains { $0.name == "head.conv_last.1" && $0.macs == 7 * 4 * 4 * 8 })
        #expect(timings.last?.name == "upsample_argmax")
    }
}
