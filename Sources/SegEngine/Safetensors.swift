import CSegKernels
import Foundation

/// One tensor's header entry in a safetensors file.
public struct SafetensorsEntry: Sendable, Equatable {
    public let name: String
    /// "F32", "F16", "BF16", "I64", ...
    public let dtype: String
    public let shape: [Int]
    /// Byte range inside the data section (after the header).
    public let dataRange: Range<Int>
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A read-only safetensors file, memory-mapped: `u64 LE header length`, a JSON header
/// `{name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}`, then the data section.
/// The whole header is validated on open (ranges, sizes, overlaps), so later reads cannot go out of bounds.
public final class SafetensorsFile {
    public let metadata: [String: String]
    /// Entries by name; `names` keeps them sorted.
    public let entries: [String: SafetensorsEntry]
    public var names: [String] { entries.keys.sorted() }

    private let base: UnsafeRawPointer
    private let mappedLength: Int
    private let dataStart: Int
    private let ownsMapping: Bool
    private let ownedBytes: UnsafeMutableRawPointer?

    /// Byte size of one element of each dtype this reader knows.
    public static let dtypeSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
        "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    ]

    /// Maps the file at `url`.
    public convenience init(contentsOf url: URL) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw ModelFileError.cannotOpen(path: url.path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ModelFileError.cannotOpen(path: url.path, reason: String(cString: strerror(errno))) }
        let size = Int(st.st_size)
        guard size >= 8 else { throw ModelFileError.fileTooShort(size: size) }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw ModelFileError.cannotOpen(path: url.path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        do {
            try self.init(base: UnsafeRawPointer(p), length: size, owned: nil, mapped: true)
        } catch {
            munmap(p, size)
            throw error
        }
    }

    /// Parses an in-memory file (copied).
    public convenience init(bytes: [UInt8]) throws {
        guard bytes.count >= 8 else { throw ModelFileError.fileTooShort(size: bytes.count) }
        let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
        bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        do {
            try self.init(base: UnsafeRawPointer(p), length: bytes.count, owned: p, mapped: false)
        } catch {
            p.deallocate()
            throw error
        }
    }

    private init(base: UnsafeRawPointer, length: Int, owned: UnsafeMutableRawPointer?, mapped: Bool) throws {
        var headerLength: UInt64 = 0
        withUnsafeMutableBytes(of: &headerLength) { $0.copyMemory(from: UnsafeRawBufferPointer(start: base, count: 8)) }
        headerLength = UInt64(littleEndian: headerLength)
        guard headerLength <= UInt64(length - 8) else {
            throw ModelFileError.headerLengthOutOfRange(headerLength: headerLength, fileSize: length)
        }
        let dataStart = 8 + Int(headerLength)
        let headerData = Data(bytes: base + 8, count: Int(headerLength))
        let (entries, metadata) = try Self.parseHeader(headerData, dataSize: length - dataStart)
        self.entries = entries
        self.metadata = metadata
        self.base = base
        self.mappedLength = length
        self.dataStart = dataStart
        self.ownsMapping = mapped
        self.ownedBytes = owned
    }

    deinit {
        if ownsMapping { munmap(UnsafeMutableRawPointer(mutating: base), mappedLength) }
        ownedBytes?.deallocate()
    }

