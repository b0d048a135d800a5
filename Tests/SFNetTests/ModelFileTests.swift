import Foundation
import SegEngine
import SFNet
import Testing

/// The model-file contract (docs/model-format.md): exact key set, shapes, dtypes, metadata.
@Suite struct ModelFileTests {
    /// Rewrites the r18 fixture through `edit` (name, shape, floats) → replacement entries.
    func rewritten(metadata: (inout [String: String]) -> Void = { _ in },
                   edit: (String, [Int], [Float]) -> [(String, String, [Int], [UInt8])]) throws -> String? {
        let src = try SafetensorsFile(contentsOf: try fixtureURL("r18_w16"))
        var meta = src.metadata
        metadata(&meta)
        var w = SafetensorsWriter(metadata: meta)
        for name in src.names {
            for (n, dtype, shape, bytes) in edit(name, src.entries[name]!.shape, try src.floats(name)) {
                w.add(n, dtype: dtype, shape: shape, bytes: bytes)
            }
        }
        do { _ = try SFNetModel(file: try SafetensorsFile(bytes: Array(try w.serialized()))).session(threads: 1); return nil }
        catch { return "\(error)" }
    }

    func f32(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    @Test func intactFileLoads() throws {
        #expect(try rewritten { [($0, "F32", $1, f32($2))] } == nil)
    }

    @Test func missingTensorIsNamed() throws {
        let e = try rewritten { $0 == "head.fpn_in.1.0.bias" ? [] : [($0, "F32", $1, f32($2))] }
        #expect(e == "missing head.fpn_in.1.0.bias")
    }

    @Test func wrongShapeIsNamed() throws {
        let e = try rewritten { name, shape, v in
            name == "head.fpn_out.0.0.0.weight" ? [(name, "F32", [4, 8, 3, 3], f32(Array(v.prefix(4 * 8 * 9))))] : [(name, "F32", shape, f32(v))]
        }
        #expect(e == "head.fpn_out.0.0.0.weight has shape [4,8,3,3], expected [8,8,3,3]")
        #expect("\(ModelFileError.shapeMismatch(name: "head.fpn_out.0.0.0.weight", shape: [64, 128, 3, 3], expected: [128, 128, 3, 3]))"
                == "head.fpn_out.0.0.0.weight has shape [64,128,3,3], expected [128,128,3,3]")
    }

    @Test func unexpectedTensorIsNamed() throws {
        let e = try rewritten { name, shape, v in
            [(name, "F32", shape, f32(v))] + (name == "layer0.0.0.weight" ? [("foo", "F32", [1], f32([1]))] : [])
        }
        #expect(e == "unexpected tensor foo")
        let dsn = try rewritten { name, shape, v in
            [(name, "F32", shape, f32(v))] + (name == "layer0.0.0.weight" ? [("layer0.1.num_batches_tracked", "I64", [], [UInt8](repeating: 0, count: 8))] : [])
        }
        #expect(dsn == "unexpected tensor layer0.1.num_batches_tracked")
    }

    @Test func integerDTypeIsRefused() throws {
        let e = try rewritten { name, shape, v in
            name == "layer0.1.running_var" ? [(name, "I64", shape, [UInt8](repeating: 0, count: 8 * v.count))] : [(name, "F32", shape, f32(v))]
        }
        #expect(e == "layer0.1.running_var has dtype I64, expected F32, F16 or BF16")
    }

    @Test func bf16FileLoadsAndRunsClose() throws {
        // Same weights truncated to bf16: loads, and the logits stay close to the f32 model's.
        let src = try SafetensorsFile(contentsOf: try fixtureURL("r18_w16"))
        var w = SafetensorsWriter(metadata: src.metadata)
        for name in src.names {
            let v = try src.floats(name)
            let halves: [UInt16] = v.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
            w.add(name, dtype: "BF16", shape: src.entries[name]!.shape, bytes: halves.withUnsafeBytes { Array($0) })
        }
        let model = try SFNetModel(file: try SafetensorsFile(bytes: Array(try w.serialized()))).session(threads: 2)
        let reference = try SFNetModel(file: src).session(threads: 2)
        let x = Tensor(channels: 3, height: 32, width: 64, values: (0..<(3 * 32 * 64)).map { Float(($0 * 37) % 101) / 50 - 1 })
        let a = model.forward(input: x).toArray(), b = reference.forward(input: x).toArray()
        #expect(maxAbsDiff(a, b) <= 0.05 * maxAbs(b))
    }

    @Test func metadataIsChecked() throws {
        #expect(try rewritten(metadata: { $0["arch"] = nil }) { [($0, "F32", $1, f32($2))] } == "missing __metadata__ key arch")
        #expect(try rewritten(metadata: { $0["arch"] = "r50" }) { [($0, "F32", $1, f32($2))] }?.hasPrefix("__metadata__ arch = r50") == true)
        #expect(try rewritten(metadata: { $0["num_classes"] = "7" }) { [($0, "F32", $1, f32($2))] }?.contains("class_names") == true)
        #expect(try rewritten(metadata: { $0["precision"] = "int8" }) { [($0, "F32", $1, f32($2))] }?.contains("int8 engine") == true)
        // A different class count changes the expected classifier shape.
        #expect(try rewritten(metadata: { m in
            m["num_classes"] = "3"; m["class_names"] = #"["a","b","c"]"#; m["palette"] = "[[0,0,0],[1,1,1],[2,2,2]]"
        }) { [($0, "F32", $1, f32($2))] } == "head.conv_last.1.weight has shape [19,8,1,1], expected [3,8,1,1]")
    }

    @Test func expectedKeySetMatchesTheReference() throws {
        // The fixture files were written from tools/sfnet state dicts: their key sets are the reference's.
        for (name, divisor) in [("r18_w16", 16), ("df1_w16_ac0", 16), ("df2_w16", 16)] {
            let file = try SafetensorsFile(contentsOf: try fixtureURL(name))
            let config = try SFNetConfig(metadata: file.metadata)
            #expect(config.widthDivisor == divisor)
            let expected = SFNetModel.expectedTensors(for: config)
            #expect(Set(expected.map(\.name)) == Set(file.names))
        }
        #expect(SFNetModel.expectedTensors(for: SFNetConfig(arch: .r18)).count == 224 - 35)   // minus num_batches_tracked
    }
}
