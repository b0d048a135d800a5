import Foundation

/// NumPy `.npy` (format 1.0) for float32 tensors: what `segstream infer --logits` writes, loadable with
/// `numpy.load`. Little-endian `<f4`, C order.
public enum Npy {
    public static func header(shape: [Int]) -> Data {
        let dims = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        // Magic (6) + version (2) + length (2) + dict + '\n' is padded to a multiple of 64 bytes.
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(dict.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(dict.utf8))
        return data
    }

    /// The whole file for a tensor of `shape` whose values start at `values`.
    public static func encode(_ values: UnsafePointer<Float>, shape: [Int]) -> Data {
        var data = header(shape: shape)
        let count = shape.reduce(1, *)
        values.withMemoryRebound(to: UInt8.self, capacity: count * 4) { data.append($0, count: count * 4) }
        return data
    }
}
