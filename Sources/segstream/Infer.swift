import ArgumentParser
import CSegKernels
import Foundation
import SegEngine
import SegMedia
import SegPipeline
import SFNet

/// `segstream infer`: segment still images; outputs at each image's own resolution.
struct Infer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment images (PNG, JPEG, anything FFmpeg decodes).",
        discussion: """
            Writes, per image, NAME_labels.png (8-bit train ids), NAME_color.png (palette colours) and \
            NAME_overlay.png (50/50 blend of image and colours); with --logits also NAME_logits.npy \
            (float32, classes × height × width at the image's resolution). The network runs at the \
            image's size times the model's network_scale (1 unless the model file says otherwise; the \
            bundled model: 1.75); outputs are at the image's own size.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Output directory (created if missing).")
    var out: String

    @Flag(name: .long, help: "Also write the logits as NAME_logits.npy.")
    var logits = false

    @Argument(help: "Input images.")
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image") }
        var seen = [String: String]()
        for path in images {
            let name = Self.stem(path)
            if let other = seen[name] { throw ValidationError("\(other) and \(path) would write the same outputs (\(name)_*)") }
            seen[name] = path
        }
    }

    static func stem(_ path: String) -> String {
        URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    }

    func run() throws {
        try reportingErrors {
            try OutputDirectory.prepare(out)
            let model = try modelOptions.loadSession()
            let config = model.config
            let renderer = FrameRenderer(
                palette: config.palette, classNames: config.classNames,
                style: RenderStyle(mode: .overlay, alpha: 0.5, showLegend: false, showHUD: false))
            for path in images {
                guard FileManager.default.fileExists(atPath: path) else { throw CLIError("no such image: \(path)", .noInput) }
                let image = try ImageIO.readRGB24(path)
                let input = NetworkInput.tensor(from: image, config: config)
                let labels: [UInt8]
                var logitsData: Data?
                if logits {
                    let out = model.forward(input: input, outputHeight: image.height, outputWidth: image.width)
                    var ids = [UInt8](repeating: 0, count: image.width * image.height)
                    ids.withUnsafeMutableBufferPointer {
                        seg_f32_argmax_channels_u8(out.data, out.channels, out.planeSize, $0.baseAddress)
                    }
                    labels = ids
                    logitsData = Npy.encode(out.data, shape: out.shape)
                } else {
                    labels = model.predictLabels(input: input, outputHeight: image.height, outputWidth: image.width)
                }
                let base = URL(fileURLWithPath: out).appendingPathComponent(Self.stem(path)).path
                try ImageIO.writePNGAtomically(Image8(width: image.width, height: image.height, layout: .gray8, pixels: labels),
                                               to: base + "_labels.png")
                var color = Image8(width: image.width, height: image.height, layout: .rgb24)
                var overlay = Image8(width: image.width, height: image.height, layout: .rgb24)
                let lut = PaletteLUT(config.palette)
                labels.withUnsafeBufferPointer { l in
                    color.pixels.withUnsafeMutableBufferPointer { c in
                        lut.colors.withUnsafeBufferPointer { seg_u8_palette_map(l.baseAddress, l.count, $0.baseAddress, c.baseAddress) }
                    }
                    image.pixels.withUnsafeBufferPointer { src in
                        overlay.pixels.withUnsafeMutableBufferPointer { dst in
                            renderer.render(frame: src.baseAddress!, width: image.width, height: image.height,
                                            rowStride: image.rowStride, labels: l.baseAddress!, labelRowStride: image.width,
                                            hud: nil, into: dst.baseAddress!, outRowStride: image.rowStride)
                        }
                    }
                }
                try ImageIO.writePNGAtomically(color, to: base + "_color.png")
                try ImageIO.writePNGAtomically(overlay, to: base + "_overlay.png")
                if let logitsData { try writeAtomically(logitsData, to: base + "_logits.npy") }
                print("\(path): \(image.width)x\(image.height) → \(base)_{labels,color,overlay}.png\(logits ? ", _logits.npy" : "")")
            }
        }
    }
}

/// The network's input tensor from a decoded RGB24 image: `(rgb/255 − mean)/std`, CHW, enlarged by the
/// model's `network_scale` (bilinear, align_corners=False, as `F.interpolate` on the normalised image).
enum NetworkInput {
    static func tensor(from image: Image8, config: SFNetConfig) -> Tensor {
        let tensor = Tensor(channels: 3, height: image.height, width: image.width)
        fill(tensor, from: image.pixels, width: image.width, height: image.height, rowStride: image.rowStride, config: config)
        let (height, width) = size(imageHeight: image.height, imageWidth: image.width, scale: config.networkScale)
        guard height != image.height || width != image.width else { return tensor }
        let scaled = Tensor(channels: 3, height: height, width: width)
        seg_f32_bilinear_resize(tensor.data, 3, image.height, image.width, scaled.data, height, width, 0)
        return scaled
    }

    /// The network's input size for an image: each side times `scale`, rounded, at least 1.
    static func size(imageHeight: Int, imageWidth: Int, scale: Double) -> (height: Int, width: Int) {
        (max(1, Int((Double(imageHeight) * scale).rounded())), max(1, Int((Double(imageWidth) * scale).rounded())))
    }

    static func fill(_ tensor: Tensor, from pixels: UnsafePointer<UInt8>, width: Int, height: Int, rowStride: Int,
                     config: SFNetConfig) {
        let scale = (0..<3).map { 1 / (255 * config.std[$0]) }
        let bias = (0..<3).map { -config.mean[$0] / config.std[$0] }
        seg_f32_from_rgb24_affine(pixels, rowStride, width, height, scale, bias, tensor.data)
    }
}

/// 256-entry RGB palette (unknown ids black) for the C palette kernels.
struct PaletteLUT {
    var colors = [UInt8](repeating: 0, count: 256 * 3)
    init(_ palette: [[UInt8]]) {
        for (i, c) in palette.enumerated() where i < 256 { colors[3 * i] = c[0]; colors[3 * i + 1] = c[1]; colors[3 * i + 2] = c[2] }
    }
}

enum OutputDirectory {
    /// Creates `path` if needed and checks it is a writable directory; a clear error (74) otherwise.
    static func prepare(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CLIError("\(path) exists and is not a directory", .ioError) }
        } else {
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw CLIError("cannot create directory \(path): \(error.localizedDescription)", .ioError)
            }
        }
        guard access(path, W_OK) == 0 else { throw CLIError("cannot write to directory \(path)", .ioError) }
    }
}

/// Writes to a temporary file beside `path` and renames it into place: never a half-written output.
func writeAtomically(_ data: Data, to path: String) throws {
    do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
        throw CLIError("cannot write \(path): \(error.localizedDescription)", .ioError)
    }
}

extension ImageIO {
    static func writePNGAtomically(_ image: Image8, to path: String) throws {
        try writeAtomically(Data(try encodePNG(image)), to: path)
    }
}
