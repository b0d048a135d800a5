// SegBench: times the SFNet forward pass (release builds only mean anything): fp32 with random weights,
// or any model file (fp32 or int8, e.g. from `segstream quantize`) with --model.
//   swift run -c release SegBench --arch r18 --height 512 --width 1024 --threads 2 --iterations 5 [--profile]
//   swift run -c release SegBench --model df1-int8.safetensors --height 512 --width 1024 [--profile]
// A/B of the fp32 conv algorithms in one process, interleaved per iteration (medians; steadier than
// separate runs on a shared machine): --algorithms auto,winograd2x2[,winograd4x4,im2col] [--profile]
// ("auto" is the engine's rule; a named one is forced wherever it applies, see Conv2d.forcedAlgorithm).
// int8 models take igemm,winograd4x4 (InferenceSession.int8Algorithm); their "auto" times each conv's two
// algorithms over its first 4 runs, so give it --warmup 4 or more.
// A setting may carry its own Winograd scratch budget in MiB: auto@8 (else --winograd-bytes or the default).
// --save-output FILE writes the last pass's result raw (labels: H·W bytes; logits: C·H·W little-endian floats),
// so two builds can be compared byte for byte (`cmp`) on the same input; --input FILE gives that input (a normalised
// frame as raw fp32 CHW) instead of the synthetic pattern.
// --compare-inputs: the network input as the fp32 tensor against the 8-bit planes `run` feeds (the same values,
// NetworkInput.pixels), passes interleaved in rotating order, medians of each; the labels must be identical.
import Foundation
import SegEngine
import SFNet

let usage = """
    usage: SegBench [--arch r18|df1|df2 | --model FILE] [--height H] [--width W] [--threads N]
                    [--iterations N] [--warmup N] [--mode labels|logits] [--profile]
                    [--algorithms auto,winograd2x2[@MiB],...|auto,igemm,winograd4x4] [--panel-bytes B]
                    [--winograd-bytes B] [--input RAW_FP32_CHW] [--save-output FILE] [--compare-inputs]
    """
/// A usage mistake: say what and exit 64 (EX_USAGE), rather than benchmark something else than was asked.
func usageError(_ message: String) -> Never {
    FileHandle.standardError.write(Data("SegBench: \(message)\n\(usage)\n".utf8))
    exit(64)
}
let valueOptions: Set = ["arch", "model", "height", "width", "threads", "iterations", "warmup", "mode", "algorithms",
                         "panel-bytes", "winograd-bytes", "save-output", "input"]
var options: [String: String] = [:]
var flags: Set<String> = []
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    guard a.hasPrefix("--") else { usageError("unexpected argument \(a)") }
    let name = String(a.dropFirst(2))
    if name == "help" { print(usage); exit(0) }
    if name == "profile" || name == "compare-inputs" { flags.insert(name); continue }
    guard valueOptions.contains(name) else { usageError("unknown option \(a)") }
    guard let v = args.popFirst() else { usageError("\(a) needs a value") }
    options[name] = v
}
@MainActor func intOption(_ name: String, _ fallback: Int, minimum: Int = 1) -> Int {
    guard let text = options[name] else { return fallback }
    guard let v = Int(text), v >= minimum else { usageError("--\(name) \(text): not a valid count") }
    return v
}
guard var arch = SFNetArch(rawValue: options["arch", default: "df1"]) else { usageError("unknown --arch \(options["arch"]!)") }
let height = intOption("height", 512), width = intOption("width", 1024)
let threads = intOption("threads", ProcessInfo.processInfo.activeProcessorCount)
let iterations = intOption("iterations", 5), warmup = intOption("warmup", 1, minimum: 0)
let mode = options["mode", default: "labels"]   // labels (fused upsample+argmax) or logits (full-size logits)
guard mode == "labels" || mode == "logits" else { usageError("unknown --mode \(mode)") }

Conv2d.panelBudgetBytes = intOption("panel-bytes", Conv2d.panelBudgetBytes)
Conv2d.winogradBudgetBytes = intOption("winograd-bytes", Conv2d.winogradBudgetBytes)
WorkerPool.configureShared(threads: threads)
let loaded: any SegmentationModel
if let path = options["model"] {
    do { loaded = try loadSegmentationModel(contentsOf: URL(fileURLWithPath: path)) } catch {
        FileHandle.standardError.write(Data("SegBench: \(path): \(error)\n".utf8))
        exit(FileManager.default.fileExists(atPath: path) ? 65 : 66)   // EX_DATAERR : EX_NOINPUT
    }
    arch = loaded.config.arch
} else {
    loaded = SFNetModel.random(config: SFNetConfig(arch: arch))
}
let model = loaded.makeSession()
let input = Tensor(channels: 3, height: height, width: width)
if let path = options["input"] {
    // A real (normalised) frame instead of the synthetic pattern: raw little-endian fp32 CHW, 3·H·W floats.
    guard let data = FileManager.default.contents(atPath: path) else { usageError("cannot read --input \(path)") }
    guard data.count == 4 * input.count else {
        usageError("--input \(path) holds \(data.count) bytes, expected \(4 * input.count) (3×\(height)×\(width) floats)")
    }
    data.withUnsafeBytes { raw in for i in 0..<input.count { input.data[i] = raw.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) } }
} else {
    for i in 0..<input.count { input.data[i] = Float((i * 7919) % 1000) / 500 - 1 }
}
var labels = [UInt8](repeating: 0, count: height * width)

