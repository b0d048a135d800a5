import ArgumentParser
import Foundation
import SegEngine
import SegMedia
import SFNet

extension CalibrationMethod: ExpressibleByArgument {}

/// `segstream quantize`: post-training int8 quantization of an fp32 model (docs/int8.md).
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make an int8 model from an fp32 one, calibrated on images or video frames.",
        discussion: """
            Runs the fp32 model over the calibration frames (images are used whole; videos are sampled \
            evenly; --frames frames in all, at their own resolution times the model's network_scale), \
            chooses each activation's int8 range by --method, folds batch norm and quantizes the weights per \
            output channel, and writes the int8 model atomically. With --validate, reports how often the int8 \
            model's labels agree with the fp32 model's on other frames.
            """)

    @Option(name: .long, help: "The fp32 model file (.safetensors).")
    var model: String

    @Option(name: .long, parsing: .upToNextOption, help: "Calibration inputs: images, videos, or directories of images.")
    var calibrate: [String]

    @Option(name: .long, help: "Calibration frames in all, sampled evenly over the inputs.")
    var frames = 32

    @Option(name: .long, help: "Range choice: minmax, percentile, mse or entropy.")
    var method: CalibrationMethod = .mse

    @Option(name: .long, help: "Percentile for --method percentile.")
    var percentile = 99.99

    @Option(name: .long, help: "Comma-separated convs kept in fp32 (of the first conv, the flow convs and the classifier), or 'none'. Default: see docs/int8.md.")
    var fp32Layers: String?

    @Option(name: .customLong("validate"), parsing: .upToNextOption,
            help: "Frames to measure int8-vs-fp32 label agreement on (images, videos, directories).")
    var validationInputs: [String] = []

    @Flag(name: .long, help: "Also report the agreement of every method × fp32-layer choice (needs --validate; writes only -o).")
    var sweep = false

    @Option(name: .long, help: "Engine threads (default: all cores).")
    var threads: Int?

    @Option(name: [.short, .customLong("output")], help: "The int8 model file to write.")
    var output: String

    func validate() throws {
        if calibrate.isEmpty { throw ValidationError("give at least one --calibrate input") }
        if frames < 1 { throw ValidationError("--frames must be at least 1") }
        if !(percentile > 50 && percentile <= 100) { throw ValidationError("--percentile must be in (50, 100]") }
        if sweep && validationInputs.isEmpty { throw ValidationError("--sweep needs --validate frames") }
    }

    func run() throws {
        try reportingErrors {
            WorkerPool.configureShared(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
            guard FileManager.default.fileExists(atPath: model) else { throw CLIError("model file not found: \(model)", .noInput) }
            let quantizer: SFNetQuantizer
            do {
                quantizer = try SFNetQuantizer(file: try SafetensorsFile(contentsOf: URL(fileURLWithPath: model)))
            } catch let error as CustomStringConvertible {
                throw CLIError("model \(model): \(error.description)", .dataError)
            }
            let fp32: Set<String>
            if let list = fp32Layers {
                fp32 = list == "none" ? [] : Set(list.split(separator: ",").map { String($0) })
                let allowed = Set(quantizer.fp32LayerCandidates)
                if let bad = fp32.first(where: { !allowed.contains($0) }) {
                    throw CLIError("--fp32-layers: \(bad) cannot stay fp32; choose from \(quantizer.fp32LayerCandidates.joined(separator: ", "))", .usage)
                }
            } else {
                fp32 = quantizer.defaultFP32Layers
            }
            let images = try CalibrationFrames.load(calibrate, count: frames)
            FileHandle.standardError.write(Data("calibrating on \(images.count) frames (\(method.rawValue))\n".utf8))
            let config = quantizer.config
            for pass in 0..<2 {
                if pass == 1 { quantizer.beginHistograms() }
                for image in images { quantizer.observe(NetworkInput.tensor(from: image, config: config)) }
            }
            let writer = try quantizer.int8File(method: method, percentile: percentile, fp32Layers: fp32)
            let data = try writer.serialized()
            try writeAtomically(data, to: output)
            print("wrote \(output) (\(data.count / 1024) KiB, \(method.rawValue), fp32 layers: \(fp32.isEmpty ? "none" : fp32.sorted().joined(separator: ",")))")

            guard !validationInputs.isEmpty else { return }
            let checks = try CalibrationFrames.load(validationInputs, count: Int.max)
            let reference = try SFNetModel(file: try SafetensorsFile(contentsOf: URL(fileURLWithPath: model))).makeSession()
            let inputs = checks.map { NetworkInput.tensor(from: $0, config: config) }
            var fp32Times: [Double] = [], int8Times: [Double] = []
            let expected = inputs.map { x in
                let t0 = DispatchTime.now().uptimeNanoseconds
                defer { fp32Times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
                return reference.predictLabels(input: x)
            }
            func agreement(_ bytes: Data, times: inout [Double]) throws -> Double {
                let m = try SFNetInt8Model(file: try SafetensorsFile(bytes: Array(bytes))).makeSession()
                var same = 0, total = 0
                for (x, e) in zip(inputs, expected) {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let l = m.predictLabels(input: x)
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                    same += zip(l, e).filter { $0 == $1 }.count
                    total += e.count
                }
                return Double(same) / Double(total)
            }
            func agreement(_ bytes: Data) throws -> Double { var t: [Double] = []; return try agreement(bytes, times: &t) }
            let agreed = try agreement(data, times: &int8Times)
            // The first frame of each size includes one-time setup (arena, indirection tables).
            func median(_ t: [Double]) -> Double { let s = t.dropFirst().sorted(); return s.isEmpty ? t[0] : s[s.count / 2] }
            print(String(format: "int8 vs fp32 label agreement on %d frames: %.4f %% (median ms/frame: fp32 %.1f, int8 %.1f)",
                         checks.count, 100 * agreed, median(fp32Times), median(int8Times)))
            guard sweep else { return }
            func label(_ layers: Set<String>) -> String { layers.isEmpty ? "none" : layers.sorted().joined(separator: ",") }
            for m in CalibrationMethod.allCases {
                let bytes = try quantizer.int8File(method: m, percentile: percentile, fp32Layers: fp32).serialized()
                print(String(format: "  method %-10@ fp32 %@: %.4f %%", m.rawValue, label(fp32), 100 * (try agreement(bytes))))
            }
            let candidates = quantizer.fp32LayerCandidates
            let variants: [Set<String>] = [[]] + candidates.map { [$0] } + [Set(candidates.dropFirst()), Set(candidates)]
            for layers in variants where layers != fp32 {
                let bytes = try quantizer.int8File(method: method, percentile: percentile, fp32Layers: layers).serialized()
                print(String(format: "  method %-10@ fp32 %@: %.4f %%", method.rawValue, label(layers), 100 * (try agreement(bytes))))
            }
            for p in [99.9, 99.99, 99.999] where method != .percentile || p != percentile {
                let bytes = try quantizer.int8File(method: .percentile, percentile: p, fp32Layers: fp32).serialized()
                print(String(format: "  percentile %.3f fp32 %@: %.4f %%", p, label(fp32), 100 * (try agreement(bytes))))
            }
        }
    }
}

/// Frames for calibration and validation, as RGB24 images at their own resolution.
enum CalibrationFrames {
    static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "bmp", "ppm", "pgm", "webp", "tif", "tiff"]

    /// `count` frames sampled evenly over all the inputs' frames (each image is one frame; directories
    /// contribute their images, recursively, in name order).
    static func load(_ inputs: [String], count: Int) throws -> [Image8] {
        enum Item { case image(String), video(String, Int) }
        var items: [Item] = []
        for input in inputs {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
                throw CLIError("no such input: \(input)", .noInput)
            }
            if isDirectory.boolValue {
                let files = (FileManager.default.enumerator(atPath: input)?.allObjects as? [String] ?? [])
                    .filter { imageExtensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }.sorted()
                if files.isEmpty { throw CLIError("no images in directory \(input)", .noInput) }
                items += files.map { .image(URL(fileURLWithPath: input).appendingPathComponent($0).path) }
            } else if imageExtensions.contains(URL(fileURLWithPath: input).pathExtension.lowercased()) {
                items.append(.image(input))
            } else {
                items.append(.video(input, try frameCount(input)))
            }
        }
        // Global frame list: (item, frame index within it).
        var total = 0
        for item in items { if case .video(_, let n) = item { total += n } else { total += 1 } }
        guard total > 0 else { throw CLIError("the inputs hold no frames", .noInput) }
        let n = min(count, total)
        let picks = Set((0..<n).map { $0 * total / n + total / (2 * n) }.map { min($0, total - 1) })
        var out: [Image8] = []
        var base = 0
        for item in items {
            switch item {
            case .image(let path):
                if picks.contains(base) { out.append(try ImageIO.readRGB24(path)) }
                base += 1
            case .video(let path, let frames):
                let wanted = Set(picks.filter { $0 >= base && $0 < base + frames }.map { $0 - base })
                if !wanted.isEmpty {
                    let source = try VideoSource(path)
                    let converter = FrameConverter(quality: .bilinear)
                    var i = 0
                    while let frame = try source.nextFrame(), i < frames {
                        if wanted.contains(i) { out.append(try converter.rgb24(frame)) }
                        i += 1
                    }
                }
                base += frames
            }
        }
        return out
    }

    /// Frames in a video: the container's estimate, else counted by decoding.
    static func frameCount(_ path: String) throws -> Int {
        let source = try VideoSource(path)
        if let n = source.info.estimatedFrameCount, n > 0 { return n }
        var n = 0
        while try source.nextFrame() != nil { n += 1 }
        return n
    }
}
