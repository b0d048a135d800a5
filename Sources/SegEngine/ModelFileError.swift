/// Everything that can be wrong with a model file. `description` is the message users see.
public enum ModelFileError: Error, CustomStringConvertible, Equatable, Sendable {
    case cannotOpen(path: String, reason: String)
    case fileTooShort(size: Int)
    case headerLengthOutOfRange(headerLength: UInt64, fileSize: Int)
    case invalidHeader(String)
    case unknownDType(name: String, dtype: String)
    case dataOutOfRange(name: String, begin: Int, end: Int, dataSize: Int)
    case dataSizeMismatch(name: String, bytes: Int, expected: Int, dtype: String, shape: [Int])
    case overlappingTensors(String, String)
    case nonStringMetadata(key: String)
    case missingTensor(String)
    case unexpectedTensor(String)
    case shapeMismatch(name: String, shape: [Int], expected: [Int])
    case unsupportedDType(name: String, dtype: String)
    case missingMetadata(key: String)
    case invalidMetadata(key: String, value: String, reason: String)
    /// A tensor whose dtype is fixed (int8 files: I8 weights, U8 zero points, F32 scales) has another one.
    case wrongDType(name: String, dtype: String, expected: String)
    /// A tensor whose values break the format's rules (e.g. a non-positive scale).
    case invalidValue(name: String, reason: String)

    public var description: String {
        // Every string here may come from the file: escaped and shortened (MessageText).
        let q = { (text: String) in MessageText.escaped(text) }
        switch self {
        case .cannotOpen(let path, let reason): return "cannot open \(q(path)): \(q(reason))"
        case .fileTooShort(let size): return "file is \(size) bytes, too short for a safetensors header"
        case .headerLengthOutOfRange(let n, let size): return "header length \(n) runs past the end of the \(size)-byte file"
        case .invalidHeader(let why): return "invalid safetensors header: \(q(why))"
        case .unknownDType(let name, let dtype): return "\(q(name)) has unknown dtype \(q(dtype))"
        case .dataOutOfRange(let name, let b, let e, let size):
            return "\(q(name)) has data_offsets [\(b),\(e)] outside the \(size)-byte data section"
        case .dataSizeMismatch(let name, let bytes, let expected, let dtype, let shape):
            return "\(q(name)) has \(bytes) bytes of data, expected \(expected) for \(q(dtype)) \(Self.format(shape))"
        case .overlappingTensors(let a, let b): return "tensors \(q(a)) and \(q(b)) overlap"
        case .nonStringMetadata(let key): return "__metadata__ value for \(q(key)) is not a string"
        case .missingTensor(let name): return "missing \(q(name))"
        case .unexpectedTensor(let name): return "unexpected tensor \(q(name))"
        case .shapeMismatch(let name, let shape, let expected):
            return "\(q(name)) has shape \(Self.format(shape)), expected \(Self.format(expected))"
        case .unsupportedDType(let name, let dtype): return "\(q(name)) has dtype \(q(dtype)), expected F32, F16 or BF16"
        case .missingMetadata(let key): return "missing __metadata__ key \(q(key))"
        case .invalidMetadata(let key, let value, let reason): return "__metadata__ \(q(key)) = \(q(value)): \(q(reason))"
        case .wrongDType(let name, let dtype, let expected): return "\(q(name)) has dtype \(q(dtype)), expected \(q(expected))"
        case .invalidValue(let name, let reason): return "\(q(name)): \(q(reason))"
        }
    }

    /// `[64,128,3,3]`
    public static func format(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ",") + "]" }
}