@MainActor func runOnce() {
    if mode == "logits" { _ = model.forward(input: input) }
    else { labels.withUnsafeMutableBufferPointer { model.predictLabels(input: input, into: $0) } }
}
if let list = options["algorithms"] {
    compareAlgorithms(list.split(separator: ",").map(String.init))
    exit(0)
}
if flags.contains("compare-inputs") {
    compareInputs()
    exit(0)
}
for _ in 0..<warmup { runOnce() }
/// Process CPU time (all threads), ms: steadier than wall time on a shared machine.
func cpuMilliseconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) * 1e3 + Double(ts.tv_nsec) / 1e6
}
var times: [Double] = [], cpuTimes: [Double] = []
for _ in 0..<iterations {
    let t0 = DispatchTime.now().uptimeNanoseconds, c0 = cpuMilliseconds()
    runOnce()
    times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
    cpuTimes.append(cpuMilliseconds() - c0)
}
times.sort(); cpuTimes.sort()
let median = times[times.count / 2]
@MainActor func peakRSSMiB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
    return Double(line.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0) / 1024
}
print(String(format: "swift %@ %@ %dx%d threads=%d mode=%@: median %.1f ms (min %.1f, max %.1f, n=%d), cpu %.1f ms/frame, peak RSS %.0f MiB",
             arch.rawValue, model.precision.rawValue, height, width, threads, mode, median, times.first!, times.last!, times.count,
             cpuTimes[cpuTimes.count / 2], peakRSSMiB()))

if let path = options["save-output"] {
    // One more pass, outside the timed ones, so that saving costs them nothing.
    let bytes: Data
    if mode == "logits" { bytes = model.forward(input: input).toArray().withUnsafeBytes { Data($0) } }
    else { runOnce(); bytes = Data(labels) }
    do { try bytes.write(to: URL(fileURLWithPath: path)) } catch {
        FileHandle.standardError.write(Data("SegBench: cannot write \(path): \(error.localizedDescription)\n".utf8))
        exit(74)   // EX_IOERR
    }
}
print(String(format: "activation arena %.0f MiB", Double(model.activationBytes) / 1048576))
if flags.contains("profile") {
    let timings = model.profile(input: input)
    var byName: [(String, Double, Int)] = timings.map { ($0.name, $0.seconds * 1000, $0.macs) }
    byName.sort { $0.1 > $1.1 }
    let total = timings.reduce(0) { $0 + $1.seconds } * 1000
    print(String(format: "profile total %.1f ms", total))
    for (name, ms, macs) in byName.prefix(25) {
        let gflops = macs > 0 ? Double(2 * macs) / (ms * 1e6) : 0
        print(String(format: "  %-40@ %8.2f ms  %7.3f GMAC  %6.1f GFLOP/s", name, ms, Double(macs) / 1e9, gflops))
    }
}

