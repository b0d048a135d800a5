import ArgumentParser
import CSegKernels
import Dispatch
import Foundation
import SegEngine
import SegMedia
import SegPipeline
import SFNet

/// The network `profile` times: fp32 or int8, as `ModelOptions.loadModel()` returns it.
typealias ProfiledModel = InferenceSession

/// `segstream profile`: where the time goes, for the whole pipeline on a clip, for the network alone, or for
/// the network over a sweep of sizes, threads and precisions.
struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Profile the pipeline on a clip (per-stage time, queue waits, fps, limiting stage), or the network alone.",
        discussion: """
            segstream profile INPUT: runs the real pipeline (decode, preprocess, inference, render, encode: the \
            code of `run -o`, x264 included, into a temporary file unless -o) on the clip for --frames (default: \
            all), at --size or the size `run` chooses; then times the network alone at the same size and threads \
            (--iterations passes after --warmup) on the clip's first frame. Reports each stage's median and p95 ms \
            per frame and busy fraction (its time over the run's), how long each stage waited per frame on its \
            input queue and for room downstream, end-to-end fps, inference-only fps, their ratio, and the \
            limiting stage (the busiest). See docs/profile.md.

            segstream profile (no INPUT): the network alone on the first frame of --input (default: the bundled \
            samples/drive.mp4) at --size (default 512x1024): --warmup untimed passes, --iterations timed passes \
            of the labels path (network + fused upsample/argmax), and a per-layer table from --layer-runs \
            passes with per-layer timing (median per layer). Peak: this CPU's multiply-accumulate rate per core, \
            measured at start (about 0.1 s) with the kernels' own instructions (int8: VNNI or AVX2 word \
            products; fp32: FMAs of the widest vectors; override with --peak), times min(threads, cores).

            segstream profile --sweep --out DIR: the network alone for every model in --models (default: the \
            bundled fp32 and int8 models) of --precisions, every --threads-list and every --sizes; writes \
            DIR/sweep.json (one row per combination), DIR/fps.svg (fps against input size) and DIR/roofline.svg \
            (each conv's MAC per byte against its GMAC/s at the largest size and most threads, under the peaks \
            and a measured copy bandwidth). --pipeline-frames N also runs the whole pipeline on N frames of --input \
            for every combination.

            Sizes are HEIGHTxWIDTH here (network input sizes); `run --size` is WIDTHxHEIGHT. --json prints one \
            JSON object on stdout instead of the table.
            """)

    @Argument(help: ArgumentHelp("A video to profile the whole pipeline on (omit it to time the network alone).",
                                 valueName: "input"))
    var clip: String?

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Network input size HEIGHTxWIDTH (default: 512x1024 for the network alone, `run`'s automatic size for INPUT).")
    var size: String?

    @Option(name: .long, help: "Without INPUT: image or video whose first frame the network runs on (default: the bundled samples/drive.mp4).")
    var input: String?

    @Option(name: .long, help: "Timed forward passes of the network alone.")
    var iterations: Int = 10

    @Option(name: .long, help: "Untimed passes first.")
    var warmup: Int = 2

    @Option(name: .long, help: "Network alone and --sweep: passes with per-layer timing (default 3; 0: no layer table).")
    var layerRuns: Int?

    @Option(name: .long, help: "Network alone and --sweep: peak GMAC/s per core to compare against (default: see above).")
    var peak: Double?

    @Flag(name: .long, help: "Print one JSON object on stdout.")
    var json = false

    @OptionGroup(title: "Pipeline (with INPUT)") var pipelineOptions: PipelineProfileOptions

    @OptionGroup(title: "Sweep") var sweepOptions: SweepOptions

    func run() throws {
        try reportingErrors {
            guard iterations >= 1 else { throw CLIError("--iterations must be at least 1", .usage) }
            guard warmup >= 0 else { throw CLIError("--warmup must not be negative", .usage) }
            if let layerRuns, layerRuns < 0 { throw CLIError("--layer-runs must not be negative", .usage) }
            if let peak, !(peak > 0) { throw CLIError("--peak must be positive", .usage) }
            if sweepOptions.sweep {
                try runSweep()
            } else if let clip {
                try runPipeline(clip: clip)
            } else {
                try runNetwork()
            }
        }
    }

    private func requiredSize(_ text: String) throws -> (Int, Int) {
        guard let size = Self.parseSize(text) else {
            throw CLIError("--size must be HEIGHTxWIDTH with positive integers up to 8192, e.g. 512x1024 (got '\(text)')", .usage)
        }
        return size
    }

    private func refuse(_ given: Bool, _ message: String) throws {
        if given { throw CLIError(message, .usage) }
    }

    /// `profile INPUT`: the whole pipeline.
    private func runPipeline(clip: String) throws {
        try refuse(input != nil, "give INPUT (the pipeline) or --input (the network alone), not both")
        try refuse(layerRuns != nil || peak != nil, "--layer-runs and --peak are for the network alone (no INPUT)")
        try sweepOptions.refuseWithoutSweep()
        let networkSize = try size.map { text -> NetworkSize in
            let (height, width) = try requiredSize(text)
            return NetworkSize(width: width, height: height)
        }
        let o = pipelineOptions
        if let frames = o.frames, frames < 1 { throw CLIError("--frames must be at least 1", .usage) }
        var encoder = EncoderSettings()
        encoder.crf = o.crf ?? 23
        encoder.preset = o.preset ?? Run.defaultPreset
        encoder.threads = o.encoderThreads ?? 0
        if !(0...51).contains(encoder.crf) { throw CLIError("--crf must be between 0 and 51", .usage) }
        if !(0...64).contains(encoder.threads) { throw CLIError("--encoder-threads must be between 0 and 64", .usage) }
        if let output = o.output, !["mp4", "mkv", "mov", "m4v"].contains(URL(fileURLWithPath: output).pathExtension.lowercased()) {
            throw CLIError("-o must end in .mp4, .mkv or .mov (got '\(output)')", .usage)
        }
        let profiler = PipelineProfiler(clip: clip, modelOptions: modelOptions, networkSize: networkSize, frames: o.frames,
                                        output: o.output, encoder: encoder, iterations: iterations, warmup: warmup)
        let report = try profiler.measure()
        if json {
            let data = try JSONSerialization.data(withJSONObject: report.jsonObject(), options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(report.text())
        }
    }

    /// `profile` without INPUT: the network alone on one frame.
    private func runNetwork() throws {
        try pipelineOptions.refuseWithoutInput()
        try sweepOptions.refuseWithoutSweep()
        let (height, width) = try requiredSize(size ?? "512x1024")
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

    /// `profile --sweep`: the network alone over sizes, threads and precisions, into charts.
    private func runSweep() throws {
        let s = sweepOptions
        try refuse(clip != nil, "--sweep times the network alone; give its frame with --input, not as INPUT")
        try pipelineOptions.refuseWithoutInput()
        try refuse(size != nil, "with --sweep, give the sizes with --sizes")
        try refuse(modelOptions.threads != nil, "with --sweep, give the thread counts with --threads-list")
        try refuse(modelOptions.precision != nil, "with --sweep, give the precisions with --precisions")
        try refuse(modelOptions.model != nil && s.models != nil, "give --model or --models, not both")
        try refuse(json, "--sweep writes DIR/sweep.json; --json is for the other modes")
        guard let out = s.out else { throw CLIError("--sweep needs --out DIR for sweep.json and the charts", .usage) }
        let layerRuns = self.layerRuns ?? 3
        guard layerRuns >= 1 else { throw CLIError("--sweep needs --layer-runs of at least 1 (the roofline)", .usage) }
        var sizes: [NetworkSize] = []
        for text in (s.sizes ?? "256x512,512x1024,1024x2048").split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            guard let (height, width) = Self.parseSize(text) else {
                throw CLIError("--sizes must be HEIGHTxWIDTH,… with positive integers up to 8192 (got '\(text)')", .usage)
            }
            sizes.append(NetworkSize(width: width, height: height))
        }
        var threadCounts: [Int] = []
        if let list = s.threadsList {
            for text in list.split(separator: ",", omittingEmptySubsequences: false) {
                guard let n = Int(text), (1...256).contains(n) else {
                    throw CLIError("--threads-list must be numbers from 1 to 256, e.g. 1,2 (got '\(text)')", .usage)
                }
                threadCounts.append(n)
            }
        } else {
            threadCounts = [modelOptions.threadCount]
        }
        var precisions: [ModelPrecision]?
        if let list = s.precisions {
            precisions = try list.split(separator: ",", omittingEmptySubsequences: false).map {
                guard let p = ModelPrecision(rawValue: String($0)) else {
                    throw CLIError("--precisions must be fp32, int8 or both, comma-separated (got '\($0)')", .usage)
                }
                return p
            }
        }
        let models: [String]
        if let list = s.models {
            models = list.split(separator: ",").map(String.init)
            try refuse(models.isEmpty, "--models must name at least one model file")
        } else if modelOptions.model != nil || !(ProcessInfo.processInfo.environment["SEGSTREAM_MODEL"] ?? "").isEmpty {
            models = [try modelOptions.resolvedModelPath()]
        } else {
            models = try (precisions ?? [.fp32, .int8]).map { p in
                let name = p == .fp32 ? ModelOptions.bundledFP32 : ModelOptions.bundledInt8
                guard let path = BundledFile.locate("models/\(name)") else {
                    throw CLIError("the bundled model \(name) was not found; pass --models FILE,…", .noInput)
                }
                return path
            }
        }
        if let frames = s.pipelineFrames, frames < 1 { throw CLIError("--pipeline-frames must be at least 1", .usage) }
        let sweep = ProfileSweep(models: models, precisions: precisions, sizes: sizes, threadCounts: threadCounts,
                                 input: try resolvedInputPath(), iterations: iterations, warmup: warmup, layerRuns: layerRuns,
                                 peakPerCore: peak, outputDirectory: out, pipelineFrames: s.pipelineFrames)
        print(try sweep.run())
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

    /// Peak MAC rate of this CPU for `precision`, per core, GMAC/s, measured once per process
    /// (`seg_peak_gmacs`: the int8 kernels' instructions on `isa`, fp32 FMAs of the widest vectors the CPU has);
    /// nil when there is no meaningful peak (int8 on the scalar kernels).
    static func peakPerCore(precision: String, isa: KernelISA) -> Double? {
        let key = "\(precision)/\(isa.name)"
        return measuredPeaks.withLock { peaks in
            if let known = peaks[key] { return known }
            let probeISA = precision == "fp32" ? seg_isa_best() : isa.seg
            let gmacs = seg_peak_gmacs(probeISA, precision == "fp32" ? 0 : 1, 0.05)
            let peak: Double? = gmacs > 0 ? gmacs : nil
            peaks[key] = .some(peak)   // remembered as "none" too (assigning nil would drop the key)
            return peak
        }
    }

    private static let measuredPeaks = Locked<[String: Double?]>([:])

    func measure(_ model: ProfiledModel, input: Tensor, inputPath: String) -> ProfileReport {
        let times = model.timedPasses(input, warmup: warmup, iterations: iterations)
        let layerRuns = self.layerRuns ?? 3
        var runs: [[LayerTiming]] = []
        for _ in 0..<layerRuns { runs.append(model.profile(input: input)) }
        // The engine's MAC count: every run lists the same layers in the same order.
        let reference = runs.first ?? model.profile(input: input)
        var layers: [ProfileReport.Layer] = []
        for (i, layer) in reference.enumerated() {
            let samples = runs.compactMap { $0.count == reference.count ? $0[i].seconds * 1000 : nil }
            // The algorithm of the last run (an int8 conv's choice is settled after its first trial runs).
            let algorithm = runs.last.flatMap { $0.count == reference.count ? $0[i].algorithm : nil }
            layers.append(.init(name: layer.name, macs: layer.macs, bytes: layer.bytes,
                                ms: samples.isEmpty ? nil : Statistics.median(samples), algorithm: algorithm))
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

/// `profile INPUT`'s options: how much of the clip, and the encoder (as `run -o` has them).
struct PipelineProfileOptions: ParsableArguments {
    @Option(name: .long, help: "Profile this many frames (default: the whole clip).")
    var frames: Int?

    @Option(name: [.short, .customLong("output")], help: "Keep the annotated video here (default: a temporary file, removed).")
    var output: String?

    @Option(name: .long, help: "x264 constant rate factor (default 23, as run).")
    var crf: Double?

    @Option(name: .long, help: "x264 preset (default ultrafast, as run).")
    var preset: String?

    @Option(name: .long, help: "x264 threads (default 0: x264's own choice, as run).")
    var encoderThreads: Int?

    var given: Bool { frames != nil || output != nil || crf != nil || preset != nil || encoderThreads != nil }

    func refuseWithoutInput() throws {
        if given { throw CLIError("--frames, -o, --crf, --preset and --encoder-threads profile the pipeline: give INPUT", .usage) }
    }
}

/// `profile --sweep`'s options.
struct SweepOptions: ParsableArguments {
    @Flag(name: .long, help: "Time the network over --sizes × --threads-list × --precisions; write JSON and SVG charts to --out.")
    var sweep = false

    @Option(name: .long, help: "Network input sizes HEIGHTxWIDTH, comma-separated (default 256x512,512x1024,1024x2048).")
    var sizes: String?

    @Option(name: .long, help: "Engine thread counts, comma-separated (default: --threads' default, all cores).")
    var threadsList: String?

    @Option(name: .long, help: "fp32, int8 or fp32,int8 (default: every model's own).")
    var precisions: String?

    @Option(name: .long, help: "Model files, comma-separated, each run at its own precision (default: the bundled fp32 and int8 models).")
    var models: String?

    @Option(name: .long, help: "Directory for sweep.json, fps.svg and roofline.svg (created if missing).")
    var out: String?

    @Option(name: .long, help: "Also run the whole pipeline (encode included) on this many frames of --input for each combination.")
    var pipelineFrames: Int?

    func refuseWithoutSweep() throws {
        if sizes != nil || threadsList != nil || precisions != nil || models != nil || out != nil || pipelineFrames != nil {
            throw CLIError("--sizes, --threads-list, --precisions, --models, --out and --pipeline-frames are for --sweep", .usage)
        }
    }
}

extension InferenceSession {
    /// `warmup` untimed passes of the labels path, then the milliseconds of each of `iterations` timed ones.
    func timedPasses(_ input: Tensor, warmup: Int, iterations: Int) -> [Double] {
        timedPasses(.tensor(input), warmup: warmup, iterations: iterations)
    }

    /// The same from either form of the network input (the pipeline profile feeds the 8-bit planes, as `run` does).
    func timedPasses(_ input: NetworkInput, warmup: Int, iterations: Int) -> [Double] {
        var labels = [UInt8](repeating: 0, count: input.height * input.width)
        func pass() {
            labels.withUnsafeMutableBufferPointer {
                predictLabels(input: input, outputHeight: input.height, outputWidth: input.width, into: $0)
            }
        }
        for _ in 0..<warmup { pass() }
        return (0..<iterations).map { _ in
            let t0 = DispatchTime.now().uptimeNanoseconds
            pass()
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        }
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
        /// Bytes a convolution moves (`LayerTiming.bytes`); 0 for other layers.
        let bytes: Int
        /// Median over the layer runs; nil when layer timing was off.
        let ms: Double?
        /// An int8 conv's algorithm in the last profiled run (`LayerTiming.algorithm`); nil for other layers.
        var algorithm: String? = nil
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
                           + String(format: " %7.1f%%", total > 0 ? 100 * ms / total : 0)
                           + (layer.algorithm.map { "  \($0)" } ?? ""))
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
                "name": layer.name, "macs": layer.macs, "bytes": layer.bytes, "gmac": layer.gmac,
                "ms": layer.ms.map { $0 as Any } ?? NSNull(),
                "gmacs": layer.gmacs.map { $0 as Any } ?? NSNull(),
                "algorithm": layer.algorithm.map { $0 as Any } ?? NSNull(),
            ]
        }
        return object
    }

    func jsonString() -> String {
        let data = try! JSONSerialization.data(withJSONObject: jsonObject(), options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
