import ArgumentParser
import Foundation
import SegEngine
import SegMedia
import SegPanoptic
import SegPipeline
import SFNet

/// `segstream infer`: segment still images; outputs at each image's own resolution.
struct Infer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment images (PNG, JPEG, anything FFmpeg decodes).",
        discussion: """
            Writes, per image, NAME_labels.png (8-bit train ids), NAME_color.png (palette colours) and \
            NAME_overlay.png (50/50 blend of image and colours); with --logits also NAME_logits.npy \
            (float32, classes × height × width at the image's resolution); with --panoptic also \
            NAME_panoptic.png and NAME_panoptic.json (COCO/Cityscapes panoptic format, docs/panoptic.md; in \
            --panoptic-out if given) and instances drawn on the overlay. The network's input is made as \
            `segstream run` makes it: the image's size times the model's network_scale (the bundled model: \
            1.75), each side rounded to a multiple of 32, the long side at most 1024 × network_scale; outputs \
            are at the image's own size.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Output directory (created if missing).")
    var out: String

    @Flag(name: .long, help: "Also write the logits as NAME_logits.npy.")
    var logits = false

    @OptionGroup(title: "Panoptic") var panoptic: PanopticCLIOptions

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
            if let dir = panoptic.panopticOut { try OutputDirectory.prepare(dir) }
            let model = try modelOptions.loadSession()
            let config = model.config
            let segmenter = try panoptic.options(for: config).map { PanopticSegmenter(options: $0, track: false) }
            let renderer = FrameRenderer(
                palette: config.palette, classNames: config.classNames,
                style: RenderStyle(mode: .overlay, alpha: 0.5, showLegend: false, showHUD: false))
            let builder = NetworkInputBuilder(rule: InputRule(config: config))
            let converter = FrameConverter()
            for path in images {
                guard FileManager.default.fileExists(atPath: path) else { throw CLIError("no such image: \(path)", .noInput) }
                let still = try StillFrame(path: path)
                let image = try converter.rgb24(still.frame)
                let input = try builder.tensor(from: still.frame)
                var labels = [UInt8](repeating: 0, count: image.width * image.height)
                var logitsData: Data?
                var head: InstanceHeadOutput?
                if logits {
                    let out = model.forward(input: input, outputHeight: image.height, outputWidth: image.width)
                    labels = LabelMaps.argmax(out)
                    logitsData = Npy.encode(out.data, shape: out.shape)
                }
                if !logits || segmenter?.options.source == .head {
                    // The labels path (and the instance head's output from the same pass).
                    head = labels.withUnsafeMutableBufferPointer {
                        model.predictLabels(input: input, outputHeight: image.height, outputWidth: image.width, into: $0,
                                            instances: segmenter?.options.source == .head)
                    }
                }
                let base = URL(fileURLWithPath: out).appendingPathComponent(Self.stem(path)).path
                try ImageIO.writePNGAtomically(Image8(width: image.width, height: image.height, layout: .gray8, pixels: labels),
                                               to: base + "_labels.png")
                let color = LabelMaps.colorize(labels, width: image.width, height: image.height, palette: config.palette)
                let result = segmenter.map { s in
                    labels.withUnsafeBufferPointer { s.segment(labels: $0, width: image.width, height: image.height, head: head) }
                }
                var overlay = Image8(width: image.width, height: image.height, layout: .rgb24)
                let segments = result?.map.segments ?? []
                labels.withUnsafeBufferPointer { l in
                    image.pixels.withUnsafeBufferPointer { src in
                        overlay.pixels.withUnsafeMutableBufferPointer { dst in
                            segments.withUnsafeBufferPointer { seg in
                                let instances = result.map {
                                    InstanceOverlay(segments: seg.baseAddress!, segmentClasses: $0.map.segmentClasses,
                                                    instanceIDs: $0.instanceIDs)
                                }
                                renderer.render(frame: src.baseAddress!, width: image.width, height: image.height,
                                                rowStride: image.rowStride, labels: l.baseAddress!, labelRowStride: image.width,
                                                hud: nil, into: dst.baseAddress!, outRowStride: image.rowStride, instances: instances)
                            }
                        }
                    }
                }
                if let result {
                    let dir = panoptic.panopticOut ?? out
                    try PanopticDirectorySink.write(result, classes: .cityscapes, imageID: Self.stem(path),
                                                    to: URL(fileURLWithPath: dir).appendingPathComponent(Self.stem(path) + "_panoptic").path)
                }
                try ImageIO.writePNGAtomically(color, to: base + "_color.png")
                try ImageIO.writePNGAtomically(overlay, to: base + "_overlay.png")
                if let logitsData { try writeAtomically(logitsData, to: base + "_logits.npy") }
                print("\(path): \(image.width)x\(image.height) → \(base)_{labels,color,overlay}.png\(logits ? ", _logits.npy" : "")"
                      + (result.map { ", \($0.map.segmentCount) instances, _panoptic.{png,json}" } ?? ""))
            }
        }
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
