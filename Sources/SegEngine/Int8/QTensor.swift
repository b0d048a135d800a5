import Foundation

/// Per-tensor asymmetric u8 quantization: real = scale·(q − zeroPoint).
public struct QuantParams: Sendable, Equatable, CustomStringConvertible {
    public var scale: Float
    public var zeroPoint: UInt8

    public init(scale: Float, zeroPoint: UInt8) {
        precondition(scale > 0 && scale.isFinite, "quantization scale must be positive and finite, got \(scale)")
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// The params covering [min, max] widened to include 0 (so real 0 — padding, ReLU — is exact):
    /// scale = (max − min)/255, zeroPoint = round(−min/scale). A degenerate range (an all-zero tensor, e.g. a
    /// dead ReLU branch) gets the unit range [0, 1]: any scale holds zeros exactly, and a tiny one would overflow
    /// the int32 bias round(b/(s_x·s_w)) of every conv reading the tensor (seen with SeEM branches, issue #15).
    public init(min lo: Float, max hi: Float) {
        let lo = Swift.min(lo, 0), hi = Swift.max(hi, 0)
        var scale = (hi - lo) / 255
        if !(scale > 1e-8) || !scale.isFinite { scale = 1 / 255 }
        let zp = (-lo / scale).rounded(.toNearestOrEven)
        self.init(scale: scale, zeroPoint: UInt8(Swift.max(0, Swift.min(255, zp))))
    }

    /// The real range the u8 codes span.
    public var range: ClosedRange<Float> { scale * (0 - Float(zeroPoint))...scale * (255 - Float(zeroPoint)) }

    public var description: String { "scale \(scale) zp \(zeroPoint)" }
}

/// A batch-1 u8 activation in **NHWC** layout: pixel (y, x) starts at byte `(y·width + x)·pixelStride`
/// and its first `channels` bytes are the channels. `pixelStride` is at least `channels` rounded up to 4
/// (the conv kernels read whole 4-channel groups); a wider stride makes the tensor a channel slice of a
/// concatenation buffer. Storage is the engine's 64-byte-aligned `TensorStorage`, viewed as bytes.
///
/// A view, like `Tensor`: copies share storage.
public struct QTensor: @unchecked Sendable {
    public let storage: TensorStorage
    /// Offset of pixel 0's first channel in bytes.
    public let byteOffset: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public let pixelStride: Int
    public let params: QuantParams

    public init(storage: TensorStorage, byteOffset: Int = 0, channels: Int, height: Int, width: Int,
                pixelStride: Int, params: QuantParams) {
        precondition(channels > 0 && height >= 0 && width >= 0 && pixelStride >= channels)
        precondition(byteOffset >= 0 && byteOffset + (height * width - 1) * pixelStride + channels <= storage.capacity * 4 + 64,
                     "QTensor view exceeds its storage")
        self.storage = storage
        self.byteOffset = byteOffset
        self.channels = channels
        self.height = height
        self.width = width
        self.pixelStride = pixelStride
        self.params = params
    }

    /// A fresh zero-filled tensor with the standard stride (channels rounded up to 4).
    public init(channels: Int, height: Int, width: Int, params: QuantParams) {
        let stride = QTensor.standardStride(channels)
        self.init(storage: TensorStorage(capacity: (height * width * stride + 3) / 4), channels: channels, height: height,
                  width: width, pixelStride: stride, params: params)
    }

    /// `channels` rounded up to a multiple of 4.
    public static func standardStride(_ channels: Int) -> Int { (channels + 3) / 4 * 4 }

    /// Bytes a tensor of this shape needs with the standard stride.
    public static func byteCount(channels: Int, height: Int, width: Int) -> Int { height * width * standardStride(channels) }

    public var data: UnsafeMutablePointer<UInt8> {
        UnsafeMutableRawPointer(storage.pointer).assumingMemoryBound(to: UInt8.self) + byteOffset
    }

    public var pixelCount: Int { height * width }
    public var shape: [Int] { [height, width, channels] }

    /// Channels `range` (sharing storage and stride) with `params` (a concat slice shares its buffer's params).
    public func channelSlice(_ range: Range<Int>) -> QTensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= channels && !range.isEmpty)
        return QTensor(storage: storage, byteOffset: byteOffset + range.lowerBound, channels: range.count,
                       height: height, width: width, pixelStride: pixelStride, params: params)
    }

    /// Dequantized values in CHW order (tests, debugging).
    public func dequantized() -> [Float] {
        var out = [Float](repeating: 0, count: channels * height * width)
        let p = data, hw = height * width, s = params.scale, z = Float(params.zeroPoint)
        for i in 0..<hw {
            for c in 0..<channels { out[c * hw + i] = s * (Float(p[i * pixelStride + c]) - z) }
        }
        return out
    }
}
