import Foundation
import SegEngine
import Testing

/// Builds a raw safetensors file from a header JSON string and a data section.
func rawFile(header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    var out = withUnsafeBytes(of: (headerLength ?? UInt64(h.count)).littleEndian) { Array($0) }
    out += h
    out += data
    return out
}

func loadError(_ bytes: [UInt8]) -> String? {
    do { _ = try SafetensorsFile(bytes: bytes); return nil } catch { return "\(error)" }
}

@Suite struct SafetensorsTests {
    @Test func writerRoundTrip() throws {
        var w = SafetensorsWriter(metadata: ["arch": "df1", "note": "quote \" and \\ and [1,2]"])
        w.add("a", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        w.add("b", shape: [3], uint8: [7, 8, 9])
        w.add("empty", shape: [0, 4], floats: [])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("segstream-rt-\(getpid()).safetensors")
        try w.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let f = try SafetensorsFile(contentsOf: url)
        #expect(f.metadata == ["arch": "df1", "note": "quote \" and \\ and [1,2]"])
        #expect(f.names == ["a", "b", "empty"])
        #expect(f.entries["a"]?.shape == [2, 3] && f.entries["a"]?.dtype == "F32")
        #expect(try f.floats("a") == [1, 2, 3, 4, 5, 6])
        #expect(Array(f.rawBytes("b")!) == [7, 8, 9])
        #expect(try f.floats("empty").isEmpty)
        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(headerLength % 8 == 0)
    }

    @Test func halfPrecisionIsWidened() throws {
        let f = try OpFixtures.file("dtypes")
        #expect(f.entries["values_f16"]?.dtype == "F16" && f.entries["values_bf16"]?.dtype == "BF16")
        #expect(try f.floats("values_f16") == (try f.floats("expect_f16")))
        #expect(try f.floats("values_bf16") == (try f.floats("expect_bf16")))
    }

    @Test func nonFloatDTypeIsRefused() throws {
        let bytes = rawFile(header: #"{"x":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#, data: Array(repeating: 0, count: 16))
        let f = try SafetensorsFile(bytes: bytes)
        #expect(throws: ModelFileError.unsupportedDType(name: "x", dtype: "I64")) { try f.floats("x") }
        #expect("\(ModelFileError.unsupportedDType(name: "x", dtype: "I64"))" == "x has dtype I64, expected F32, F16 or BF16")
        #expect(throws: ModelFileError.unsupportedDType(name: "x", dtype: "I64")) { try f.validate(expected: [("x", [2])]) }
    }

    @Test func validateReportsByName() throws {
        var w = SafetensorsWriter()
        w.add("a.weight", shape: [64, 128, 3, 3], floats: Array(repeating: 0, count: 64 * 128 * 9))
        w.add("foo", shape: [1], floats: [0])
        let f = try SafetensorsFile(bytes: Array(try w.serialized()))
        func message(_ expected: [(name: String, shape: [Int])]) -> String? {
            do { try f.validate(expected: expected); return nil } catch { return "\(error)" }
        }
        #expect(message([("a.weight", [64, 128, 3, 3]), ("head.fpn_in.1.0.bias", [8])]) == "missing head.fpn_in.1.0.bias")
        #expect(message([("a.weight", [128, 128, 3, 3])]) == "a.weight has shape [64,128,3,3], expected [128,128,3,3]")
        #expect(message([("a.weight", [64, 128, 3, 3])]) == "unexpected tensor foo")
        #expect(message([("a.weight", [64, 128, 3, 3]), ("foo", [1])]) == nil)
    }

    @Test func hostileFilesThrowClearErrors() throws {
        let ok = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        #expect(loadError(rawFile(header: ok, data: Array(repeating: 0, count: 8))) == nil)
        // Truncated data section: the tensor's range runs past the end.
        #expect(loadError(rawFile(header: ok, data: Array(repeating: 0, count: 5)))
                == "a has data_offsets [0,8] outside the 5-byte data section")
        // Truncated inside the header, and a header length beyond the file / near UInt64.max.
        let full = rawFile(header: ok, data: Array(repeating: 0, count: 8))
        #expect(loadError(Array(full.prefix(20)))?.hasPrefix("header length 54 runs past the end") == true)
        #expect(loadError(rawFile(header: ok, headerLength: UInt64.max))?.contains("runs past the end") == true)
        #expect(loadError(rawFile(header: ok, headerLength: UInt64(Int.max) + 5))?.contains("runs past the end") == true)
        #expect(loadError([1, 2, 3]) == "file is 3 bytes, too short for a safetensors header")
        // Overlapping tensors.
        let overlap = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        #expect(loadError(rawFile(header: overlap, data: Array(repeating: 0, count: 12))) == "tensors a and b overlap")
        // Offsets reversed, negative, fractional.
        #expect(loadError(rawFile(header: #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#, data: Array(repeating: 0, count: 8)))
                == "a has data_offsets [8,0] outside the 8-byte data section")
        #expect(loadError(rawFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#))?.hasPrefix("invalid safetensors header") == true)
        #expect(loadError(rawFile(header: #"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))?.hasPrefix("invalid safetensors header") == true)
        // Size not matching dtype × shape; absurd shapes must not overflow.
        #expect(loadError(rawFile(header: #"{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)))
                == "a has 8 bytes of data, expected 6 for F16 [3]")
        #expect(loadError(rawFile(header: #"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)))?
                .hasPrefix("a has 8 bytes of data") == true)
        // Bad JSON, wrong structure, unknown dtype, non-string metadata.
        #expect(loadError(rawFile(header: #"{"a": {"dtype": "F32", "#)) == "invalid safetensors header: not valid JSON")
        #expect(loadError(rawFile(header: "[1,2]")) == "invalid safetensors header: not a JSON object")
        #expect(loadError(rawFile(header: #"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, data: [0])) == "a has unknown dtype Q4")
        #expect(loadError(rawFile(header: #"{"__metadata__":{"arch":"df1","num_classes":19}}"#)) == "__metadata__ value for num_classes is not a string")
        #expect(loadError(rawFile(header: #"{"a":{"dtype":"F32","shape":[1]}}"#))?.hasPrefix("invalid safetensors header") == true)
    }

    @Test func missingFileThrows() {
        #expect(throws: ModelFileError.self) { try SafetensorsFile(contentsOf: URL(fileURLWithPath: "/nonexistent/x.safetensors")) }
    }
}
