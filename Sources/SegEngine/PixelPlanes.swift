import CSegKernels
import Foundation

/// The network's input as three 8-bit planes (R, G, B) at the network's size, as the video scaler writes them:
/// plane c's pixel (y, x) at `plane(c)[y·rowStride + x]`, rows 64-byte aligned. A quarter of the fp32 tensor's
/// memory; the int8 stem reads it directly (`QConv2d.run(quantizing:scale:bias:…)`), other first layers get it
/// normalised (`normalize(scale:bias:into:)`). Reused frame after frame: `resize` keeps the memory when it is
/// big enough.
///
/// Ownership as `Tensor`: one thread writes the planes at a time; hand them between threads, do not share them
/// while writing.
public final class PixelPlanes: @unchecked Sendable {
    public private(set) var width = 0
    public private(set) var height = 0
    /// Bytes between rows: `rowStride(forWidth:)`.
    public private(set) var rowStride = 0
    private var base: UnsafeMutablePointer<UInt8>?
    private var capacity = 0

    public init() {}

    public convenience init(width: Int, height: Int) {
        self.init()
        resize(width: width, height: height)
    }

    deinit { free(base) }

    /// The row stride of planes `width` pixels wide: the next multiple of 64 bytes.
    public static func rowStride(forWidth width: Int) -> Int { (width + 63) & ~63 }

    /// Makes the planes `width`×`height`; the contents are undefined after a change of size.
    public func resize(width: Int, height: Int) {
        precondition(width > 0 && height > 0, "PixelPlanes: empty size \(width)x\(height)")
        let stride = Self.rowStride(forWidth: width)
        let need = 3 * stride * height
        if need > capacity {
            free(base)
            var raw: UnsafeMutableRawPointer?
            // 64 bytes of slack: SIMD readers may run past the last row.
            guard posix_memalign(&raw, 64, need + 64) == 0, let raw else {
                fatalError("out of memory allocating \(need) bytes")
            }
            base = raw.assumingMemoryBound(to: UInt8.self)
            capacity = need
        }
        (self.width, self.height, rowStride) = (width, height, stride)
    }

    /// Plane `channel` (0 R, 1 G, 2 B).
    public func plane(_ channel: Int) -> UnsafeMutablePointer<UInt8> {
        precondition((0..<3).contains(channel) && base != nil, "PixelPlanes: channel \(channel) of \(width)x\(height)")
        return base! + channel * rowStride * height
    }

    public var red: UnsafeMutablePointer<UInt8> { plane(0) }
    public var green: UnsafeMutablePointer<UInt8> { plane(1) }
    public var blue: UnsafeMutablePointer<UInt8> { plane(2) }

    /// Bytes held.
    public var bytes: Int { capacity }

    /// `tensor` (3×height×width) = value·scale[c] + bias[c] per channel (`seg_f32_from_planar_u8_affine`, the
    /// network input's normalisation: `SFNet.InputRule` gives the affine).
    public func normalize(scale: [Float], bias: [Float], into tensor: Tensor) {
        precondition(scale.count == 3 && bias.count == 3, "PixelPlanes.normalize: 3 channels of affine")
        precondition(tensor.channels == 3 && tensor.width == width && tensor.height == height,
                     "PixelPlanes.normalize: the tensor is \(tensor.shape), the planes \(height)x\(width)")
        let planes: [UnsafePointer<UInt8>?] = [UnsafePointer(red), UnsafePointer(green), UnsafePointer(blue)]
        seg_f32_from_planar_u8_affine(planes, rowStride, width, height, scale, bias, tensor.data)
    }
}

/// What a forward pass reads: the fp32 CHW tensor, or the 8-bit planes with the affine that normalises them
/// (`value·scale[c] + bias[c]`). Both give the same network input, bit for bit; the planes save the tensor's
/// memory and, in the int8 engine, its write and read.
public enum NetworkInput: Sendable {
    case tensor(Tensor)
    case pixels(PixelPlanes, scale: [Float], bias: [Float])

    public var width: Int {
        switch self {
        case .tensor(let t): t.width
        case .pixels(let p, _, _): p.width
        }
    }

    public var height: Int {
        switch self {
        case .tensor(let t): t.height
        case .pixels(let p, _, _): p.height
        }
    }

    /// The fp32 tensor: the one given, or the planes normalised into a new tensor.
    public func normalized() -> Tensor {
        switch self {
        case .tensor(let t):
            return t
        case .pixels(let p, let scale, let bias):
            let t = Tensor(channels: 3, height: p.height, width: p.width)
            p.normalize(scale: scale, bias: bias, into: t)
            return t
        }
    }
}
