import CSegKernels
import Foundation
import SegMedia
import Testing

// `segstream profile` end to end: the built CLI on the narrow fixture models (Tests/SFNetTests/Fixtures), at
// tiny sizes. The MAC counts are checked against PyTorch's, counted by forward hooks on the oracle
// (tools/make_profile_fixture.py → reference_macs.json); no assertion depends on how fast anything ran.

private let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
private let fixtures = repoRoot.appendingPathComponent("Tests/SFNetTests/Fixtures")

/// The segstream binary built beside this test bundle (`.build/<config>/segstream`), or `$SEGSTREAM_BIN`.
private func segstreamBinary() throws -> URL {
    if let env = ProcessInfo.processInfo.environment["SEGSTREAM_BIN"], !env.isEmpty { return URL(fileURLWithPath: env) }
    var dirs: [URL] = []
    for bundle in Bundle.allBundles + [Bundle.main] {
        dirs.append(bundle.bundleURL.deletingLastPathComponent())
        if let exe = bundle.executableURL { dirs.append(exe.deletingLastPathComponent()) }
    }
    dirs.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
    dirs.append(repoRoot.appendingPathComponent(".build/debug"))
    for dir in dirs {
        let candidate = dir.appendingPathComponent("segstream")
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
           FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
    }
    throw CLITestError("segstream binary not found next to the test bundle (searched \(dirs.map(\.path))); "
                       + "run `swift build --product segstream` first or set SEGSTREAM_BIN")
}

private struct CLITestError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

private struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

private func segstream(_ args: [String], environment: [String: String] = [:]) throws -> RunResult {
    let p = Process()
    p.executableURL = try segstreamBinary()
    p.arguments = args
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    // Read stderr on another thread so that neither pipe can fill up and block the child.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return RunResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self))
}

/// A 160×96 RGB test image (gradients, so that the network sees varied values).
private func testImage() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segstream-profile-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent("frame.png").path
    if FileManager.default.fileExists(atPath: path) { return path }
    let (w, h) = (160, 96)
    var image = Image8(width: w, height: h, layout: .rgb24)
    for y in 0..<h {
        for x in 0..<w {
            image.pixels[3 * (y * w + x)] = UInt8(x * 255 / (w - 1))
            image.pixels[3 * (y * w + x) + 1] = UInt8(y * 255 / (h - 1))
            image.pixels[3 * (y * w + x) + 2] = UInt8((x + y) % 256)
        }
    }
    try ImageIO.writePNG(image, to: path + ".tmp.png")
    try? FileManager.default.removeItem(atPath: path)
    try FileManager.default.moveItem(atPath: path + ".tmp.png", toPath: path)
    return path
}

private struct ReferenceCase {
    var totalMACs: Int
    var layers: [String: Int]
}