/// Times the forward pass under each algorithm setting, round-robin within every iteration, and prints the
/// median per setting (whole network, then per layer with --profile).
@MainActor func compareAlgorithms(_ names: [String]) {
    struct Setting { var algorithm: Conv2d.Algorithm?, int8: QConv2d.Algorithm?, budget: Int }
    let defaultBudget = Conv2d.winogradBudgetBytes
    let settings: [Setting] = names.map { spec in
        let parts = spec.split(separator: "@", maxSplits: 1).map(String.init)
        let budget = parts.count > 1 ? Int(parts[1]).map { $0 << 20 } : defaultBudget
        guard let budget else { usageError("bad budget in \(spec) (MiB expected)") }
        if parts[0] == "auto" { return Setting(algorithm: nil, int8: nil, budget: budget) }
        if let a = QConv2d.Algorithm(rawValue: parts[0]) { return Setting(algorithm: nil, int8: a, budget: budget) }
        guard let a = Conv2d.Algorithm(rawValue: parts[0]) else {
            let all = Conv2d.Algorithm.allCases.map(\.rawValue) + QConv2d.Algorithm.allCases.map(\.rawValue)
            usageError("unknown algorithm \(parts[0]) (auto|\(all.joined(separator: "|")))")
        }
        return Setting(algorithm: a, int8: nil, budget: budget)
    }
    func apply(_ s: Setting) {
        Conv2d.forcedAlgorithm = s.algorithm; Conv2d.winogradBudgetBytes = s.budget; model.int8Algorithm = s.int8
    }
    var totals = Array(repeating: [Double](), count: settings.count)
    var layers = Array(repeating: [String: [Double]](), count: settings.count)
    var order: [(String, Int)] = []
    for s in settings { apply(s); for _ in 0..<warmup { runOnce() } }
    for _ in 0..<iterations {
        for (k, s) in settings.enumerated() {
            apply(s)
            let t0 = DispatchTime.now().uptimeNanoseconds
            runOnce()
            totals[k].append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            if flags.contains("profile") {
                let timings = model.profile(input: input)
                if order.isEmpty { order = timings.map { ($0.name, $0.macs) } }
                for t in timings { layers[k][t.name, default: []].append(t.seconds * 1000) }
            }
        }
    }
    // Numerics: each setting's logits against the first setting's (same input, same weights).
    var logits: [[Float]] = [], planes = 0
    for s in settings {
        apply(s)
        let t = model.forward(input: input)
        logits.append(t.toArray())
        planes = t.height * t.width
    }
    func labels(_ l: [Float]) -> [Int] {
        (0..<planes).map { p in stride(from: p, to: l.count, by: planes).max { l[$0] < l[$1] }! / planes }
    }
    let reference = labels(logits[0])
    apply(Setting(algorithm: nil, int8: nil, budget: defaultBudget))
    let scale = logits[0].reduce(0) { max($0, abs($1)) }
    for (k, name) in names.enumerated().dropFirst() {
        let diff = zip(logits[k], logits[0]).reduce(0) { max($0, abs($1.0 - $1.1)) }
        let agree = zip(labels(logits[k]), reference).filter { $0 == $1 }.count
        print(String(format: "  %@ vs %@: max |Δlogit| %.3g = %.3g × max |logit| (%.3g); argmax agrees on %.4f %%", name,
                     names[0], diff, diff / scale, scale, 100 * Double(agree) / Double(planes)))
    }
    func median(_ a: [Double]) -> Double { let s = a.sorted(); return s.isEmpty ? .nan : s[s.count / 2] }
    print(String(format: "%@ %@ %dx%d threads=%d mode=%@, %d interleaved iterations, median ms:", arch.rawValue,
                 model.precision.rawValue, height, width, threads, mode, iterations))
    for (k, name) in names.enumerated() {
        let sorted = totals[k].sorted()
        print(String(format: "  %-12@ %8.1f ms (min %.1f, max %.1f)", name, median(sorted), sorted.first!, sorted.last!))
    }
    guard !order.isEmpty else { return }
    print("per layer, median ms (GFLOP/s) per setting: " + names.joined(separator: " | "))
    for (name, macs) in order where macs > 0 {
        var line = String(format: "  %-34@ %7.3f GMAC", name, Double(macs) / 1e9)
        for k in settings.indices {
            let ms = median(layers[k][name] ?? [])
            line += String(format: " %8.2f (%5.1f)", ms, Double(2 * macs) / (ms * 1e6))
        }
        print(line)
    }
}

/// The labels pass from the fp32 tensor and from the 8-bit planes it was normalised from (a synthetic byte
/// pattern, the model's mean and std), interleaved in rotating order; medians of each. Exits 70 if the labels differ.
@MainActor func compareInputs() {
    let rule = InputRule(config: model.config)
    let planes = PixelPlanes(width: width, height: height)
    for c in 0..<3 {
        let p = planes.plane(c)
        for i in 0..<(planes.rowStride * height) { p[i] = UInt8((i * 7919 + c * 31) % 251) }
    }
    let inputs: [NetworkInput] = [.tensor(rule.networkInput(planes).normalized()), rule.networkInput(planes)]
    var outputs = [[UInt8]](repeating: [UInt8](repeating: 0, count: height * width), count: 2)
    func pass(_ k: Int) {
        outputs[k].withUnsafeMutableBufferPointer {
            model.predictLabels(input: inputs[k], outputHeight: height, outputWidth: width, into: $0)
        }
    }
    for _ in 0..<warmup { pass(0); pass(1) }
    guard outputs[0] == outputs[1] else {
        FileHandle.standardError.write(Data("SegBench: labels from the planes differ from the tensor's\n".utf8))
        exit(70)
    }
    var times: [[Double]] = [[], []]
    for i in 0..<iterations {
        for k in [i % 2, 1 - i % 2] {
            let t0 = DispatchTime.now().uptimeNanoseconds
            pass(k)
            times[k].append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
    }
    let m = times.map { $0.sorted()[$0.count / 2] }
    print(String(format: "%@ %@ %dx%d threads=%d: fp32 tensor median %.2f ms, 8-bit planes median %.2f ms (tensor/planes %.3f), n=%d each",
                 arch.rawValue, model.precision.rawValue, height, width, threads, m[0], m[1], m[0] / m[1], iterations))
}
