import Foundation

/// Builds a safetensors file: tensors are laid out in insertion order, the JSON header has sorted keys
/// and is padded with spaces to a multiple of 8 bytes.
public struct SafetensorsWriter {
    public var metadata: [String: String]
    private var tensors: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])] = []

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    /// Adds raw little-endian data of `dtype`.
    public mutating func add(_ name: String, dtype: String, shape: [Int], bytes: [UInt8]) {
        precondition(name != "__metadata__" && !tensors.contains { $0.name == name }, "duplicate tensor \(name)")
        precondition(shape.reduce(1, *) * (SafetensorsFile.dtypeSizes[dtype] ?? 0) == bytes.count, "\(name): size mismatch")
        tensors.append((name, dtype, shape, bytes))
    }

    public mutating func add(_ name: String, shape: [Int], floats: [Float]) {
        add(name, dtype: "F32", shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
    }

    public mutating func add(_ name: String, tensor: Tensor) {
        add(name, shape: [1] + tensor.shape, floats: tensor.toArray())
    }

    public mutating func add(_ name: String, shape: [Int], uint8 values: [UInt8]) {
        add(name, dtype: "U8", shape: shape, bytes: values)
    }

    /// The file's bytes.
    public func serialized() throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for t in tensors {
            header[t.name] = ["dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.bytes.count]]
            offset += t.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(json)
        for t in tensors { out.append(contentsOf: t.bytes) }
        return out
    }

    public func write(to url: URL) throws { try serialized().write(to: url, options: .atomic) }
}
