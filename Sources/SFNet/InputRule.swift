import CSegKernels
import SegEngine

/// The network's input size in pixels.
public struct NetworkSize: Sendable, Hashable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    public var description: String { "\(width)x\(height)" }

    /// The default: the frame's aspect ratio kept, scaled by `scale` × `modelScale` (the model file's
    /// `network_scale`), each side rounded to the nearest multiple of 32 (so every level of the network's
    /// pyramid is exact), the long side at most 1024 × `modelScale`.
    public static func automatic(frameWidth: Int, frameHeight: Int, scale: Double = 1, modelScale: Double = 1) -> NetworkSize {
        var w = Double(frameWidth) * scale * modelScale, h = Double(frameHeight) * scale * modelScale
        let cap = max(32, (1024 * modelScale / 32).rounded(.down) * 32)
        let long = max(w, h)
        if long > cap {
            w *= cap / long
            h *= cap / long
        }
        func round32(_ v: Double) -> Int { max(32, Int((v / 32).rounded()) * 32) }
        return NetworkSize(width: min(round32(w), Int(cap)), height: min(round32(h), Int(cap)))
    }
}

/// What the network is fed, in one place for every command (`run`, `infer`, `eval`, `quantize`, `profile`):
///
/// 1. **Size**: a fixed `NetworkSize`, or `NetworkSize.automatic` from the frame's size, the caller's `scale`
///    and the model's `network_scale`.
/// 2. **Pixels**: the frame scaled to that size as 8-bit RGB (SegMedia's `FrameConverter.scaleNetworkPlanes`:
///    swscale bilinear into planar GBRP).
/// 3. **Normalisation**: `(rgb / 255 − mean[c]) / std[c]` per channel into a 3×H×W CHW `Tensor`, computed as
///    `v · (1 / (255 · std[c])) + (−mean[c] / std[c])` by the C kernels `seg_f32_from_planar_u8_affine`
///    (planes) and `seg_f32_from_rgb24_affine` (packed pixels), which give the same bits. `run` keeps the
///    planes (`networkInput(_:)`): the engine normalises them with that kernel where a layer needs the tensor,
///    and the int8 stem maps their bytes through a table built by it.
public struct InputRule: Sendable, Equatable {
    /// Per-channel RGB mean and standard deviation in 0–1 units (the model file's).
    public let mean: [Float]
    public let std: [Float]
    /// The model file's `network_scale`.
    public let networkScale: Double
    /// A fixed network size; nil derives it from each frame with `NetworkSize.automatic`.
    public let fixedSize: NetworkSize?
    /// Multiplies the frame size (with `networkScale`) before rounding, when `fixedSize` is nil.
    public let scale: Double

    public init(mean: [Float], std: [Float], networkScale: Double = 1, fixedSize: NetworkSize? = nil, scale: Double = 1) {
        precondition(mean.count == 3 && std.count == 3 && std.allSatisfy { $0 != 0 }, "InputRule: mean and std need 3 channels")
        precondition(scale > 0 && networkScale > 0, "InputRule: scales must be positive")
        self.mean = mean
        self.std = std
        self.networkScale = networkScale
        self.fixedSize = fixedSize
        self.scale = scale
    }

    /// The rule of a model: its mean, std and `network_scale`.
    public init(config: SFNetConfig, fixedSize: NetworkSize? = nil, scale: Double = 1) {
        self.init(mean: config.mean, std: config.std, networkScale: config.networkScale, fixedSize: fixedSize, scale: scale)
    }

    /// The network's input size for a frame of this size.
    public func networkSize(frameWidth: Int, frameHeight: Int) -> NetworkSize {
        fixedSize ?? NetworkSize.automatic(frameWidth: frameWidth, frameHeight: frameHeight, scale: scale, modelScale: networkScale)
    }

    /// Per-channel multiplier of the 8-bit value: 1 / (255 · std).
    public var channelScale: [Float] { (0..<3).map { 1 / (255 * std[$0]) } }
    /// Per-channel offset: −mean / std.
    public var channelBias: [Float] { (0..<3).map { -mean[$0] / std[$0] } }

    /// Normalises three 8-bit planes (R, G, B; rows `rowStride` bytes apart) already at the network's size
    /// into `tensor` (3×`height`×`width`): the same values, bit for bit, as `normalize(rgb24:…)` on the same
    /// pixels, without a packed intermediate.
    public func normalize(red: UnsafePointer<UInt8>, green: UnsafePointer<UInt8>, blue: UnsafePointer<UInt8>,
                          width: Int, height: Int, rowStride: Int, into tensor: Tensor) {
        precondition(tensor.channels == 3 && tensor.width == width && tensor.height == height,
                     "InputRule.normalize: the tensor must be 3×\(height)×\(width)")
        precondition(rowStride >= width, "InputRule.normalize: row stride below width")
        let s = channelScale, b = channelBias
        let planes: [UnsafePointer<UInt8>?] = [red, green, blue]
        seg_f32_from_planar_u8_affine(planes, rowStride, width, height, s, b, tensor.data)
    }

    /// The network input of 8-bit planes already at the network's size: the planes with this rule's affine, so
    /// the engine normalises them (or, in the int8 stem, quantizes them) exactly as `normalize` would.
    public func networkInput(_ planes: PixelPlanes) -> NetworkInput {
        .pixels(planes, scale: channelScale, bias: channelBias)
    }

    /// Normalises packed RGB24 pixels already at the network's size (`width`×`height`, `rowStride` bytes per
    /// row) into `tensor` (3×`height`×`width`).
    public func normalize(rgb24 pixels: UnsafePointer<UInt8>, width: Int, height: Int, rowStride: Int, into tensor: Tensor) {
        precondition(tensor.channels == 3 && tensor.width == width && tensor.height == height,
                     "InputRule.normalize: the tensor must be 3×\(height)×\(width)")
        precondition(rowStride >= 3 * width, "InputRule.normalize: row stride below 3 × width")
        let s = channelScale, b = channelBias
        seg_f32_from_rgb24_affine(pixels, rowStride, width, height, s, b, tensor.data)
    }
}

extension NetworkSize {
    /// How a size is written on the command line: `run --size` is WIDTHxHEIGHT (as video tools write frame
    /// sizes), `profile --size` HEIGHTxWIDTH (as the SFNet literature writes network inputs, 512×1024).
    public enum Notation: Sendable {
        case widthByHeight, heightByWidth
    }

    /// Parses "AxB" (either case of x) with positive sides up to 8192; nil otherwise.
    public init?(parsing text: String, _ notation: Notation) {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), (1...8192).contains(a), (1...8192).contains(b) else {
            return nil
        }
        self = notation == .widthByHeight ? NetworkSize(width: a, height: b) : NetworkSize(width: b, height: a)
    }
}