    private static func parseHeader(_ data: Data, dataSize: Int) throws -> ([String: SafetensorsEntry], [String: String]) {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ModelFileError.invalidHeader("not valid JSON")
        }
        guard let dict = object as? [String: Any] else { throw ModelFileError.invalidHeader("not a JSON object") }
        var metadata: [String: String] = [:]
        var entries: [String: SafetensorsEntry] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw ModelFileError.invalidHeader("__metadata__ is not an object") }
                for (k, v) in m {
                    // NSString bridges; NSNumber must not be mistaken for a string.
                    guard let s = v as? String, !(v is NSNumber) else { throw ModelFileError.nonStringMetadata(key: k) }
                    metadata[k] = s
                }
                continue
            }
            guard let e = value as? [String: Any] else { throw ModelFileError.invalidHeader("entry \(name) is not an object") }
            guard let dtype = e["dtype"] as? String, !(e["dtype"] is NSNumber) else {
                throw ModelFileError.invalidHeader("entry \(name) has no string dtype")
            }
            guard let shapeAny = e["shape"] as? [Any], let offsAny = e["data_offsets"] as? [Any], offsAny.count == 2 else {
                throw ModelFileError.invalidHeader("entry \(name) needs shape and two data_offsets")
            }
            let shape = try shapeAny.map { try integer($0, what: "shape of \(name)") }
            let begin = try integer(offsAny[0], what: "data_offsets of \(name)")
            let end = try integer(offsAny[1], what: "data_offsets of \(name)")
            guard let elementSize = dtypeSizes[dtype] else { throw ModelFileError.unknownDType(name: name, dtype: dtype) }
            guard begin <= end, end <= dataSize else {
                throw ModelFileError.dataOutOfRange(name: name, begin: begin, end: end, dataSize: dataSize)
            }
            var count = 1
            for d in shape {
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, p <= dataSize else {
                    throw ModelFileError.dataSizeMismatch(name: name, bytes: end - begin, expected: Int.max, dtype: dtype, shape: shape)
                }
                count = p
            }
            guard count * elementSize == end - begin else {
                throw ModelFileError.dataSizeMismatch(name: name, bytes: end - begin, expected: count * elementSize, dtype: dtype, shape: shape)
            }
            entries[name] = SafetensorsEntry(name: name, dtype: dtype, shape: shape, dataRange: begin..<end)
        }
        let sorted = entries.values.filter { !$0.dataRange.isEmpty }.sorted {
            ($0.dataRange.lowerBound, $0.name) < ($1.dataRange.lowerBound, $1.name)
        }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.dataRange.lowerBound < a.dataRange.upperBound {
            throw ModelFileError.overlappingTensors(a.name, b.name)
        }
        return (entries, metadata)
    }

    private static func integer(_ v: Any, what: String) throws -> Int {
        guard let n = v as? NSNumber, n.int64Value >= 0 else {
            throw ModelFileError.invalidHeader("\(what) must be non-negative integers")
        }
        // Reject values that do not round-trip (e.g. > Int64.max parsed as a double).
        guard n.stringValue == String(n.int64Value) else { throw ModelFileError.invalidHeader("\(what) out of range") }
        return Int(n.int64Value)
    }

    /// The raw bytes of a tensor (valid while this file is alive).
    public func rawBytes(_ name: String) -> UnsafeRawBufferPointer? {
        guard let e = entries[name] else { return nil }
        return UnsafeRawBufferPointer(start: base + dataStart + e.dataRange.lowerBound, count: e.dataRange.count)
    }

    /// A float tensor widened to f32 (F32, F16 or BF16 storage).
    public func floats(_ name: String) throws -> [Float] {
        guard let e = entries[name], let raw = rawBytes(name) else { throw ModelFileError.missingTensor(name) }
        let n = e.elementCount
        var out = [Float](repeating: 0, count: n)
        guard n > 0 else { return out }
        out.withUnsafeMutableBufferPointer { dst in
            switch e.dtype {
            case "F32":
                UnsafeMutableRawBufferPointer(dst).copyMemory(from: raw)
            case "F16", "BF16":
                // The data section is not necessarily 2-byte aligned: copy to aligned scratch first.
                var halfs = [UInt16](repeating: 0, count: n)
                halfs.withUnsafeMutableBytes { $0.copyMemory(from: raw) }
                halfs.withUnsafeBufferPointer { src in
                    if e.dtype == "F16" { seg_f32_from_f16(src.baseAddress!, dst.baseAddress!, n) }
                    else { seg_f32_from_bf16(src.baseAddress!, dst.baseAddress!, n) }
                }
            default: break
            }
        }
        guard ["F32", "F16", "BF16"].contains(e.dtype) else {
            throw ModelFileError.unsupportedDType(name: name, dtype: e.dtype)
        }
        return out
    }

    /// Checks that the file holds exactly `expected` (name → shape), all in a float dtype. The first
    /// problem is thrown: expected tensors in the order given, then unexpected names in sorted order.
    public func validate(expected: [(name: String, shape: [Int])]) throws {
        for (name, shape) in expected {
            guard let e = entries[name] else { throw ModelFileError.missingTensor(name) }
            guard ["F32", "F16", "BF16"].contains(e.dtype) else { throw ModelFileError.unsupportedDType(name: name, dtype: e.dtype) }
            guard e.shape == shape else { throw ModelFileError.shapeMismatch(name: name, shape: e.shape, expected: shape) }
        }
        let known = Set(expected.map(\.name))
        if let extra = names.first(where: { !known.contains($0) }) { throw ModelFileError.unexpectedTensor(extra) }
    }
}
