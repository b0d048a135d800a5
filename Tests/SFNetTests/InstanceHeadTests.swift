import Foundation
import SegEngine
import SFNet
import Testing

/// The instance head (head.instance_head.*) against tools/sfnet/model.py, in both engines, and model files
/// with and without it.
@Suite struct InstanceHeadTests {
    static let name = "df1_w16_instances"

    @Test(arguments: [(0, 2), (1, 1)])
    func fp32MatchesPyTorch(_ c: (input: Int, threads: Int)) throws {
        let model = try SFNetModel(contentsOf: try fixtureURL(Self.name)).session(threads: c.threads)
        #expect(model.config.instanceHead == .cityscapes)
        let io = try SafetensorsFile(contentsOf: try fixtureURL("\(Self.name)_io"))
        let xs = io.entries["input\(c.input)"]!.shape, hs = io.entries["instances\(c.input)"]!.shape
        let input = Tensor(channels: xs[0], height: xs[1], width: xs[2], values: try io.floats("input\(c.input)"))
        let expected = try io.floats("instances\(c.input)")
        #expect(hs[0] == 10)
        var labels = [UInt8](repeating: 0, count: xs[1] * xs[2])
        let head = labels.withUnsafeMutableBufferPointer {
            model.predictLabelsAndInstances(input: input, outputHeight: xs[1], outputWidth: xs[2], into: $0)
        }
        #expect(head.shape == hs)
        let diff = maxAbsDiff(head.toArray(), expected), scale = maxAbs(expected)
        #expect(diff <= 1e-4 * scale, "max |Δ| \(diff) vs max |output| \(scale)")
        // The same pass's labels are predictLabels' labels, and the logits still match PyTorch.
        #expect(labels == model.predictLabels(input: input))
        let logits = model.forward(input: input).toArray(), refLogits = try io.floats("logits\(c.input)")
        #expect(maxAbsDiff(logits, refLogits) <= 1e-4 * maxAbs(refLogits))
    }

    /// int8 head output within 10 % of fp32 (relative L2 against each channel's variation; the quantized path
    /// adds three layers of rounding to the ~25 before them; measured in the test output), and the metadata
    /// survives quantization.
    @Test func int8HeadAgreesWithFP32() throws {
        let (fp32, int8, bytes) = try quantizedFixture(Self.name, method: .mse)
        #expect(try SafetensorsFile(bytes: Array(bytes)).metadata["instance_head"] != nil)
        #expect(int8.config.instanceHead == .cityscapes)
        var err2: Float = 0, ref2: Float = 0, peaksAgree = 0, peaks = 0
        for seed in 0..<2 {
            let x = syntheticFrame(height: 64, width: 96, seed: 500 + seed)
            var l8 = [UInt8](repeating: 0, count: 64 * 96), l32 = l8
            let a = l8.withUnsafeMutableBufferPointer { int8.predictLabelsAndInstances(input: x, outputHeight: 64, outputWidth: 96, into: $0) }
            let b = l32.withUnsafeMutableBufferPointer { fp32.predictLabelsAndInstances(input: x, outputHeight: 64, outputWidth: 96, into: $0) }
            #expect(a.shape == b.shape)
            #expect(l8 == int8.predictLabels(input: x, outputHeight: 64, outputWidth: 96))
            let av = a.toArray(), bv = b.toArray(), plane = b.planeSize
            // Relative to each channel's variation (its fp32 mean removed), so a large constant part (the bias)
            // cannot hide the error.
            for k in 0..<b.channels {
                let mean = (0..<plane).reduce(Float(0)) { $0 + bv[k * plane + $1] } / Float(plane)
                for p in 0..<plane {
                    let i = k * plane + p
                    err2 += (av[i] - bv[i]) * (av[i] - bv[i])
                    ref2 += (bv[i] - mean) * (bv[i] - mean)
                }
            }
            // The strongest heatmap cell of each class is the same cell.
            for k in 0..<8 {
                let fa = (0..<plane).max { av[k * plane + $0] < av[k * plane + $1] }!
                let fb = (0..<plane).max { bv[k * plane + $0] < bv[k * plane + $1] }!
                peaks += 1
                if fa == fb { peaksAgree += 1 }
            }
        }
        let rel = (err2 / ref2).squareRoot()
        print("int8 instance head: relative L2 error \(rel), strongest cell agrees for \(peaksAgree)/\(peaks) classes")
        #expect(rel <= 0.10)
        #expect(peaksAgree * 4 >= peaks * 3)
    }

    @Test func filesWithoutTheHeadLoadUnchanged() throws {
        let plain = try SFNetModel(contentsOf: try fixtureURL("df1_w16_ac0"))
        #expect(plain.config.instanceHead == nil)
        #expect(!SFNetModel.expectedTensors(for: plain.config).contains { $0.name.hasPrefix("head.instance_head.") })
        #expect(plain.config.metadata["instance_head"] == nil)
        // With the head, its tensors come last (state-dict order), after the classifier.
        var config = plain.config
        config.instanceHead = .cityscapes
        let names = SFNetModel.expectedTensors(for: config).map(\.name)
        #expect(Array(names.suffix(12)) == [
            "head.instance_head.0.0.weight", "head.instance_head.0.1.weight", "head.instance_head.0.1.bias",
            "head.instance_head.0.1.running_mean", "head.instance_head.0.1.running_var",
            "head.instance_head.1.0.weight", "head.instance_head.1.1.weight", "head.instance_head.1.1.bias",
            "head.instance_head.1.1.running_mean", "head.instance_head.1.1.running_var",
            "head.instance_head.2.weight", "head.instance_head.2.bias",
        ])
    }

    @Test func metadataAndTensorsMustAgree() throws {
        let src = try SafetensorsFile(contentsOf: try fixtureURL(Self.name))
        func load(_ metadata: [String: String], dropHead: Bool = false) throws -> SFNetModel {
            var w = SafetensorsWriter(metadata: metadata)
            for n in src.names where !(dropHead && n.hasPrefix("head.instance_head.")) {
                w.add(n, shape: src.entries[n]!.shape, floats: try src.floats(n))
            }
            return try SFNetModel(file: try SafetensorsFile(bytes: Array(try w.serialized())))
        }
        var meta = src.metadata
        // Head tensors without the metadata are unexpected; the metadata without the tensors is missing them.
        meta["instance_head"] = nil
        #expect(throws: ModelFileError.unexpectedTensor("head.instance_head.0.0.weight")) { try load(meta) }
        #expect(throws: ModelFileError.missingTensor("head.instance_head.0.0.weight")) { try load(src.metadata, dropHead: true) }
        for bad in [#"{"thing_classes": [11, 19], "offset": "dx,dy", "offset_unit": "cells"}"#,
                    #"{"thing_classes": [11, 11], "offset": "dx,dy", "offset_unit": "cells"}"#,
                    #"{"thing_classes": [11], "offset": "dy,dx", "offset_unit": "cells"}"#, "[]", "{"] {
            meta["instance_head"] = bad
            #expect(throws: ModelFileError.self, "\(bad)") { try load(meta) }
        }
    }
}
