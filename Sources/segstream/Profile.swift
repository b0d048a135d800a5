import ArgumentParser
import Dispatch
import Foundation
import SegEngine
import SegMedia
import SegPipeline
import SFNet

/// The network `profile` times: fp32 or int8, as `ModelOptions.loadModel()` returns it.
typealias ProfiledModel = InferenceSession

/// `segstream profile`: how fast the network runs on this CPU, and where the time goes.
struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the network on a real frame: latency, FPS, GMAC/s, fraction of CPU peak, per-layer table.",
        discussion: """
            Takes the first frame of --input (an image or a video; default the bundled samples/drive.mp4), scales \
            it to --size with the same converter `segstream run` uses, runs --warmup passes, then times \
            --iterations forward passes of the labels path (network + fused upsample/argmax). The per-layer \
            table comes from --layer-runs further passes with per-layer timing on (median per layer). \
            Peak: fp32 58 GFMA/s per core, int8 232 GMAC/s per core with AVX-512 VNNI or 107 with AVX2 \
            (measured on the 2-core Zen 4 this was written on; override with --peak), times \
            min(threads, cores). --json prints one JSON object on stdout instead of the table.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Network input size HEIGHTxWIDTH.")
    var size: String = "512x1024"

    @Option(name: .long, help: "Image or video whose first frame is the input (default: the bundled samples/drive.mp4).")
    var input: String?

    @Option(name: .long, help: "Timed forward passes.")
    var iterations: Int = 10

    @Option(name: .long, help: "Untimed passes first.")
    var warmup: Int = 2

    @Option(name: .long, help: "Passes with per-layer timing for the layer table (0: no table).")
    var layerRuns: Int = 3

    @Option(name: .long, help: "Peak GMAC/s per core to compare against (default: see above).")
    var peak: Double?

    @Flag(name: .long, help: "Print one JSON object on stdout.")
    var json = false

    func run() throws {
        try reportingErrors {
            guard let (height, width) = Self.parseSize(size) else {
                throw CLIError("--size must be HEIGHTxWIDTH with positive integers up to 8192, e.g. 512x1024 (got '\(size)')", .usage)
            }
            guard iterations >= 1 else { throw CLIError("--iterations must be at least 1", .usage) }
            guard warmup >= 0 else { throw CLIError("--warmup must not be negative", .usage) }
            guard layerRuns >= 0 else { throw CLIError("--layer-runs must not be negative", .usage) }
            if let peak, !(peak > 0) { throw CLIError("--peak must be positive", .usage) }
            let inputPath = try resolvedInputPath()
            let model: ProfiledModel = try modelOptions.loadSession()
            let tensor = try Self.inputTensor(path: inputPath, height: height, width: width, config: model.config)
            let report = measure(model, input: tensor, inputPath: inputPath)
            if json {
                print(report.jsonString())
            } else {
                print(report.text())
            }
        }
    }

    static func parseSize(_ text: String) -> (Int, Int)? {
        NetworkSize(parsing: text, .heightByWidth).map { ($0.height, $0.width) }
    }

    /// `--input`, else the bundled sample clip next to the installed binary or in the source tree.
    func resolvedInputPath() throws -> String {
        if let input {
            guard FileManager.default.fileExists(atPath: input) else { throw CLIError("no such input: \(input)", .noInput) }
            return input
        }
        let name = "drive.mp4"
        if let path = BundledFile.locate("samples/\(name)") { return path }
        throw CLIError("no --input given and the bundled sample samples/\(name) was not found; pass --input IMAGE_OR_VIDEO",
                       .noInput)
    }

    /// The first frame of `path` as the network's input at height×width, made as `run` makes it (`InputRule`).
    static func inputTensor(path: String, height: Int, width: Int, config: SFNetConfig) throws -> Tensor {
        let frame = try StillFrame(path: path).frame
        let rule = InputRule(config: config, fixedSize: NetworkSize(width: width, height: height))
        return try NetworkInputBuilder(rule: rule).tensor(from: frame)
    }

    /// Peak MAC rate of this CPU for `precision`, per core, GMAC/s; nil when there is no meaningful peak
    /// (int8 on the scalar kernels).
    static func peakPerCore(precision: String, isa: KernelISA) -> Double? {
        if precision == "fp32" { return 58 }
        switch isa {
        case .avx512vnni: return 232
        case .avx2: return 107
        case .scalar: return nil
        }
    }

    func measure(_ model: ProfiledModel, input: Tensor, inputPath: String) -> ProfileReport {
        var labels = [UInt8](repeating: 0, count: input.height * input.width)
        func pass() { labels.withUnsafeMutableBufferPointer { model.predictLabels(input: input, into: $0) } }
        for _ in 0..<warmup { pass() }
        var times: [Double] = []
        for _ in 0..<iterations {
            let t0 = DispatchTime.now().uptimeNanoseconds
            pass()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        var runs: [[LayerTiming]] = []
        for _ in 0..<layerRuns { runs.append(model.profile(input: input)) }
        // The engine's MAC count: every run lists the same layers in the same order.
        let reference = runs.first ?? model.profile(input: input)
        var layers: [ProfileReport.Layer] = []
        for (i, layer) in reference.enumerated() {
            let samples = runs.compactMap { $0.count == reference.count ? $0[i].seconds * 1000 : nil }
            layers.append(.init(name: layer.name, macs: layer.macs, ms: samples.isEmpty ? nil : Statistics.median(samples)))
        }
        let isa = KernelISA.active
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let threads = modelOptions.threadCount
        let precision = model.precision.rawValue
        let perCore = peak ?? Self.peakPerCore(precision: precision, isa: isa)
        return ProfileReport(
            precision: precision, isa: isa.name, arch: model.config.arch.rawValue,
            height: input.height, width: input.width, threads: threads, cores: cores, input: inputPath,
            warmup: warmup, times: times, layerRuns: runs.count, layers: layers,
            peakGMACs: perCore.map { $0 * Double(min(threads, cores)) })
    }
}

enum Statistics {
    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        let n = s.count
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }

    /// Nearest-rank percentile (p in 0…100).
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let s = values.sorted()
        let rank = Int((p / 100 * Double(s.count)).rounded(.up))
        return s[min(max(rank, 1), s.count) - 1]
    }
}

/// The numbers `segstream profile` prints, as a table or one JSON object.
struct ProfileReport {
    struct Layer {
        let name: String
        let macs: Int
        /// Median over the layer runs; nil when layer timing was off.
        let ms: Double?
        var gmac: Double { Double(macs) / 1e9 }
        var gmacs: Double? { ms.map { $0 > 0 ? gmac / ($0 / 1000) : 0 } }
    }

    let precision: String
    let isa: String
    let arch: String
    let height: Int
    let width: Int
    let threads: Int
    let cores: Int
    let input: String
    let warmup: Int
    let times: [Double]
    let layerRuns: Int
    let layers: [Layer]
    /// This CPU's peak for the precision at `threads` (capped at the cores); nil: not meaningful.
    let peakGMACs: Double?

    var medianMs: Double { Statistics.median(times) }
    var p90Ms: Double { Statistics.percentile(times, 90) }
    var fps: Double { 1000 / medianMs }
    var macs: Int { layers.reduce(0) { $0 + $1.macs } }
    var gmac: Double { Double(macs) / 1e9 }
    var gmacs: Double { gmac / (medianMs / 1000) }
    var peakFraction: Double? { peakGMACs.map { gmacs / $0 } }
    var layerTotalMs: Double? { layerRuns > 0 ? layers.reduce(0) { $0 + ($1.ms ?? 0) } : nil }

    func text() -> String {
        var out: [String] = []
        out.append("segstream profile: \(arch) \(precision) at \(height)x\(width) (HxW), \(threads) thread\(threads == 1 ? "" : "s") "
                   + "on \(cores) core\(cores == 1 ? "" : "s"), kernels \(isa)")
        out.append("input: first frame of \(input)")
        out.append(String(format: "latency: median %.2f ms, p90 %.2f ms, min %.2f, max %.2f (%d runs after %d warm-up)",
                          medianMs, p90Ms, times.min()!, times.max()!, times.count, warmup))
        out.append(String(format: "throughput: %.2f FPS", fps))
        var work = String(format: "work: %.3f GMAC, %.1f GMAC/s achieved", gmac, gmacs)
        if let peakGMACs, let peakFraction {
            work += String(format: ", %.1f%% of peak (%.0f GMAC/s)", 100 * peakFraction, peakGMACs)
        } else {
            work += ", peak n/a (\(precision) on \(isa) kernels)"
        }
        out.append(work)
        if let total = layerTotalMs {
            out.append(String(format: "layers: median of %d profiled runs, %.2f ms in layers (%.2f ms outside them)",
                              layerRuns, total, medianMs - total))
            let nameWidth = max(24, layers.map(\.name.count).max() ?? 0)
            func pad(_ s: String) -> String { s.padding(toLength: nameWidth, withPad: " ", startingAt: 0) }
            out.append(pad("layer") + "        ms      GMAC    GMAC/s   % time")
            for layer in layers {
                let ms = layer.ms ?? 0
                let rate = layer.macs > 0 ? String(format: "%9.1f", layer.gmacs ?? 0) : String(repeating: " ", count: 8) + "-"
                out.append(pad(layer.name) + String(format: " %9.3f %9.4f", ms, layer.gmac) + rate
                           + String(format: " %7.1f%%", total > 0 ? 100 * ms / total : 0))
            }
        }
        return out.joined(separator: "\n")
    }

    func jsonObject() -> [String: Any] {
        var object: [String: Any] = [
            "median_ms": medianMs, "p90_ms": p90Ms, "min_ms": times.min()!, "max_ms": times.max()!,
            "times_ms": times, "fps": fps, "gmac": gmac, "macs": macs, "gmacs": gmacs,
            "peak_fraction": peakFraction.map { $0 as Any } ?? NSNull(),
            "peak_gmacs": peakGMACs.map { $0 as Any } ?? NSNull(),
            "threads": threads, "cores": cores, "precision": precision, "isa": isa, "arch": arch,
            "size": "\(height)x\(width)", "height": height, "width": width, "input": input,
            "iterations": times.count, "warmup": warmup, "layer_runs": layerRuns,
        ]
        if let total = layerTotalMs { object["layers_ms"] = total }
        object["layers"] = layers.map { layer -> [String: Any] in
            [
                "name": layer.name, "macs": layer.macs, "gmac": layer.gmac,
                "ms": layer.ms.map { $0 as Any } ?? NSNull(),
                "gmacs": layer.gmacs.map { $0 as Any } ?? NSNull(),
            ]
        }
        return object
    }

    func jsonString() -> String {
        let data = try! JSONSerialization.data(withJSONObject: jsonObject(), options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
