import CSegKernels
import Foundation
import SegEngine
import SegMedia

/// The first decoded frame of an image (or video) file, with the source that decoded it kept alive beside it.
/// `infer` and `eval` feed it to `NetworkInputBuilder`, as `run` feeds its frames.
public struct StillFrame {
    public let frame: VideoFrame
    private let source: VideoSource

    /// Throws `MediaError` (`noSuchInput`, `invalidInput` when the file holds no frame).
    public init(path: String) throws {
        var options = SourceOptions()
        options.decoderThreads = 1
        source = try VideoSource(path, options: options)
        guard let frame = try source.nextFrame() else { throw MediaError(.invalidInput, "no image in", path: path) }
        self.frame = frame
    }
}

/// Label maps from logits, and label maps as colours: the CLI's way to the kernels.
public enum LabelMaps {
    /// Train ids: the argmax over channels of `logits` (C×H×W), row-major H×W.
    public static func argmax(_ logits: Tensor) -> [UInt8] {
        var ids = [UInt8](repeating: 0, count: logits.planeSize)
        ids.withUnsafeMutableBufferPointer { seg_f32_argmax_channels_u8(logits.data, logits.channels, logits.planeSize, $0.baseAddress) }
        return ids
    }

    /// Each label's palette colour (ids without a colour are black), as an RGB24 image.
    public static func colorize(_ labels: [UInt8], width: Int, height: Int, palette: [[UInt8]]) -> Image8 {
        precondition(labels.count == width * height, "colorize: label count does not match the size")
        var lut = [UInt8](repeating: 0, count: 256 * 3)
        for (i, c) in palette.enumerated() where i < 256 { lut[3 * i] = c[0]; lut[3 * i + 1] = c[1]; lut[3 * i + 2] = c[2] }
        var image = Image8(width: width, height: height, layout: .rgb24)
        labels.withUnsafeBufferPointer { l in
            image.pixels.withUnsafeMutableBufferPointer { seg_u8_palette_map(l.baseAddress, l.count, lut, $0.baseAddress) }
        }
        return image
    }
}

/// The instruction set the C kernels dispatch to (SEGSTREAM_ISA overrides the best one), for reports.
public enum KernelISA: String, Sendable {
    case scalar, avx2, avx512vnni

    public static var active: KernelISA {
        switch seg_isa_active() {
        case SEG_ISA_AVX512VNNI: .avx512vnni
        case SEG_ISA_AVX2: .avx2
        default: .scalar
        }
    }

    /// The kernels' value for it.
    public var seg: seg_isa {
        switch self {
        case .scalar: SEG_ISA_SCALAR
        case .avx2: SEG_ISA_AVX2
        case .avx512vnni: SEG_ISA_AVX512VNNI
        }
    }

    /// The kernels' own name for it.
    public var name: String { String(cString: seg_isa_name(seg)) }
}
