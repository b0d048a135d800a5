import ArgumentParser
import Foundation
import SegEngine
import SegMedia
import SegPipeline
import SFNet

extension CalibrationMethod: ExpressibleByArgument {}

/// `segstream quantize`: post-training int8 quantization of an fp32 model (docs/int8.md).
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make an int8 model from an fp32 one, calibrated on images or video frames.",
        discussion: """
            Runs the fp32 model over the calibration frames (images are used whole; videos are sampled \
            evenly; --frames frames in all, fed to the network exactly as `segstream run` feeds a frame), \
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
            // The network's inputs exactly as `run` makes them (InputRule: size, swscale, normalisation).
            let rule = InputRule(config: quantizer.config)
            let inputs = try CalibrationFrames.load(calibrate, count: frames, rule: rule)
            FileHandle.standardError.write(Data("calibrating on \(inputs.count) frames (\(method.rawValue))\n".utf8))
            for pass in 0..<2 {
                if pass == 1 { quantizer.beginHistograms() }
                for input in inputs { quantizer.observe(input) }
            }
            let writer = try quantizer.int8File(method: method, percentile: percentile, fp32Layers: fp32)
            let data = try writer.serialized()
            try writeAtomically(data, to: output)
            print("wrote \(output) (\(data.count / 1024) KiB, \(method.rawValue), fp32 layers: \(fp32.isEmpty ? "none" : fp32.sorted().joined(separator: ",")))")

            guard !validationInputs.isEmpty else { return }
            let checks = try CalibrationFrames.load(validationInputs, count: Int.max, rule: rule)
            let reference = try SFNetModel(file: try SafetensorsFile(contentsOf: URL(fileURLWithPath: model))).makeSession()
            var fp32Times: [Double] = [], int8Times: [Double] = []
            let expected = checks.map { x in
                let t0 = DispatchTime.now().uptimeNanoseconds
                defer { fp32Times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
                return reference.predictLabels(input: x)
            }
            func agreement(_ bytes: Data, times: inout [Double]) throws -> Double {
                let m = try SFNetInt8Model(file: try SafetensorsFile(bytes: Array(bytes))).makeSession()
                var same = 0, total = 0
                for (x, e) in zip(checks, expected) {
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
