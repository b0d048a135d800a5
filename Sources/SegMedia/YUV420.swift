import CFFmpeg

/// A planar YUV 4:2:0 picture in limited-range BT.709, the format the H.264 writer encodes: the annotated frames
/// of `run` and `serve` are drawn in it, so a frame goes from the decoder to the encoder without passing through
/// RGB. Chroma planes are (width + 1) / 2 × (height + 1) / 2. A view: it keeps a `YUV420Buffer`'s memory alive
/// (until that buffer is released or reserves more), other memory is its maker's to keep.
public struct YUV420Planes {
    public let y: UnsafeMutablePointer<UInt8>
    public let u: UnsafeMutablePointer<UInt8>
    public let v: UnsafeMutablePointer<UInt8>
    public let width: Int
    public let height: Int
    public let lumaStride: Int
    public let chromaStride: Int
    private let owner: AnyObject?

    public init(y: UnsafeMutablePointer<UInt8>, u: UnsafeMutablePointer<UInt8>, v: UnsafeMutablePointer<UInt8>,
                width: Int, height: Int, lumaStride: Int, chromaStride: Int, owner: AnyObject? = nil) {
        precondition(width > 0 && height > 0 && lumaStride >= width && chromaStride >= (width + 1) / 2,
                     "YUV420Planes: bad geometry")
        self.y = y; self.u = u; self.v = v
        self.width = width; self.height = height; self.lumaStride = lumaStride; self.chromaStride = chromaStride
        self.owner = owner
    }

    public var chromaWidth: Int { (width + 1) / 2 }
    public var chromaHeight: Int { (height + 1) / 2 }

    /// The planes as swscale's source arrays.
    func withSource<R>(_ body: (UnsafePointer<UnsafePointer<UInt8>?>, UnsafePointer<Int32>) throws -> R) rethrows -> R {
        let planes: [UnsafePointer<UInt8>?] = [UnsafePointer(y), UnsafePointer(u), UnsafePointer(v), nil]
        let strides: [Int32] = [Int32(lumaStride), Int32(chromaStride), Int32(chromaStride), 0]
        return try body(planes, strides)
    }

    /// The planes as swscale's destination arrays.
    func withDestination<R>(_ body: (UnsafePointer<UnsafeMutablePointer<UInt8>?>, UnsafePointer<Int32>) throws -> R) rethrows -> R {
        let planes: [UnsafeMutablePointer<UInt8>?] = [y, u, v, nil]
        let strides: [Int32] = [Int32(lumaStride), Int32(chromaStride), Int32(chromaStride), 0]
        return try body(planes, strides)
    }
}

/// Owns the memory of one `YUV420Planes` (64-byte-aligned rows), grown on demand and reused frame after frame.
/// Single owner.
public final class YUV420Buffer {
    private let storage = AlignedBuffer()

    public init() {}

    /// Planes of `width`×`height`; the contents are whatever was there before.
    public func reserve(width: Int, height: Int) -> YUV420Planes {
        precondition(width > 0 && height > 0, "YUV420Buffer: empty picture")
        let lumaStride = (width + 63) & ~63, chromaStride = ((width + 1) / 2 + 63) & ~63
        let lumaBytes = lumaStride * height, chromaBytes = chromaStride * ((height + 1) / 2)
        let base = storage.reserve(lumaBytes + 2 * chromaBytes)
        return YUV420Planes(y: base, u: base + lumaBytes, v: base + lumaBytes + chromaBytes, width: width, height: height,
                            lumaStride: lumaStride, chromaStride: chromaStride, owner: storage)
    }

    /// Frees the memory (a later `reserve` allocates again).
    public func release() { storage.release() }
}