/// PyTorch's conv MAC counts for `model` at height×width (reference_macs.json).
private func reference(model: String, height: Int, width: Int) throws -> ReferenceCase {
    let data = try Data(contentsOf: fixtures.appendingPathComponent("reference_macs.json"))
    let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let models = try #require(root["models"] as? [String: Any])
    let entry = try #require(models[model] as? [String: Any], "no reference for \(model)")
    let cases = try #require(entry["cases"] as? [[String: Any]])
    let c = try #require(cases.first { ($0["height"] as? Int) == height && ($0["width"] as? Int) == width },
                         "no reference for \(model) at \(height)x\(width)")
    let layers = try #require(c["layers"] as? [[String: Any]])
    var byName: [String: Int] = [:]
    for layer in layers { byName[try #require(layer["name"] as? String)] = try #require(layer["macs"] as? Int) }
    return ReferenceCase(totalMACs: try #require(c["macs"] as? Int), layers: byName)
}

private func close(_ a: Double, _ b: Double, rel: Double = 1e-9) -> Bool {
    abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)
}

private func profileJSON(_ args: [String], environment: [String: String] = [:]) throws -> [String: Any] {
    let r = try segstream(["profile"] + args + ["--json"], environment: environment)
    #expect(r.status == 0, "segstream profile \(args) exited \(r.status): \(r.stderr)")
    let lines = r.stdout.split(separator: "\n")
    #expect(lines.count == 1, "--json must print exactly one line, got \(lines.count)")
    let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    return try #require(object as? [String: Any], "stdout is not a JSON object: \(r.stdout.prefix(300))")
}

@Suite("segstream profile", .serialized)
struct ProfileCommandTests {
    @Test("--json: consistent numbers; MACs equal PyTorch's, layer by layer",
          arguments: [("r18_w16", 70, 100), ("df1_w16_ac0", 64, 128), ("df2_w16", 70, 100),
                     ("df1_w16_seem_bam", 64, 128), ("df2_w16_seem_fs_bam", 70, 100)])
    func jsonReport(model: String, height: Int, width: Int) throws {
        let image = try testImage()
        let iterations = 3
        let j = try profileJSON([
            "--model", fixtures.appendingPathComponent("\(model).safetensors").path, "--input", image,
            "--size", "\(height)x\(width)", "--threads", "1", "--iterations", "\(iterations)", "--warmup", "1",
            "--layer-runs", "2",
        ])
        let median = try #require(j["median_ms"] as? Double)
        let p90 = try #require(j["p90_ms"] as? Double)
        let fps = try #require(j["fps"] as? Double)
        let gmac = try #require(j["gmac"] as? Double)
        let macs = try #require(j["macs"] as? Int)
        let gmacs = try #require(j["gmacs"] as? Double)
        let peakFraction = try #require(j["peak_fraction"] as? Double)
        let times = try #require(j["times_ms"] as? [Double])
        #expect(j["threads"] as? Int == 1)
        #expect(j["precision"] as? String == "fp32")
        #expect(j["size"] as? String == "\(height)x\(width)")
        #expect(j["height"] as? Int == height && j["width"] as? Int == width)
        #expect(j["arch"] as? String == String(model.prefix(while: { $0 != "_" })))

        // Latency statistics.
        #expect(times.count == iterations)
        #expect(median > 0 && p90 >= median)
        #expect(times.min()! <= median && median <= times.max()!)
        #expect(p90 <= times.max()!)
        #expect(close(fps, 1000 / median), "fps \(fps) vs 1000/median \(1000 / median)")

        // Work and rates.
        let expected = try reference(model: model, height: height, width: width)
        #expect(macs == expected.totalMACs, "engine counts \(macs) MACs, PyTorch \(expected.totalMACs)")
        #expect(close(gmac, Double(expected.totalMACs) / 1e9))
        #expect(close(gmacs, gmac / (median / 1000)))
        // The peak is this CPU's fp32 FMA rate on one core, measured by profile: the same probe run here agrees
        // within a factor of 2 (both take the fastest chunk, on a machine that may be busy).
        let peak = try #require(j["peak_gmacs"] as? Double)
        #expect(close(peakFraction, gmacs / peak))
        let probe = seg_peak_gmacs(seg_isa_best(), 0, 0.02)
        #expect(peak > probe / 2 && peak < probe * 2, "profile's fp32 peak \(peak) GMAC/s, the probe here \(probe)")

        // Layers: GMACs sum to the total; every conv PyTorch runs appears once with its MAC count.
        let layers = try #require(j["layers"] as? [[String: Any]])
        #expect(!layers.isEmpty)
        var layerMACs = 0, layerGMAC = 0.0
        var convs: [String: Int] = [:]
        for layer in layers {
            let name = try #require(layer["name"] as? String)
            let ms = try #require(layer["ms"] as? Double, "layer \(name) has no ms")
            let lg = try #require(layer["gmac"] as? Double)
            let lm = try #require(layer["macs"] as? Int)
            let lr = try #require(layer["gmacs"] as? Double)
            #expect(ms >= 0)
            #expect(close(lg, Double(lm) / 1e9))
            if ms > 0 { #expect(close(lr, lg / (ms / 1000)), "layer \(name) GMAC/s") }
            layerMACs += lm
            layerGMAC += lg
            if lm > 0 {
                #expect(convs[name] == nil, "layer \(name) listed twice")
                convs[name] = lm
            }
        }
        #expect(layerMACs == macs)
        #expect(abs(layerGMAC - gmac) <= 1e-12)
        #expect(convs == expected.layers, "per-layer MACs differ from PyTorch's")
        if let inLayers = j["layers_ms"] as? Double {
            let sum = layers.reduce(0.0) { $0 + (($1["ms"] as? Double) ?? 0) }
            #expect(close(inLayers, sum, rel: 1e-9))
        } else {
            Issue.record("layers_ms missing")
        }
    }

    @Test("--peak overrides the per-core peak; --layer-runs 0 still lists the layers' MACs")
    func peakOverride() throws {
        let j = try profileJSON([
            "--model", fixtures.appendingPathComponent("df1_w16_ac0.safetensors").path, "--input", try testImage(),
            "--size", "64x128", "--threads", "2", "--iterations", "1", "--warmup", "0", "--layer-runs", "0",
            "--peak", "10",
        ])
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let gmacs = try #require(j["gmacs"] as? Double)
        let peak = try #require(j["peak_gmacs"] as? Double)
        #expect(peak == 10 * Double(min(2, cores)))
        #expect(close(try #require(j["peak_fraction"] as? Double), gmacs / peak))
        let layers = try #require(j["layers"] as? [[String: Any]])
        #expect(layers.reduce(0) { $0 + (($1["macs"] as? Int) ?? 0) } == j["macs"] as? Int)
        #expect(layers.allSatisfy { $0["ms"] is NSNull })
        #expect(j["layers_ms"] == nil)
    }

    @Test("int8 on the scalar kernels has no peak: null peak and fraction, not a crash")
    func scalarInt8HasNoPeak() throws {
        let j = try profileJSON([
            "--model", repoRoot.appendingPathComponent("models/sfnet-df1-synth-int8.safetensors").path,
            "--input", try testImage(), "--size", "32x64", "--threads", "1", "--iterations", "1", "--warmup", "0",
            "--layer-runs", "0",
        ], environment: ["SEGSTREAM_ISA": "scalar"])
        #expect(j["isa"] as? String == "scalar" && j["precision"] as? String == "int8")
        #expect(j["peak_gmacs"] is NSNull && j["peak_fraction"] is NSNull)
    }

    @Test("the text report names every layer")
    func textReport() throws {
        let r = try segstream([
            "profile", "--model", fixtures.appendingPathComponent("r18_w16.safetensors").path, "--input", try testImage(),
            "--size", "64x128", "--threads", "1", "--iterations", "1", "--warmup", "0", "--layer-runs", "1",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("median") && r.stdout.contains("p90") && r.stdout.contains("FPS"))
        #expect(r.stdout.contains("% of peak"))
        for name in try reference(model: "r18_w16", height: 64, width: 128).layers.keys {
            #expect(r.stdout.contains("\n\(name) "), "layer \(name) missing from the table")
        }
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var extra: [String]
        var code: Int32
        var testDescription: String { "\(extra.joined(separator: " ")) → \(code)" }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(extra: ["--model", "/nonexistent/model.safetensors"], code: 66),
        ErrorCase(extra: ["--input", "/nonexistent/frame.png"], code: 66),
        ErrorCase(extra: ["--size", "64"], code: 64),
        ErrorCase(extra: ["--size", "0x64"], code: 64),
        ErrorCase(extra: ["--size", "64x-8"], code: 64),
        ErrorCase(extra: ["--size", "axb"], code: 64),
        ErrorCase(extra: ["--iterations", "0"], code: 64),
        ErrorCase(extra: ["--precision", "fp16"], code: 64),
        // An fp32 file asked to run as int8: quantize it first (a usage error).
        ErrorCase(extra: ["--precision", "int8"], code: 64),
        ErrorCase(extra: ["--input", "MODEL"], code: 65),   // not an image or a video
    ]

    @Test("bad input: one line on stderr and the sysexits code", arguments: errorCases)
    func errors(_ c: ErrorCase) throws {
        let (extra, code) = (c.extra, c.code)
        let model = fixtures.appendingPathComponent("df1_w16_ac0.safetensors").path
        var args = ["profile", "--model", model, "--input", try testImage(), "--size", "32x32", "--iterations", "1",
                    "--warmup", "0", "--threads", "1"]
        // Later options override earlier ones (ArgumentParser keeps the last value).
        args += extra.map { $0 == "MODEL" ? model : $0 }
        let r = try segstream(args)
        #expect(r.status == code, "\(extra): exit \(r.status), stderr: \(r.stderr)")
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("segstream: ") == true, "stderr: \(r.stderr)")
    }
}
