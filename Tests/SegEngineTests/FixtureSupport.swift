import Foundation
import SegEngine
import Testing

/// The PyTorch op fixtures written by tools/make_fixtures.py.
enum OpFixtures {
    static func file(_ name: String) throws -> SafetensorsFile {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures"))
        return try SafetensorsFile(contentsOf: url)
    }

    /// Case descriptions of one op from ops.safetensors metadata.
    static func cases(op: String) -> [String] {
        guard let url = Bundle.module.url(forResource: "ops", withExtension: "safetensors", subdirectory: "Fixtures"),
              let f = try? SafetensorsFile(contentsOf: url),
              let json = f.metadata["cases"],
              let list = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else { return ["<fixtures missing>"] }
        return list.filter { ($0["op"] as? String) == op }.compactMap { $0["name"] as? String }
    }

    static func parameters(_ f: SafetensorsFile, _ name: String) throws -> [String: Any] {
        let list = try #require(try JSONSerialization.jsonObject(with: Data(f.metadata["cases"]!.utf8)) as? [[String: Any]])
        return try #require(list.first { ($0["name"] as? String) == name })
    }

    /// A stored 3-D tensor as a `Tensor`.
    static func tensor(_ f: SafetensorsFile, _ name: String) throws -> Tensor {
        let e = try #require(f.entries[name], "fixture tensor \(name)")
        try #require(e.shape.count == 3 || e.shape.count == 2)
        let s = e.shape.count == 3 ? e.shape : [1] + e.shape
        return Tensor(channels: s[0], height: s[1], width: s[2], values: try f.floats(name))
    }
}

/// max |a − b|.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in a.indices { m = max(m, abs(a[i] - b[i])) }
    return m
}

func maxAbs(_ a: [Float]) -> Float { a.reduce(0) { max($0, abs($1)) } }
