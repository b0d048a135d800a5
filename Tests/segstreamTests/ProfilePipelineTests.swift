import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

// `segstream profile INPUT` (the whole pipeline) and `profile --sweep` (charts), end to end on the tiny
// fixture model and short ffmpeg clips. No assertion depends on how fast anything ran: counts, structure,
// consistency between the numbers, and the charts' points against the measured rows and an independent
// per-layer listing (`profile --json`).

@Suite("segstream profile: pipeline and sweep", .serialized)
struct ProfilePipelineTests {
    /// A 1 s, 10 fps, 160×96 H.264 clip (10 frames).
    static func clip(in dir: URL) throws -> String {
        let path = dir.appendingPathComponent("clip.mp4").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x96:rate=10", "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", path])
        return path
    }

    static func jsonObject(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text.prefix(300))")
    }

    @Test("profile INPUT: every stage timed on every frame, waits where a stage has queues, consistent rates; -o keeps the encoded video")
    func pipelineJSON() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try Self.clip(in: dir)
        let kept = dir.appendingPathComponent("annotated.mp4").path
        let r = try CLI.segstream(["profile", clip, "--model", CLI.tinyModel, "--threads", "1", "--frames", "6",
                                   "--iterations", "2", "--warmup", "0", "-o", kept, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.split(separator: "\n").count == 1, "--json prints one line")
        let j = try Self.jsonObject(r.stdout)
        #expect(j["mode"] as? String == "pipeline")
        #expect(j["frames"] as? Int == 6)
        let seconds = try #require(j["seconds"] as? Double)
        let fps = try #require(j["fps"] as? Double)
        #expect(seconds > 0 && abs(fps - 6 / seconds) <= 1e-9 * fps)
        let inferenceMs = try #require(j["inference_only_ms"] as? Double)
        let inferenceFPS = try #require(j["inference_only_fps"] as? Double)
        #expect((j["inference_only_times_ms"] as? [Double])?.count == 2)
        #expect(inferenceMs > 0 && abs(inferenceFPS - 1000 / inferenceMs) <= 1e-9 * inferenceFPS)
        #expect(abs(try #require(j["ratio"] as? Double) - fps / inferenceFPS) <= 1e-9)
        #expect(try #require(j["cpu_seconds"] as? Double) > 0)

        let stages = try #require(j["stages"] as? [String: [String: Any]])
        let names = ["decode", "preprocess", "inference", "render", "encode"]
        #expect(Set(stages.keys) == Set(names))
        var busiest = ("", -1.0)
        for name in names {
            let s = try #require(stages[name])
            #expect(s["frames"] as? Int == 6, "\(name) timed on every frame")
            let median = try #require(s["median_ms"] as? Double), p95 = try #require(s["p95_ms"] as? Double)
            let busy = try #require(s["busy_fraction"] as? Double)
            #expect(median > 0 && p95 >= median, "\(name): median \(median), p95 \(p95)")
            #expect(busy > 0 && busy <= 1, "\(name): busy \(busy)")
            if busy > busiest.1 { busiest = (name, busy) }
            // decode has no input queue, encode no output queue; every other wait is measured.
            if name == "decode" { #expect(s["input_wait_ms"] is NSNull) } else { #expect(try #require(s["input_wait_ms"] as? Double) >= 0) }
            if name == "encode" { #expect(s["output_wait_ms"] is NSNull) } else { #expect(try #require(s["output_wait_ms"] as? Double) >= 0) }
        }
        #expect(j["limiting_stage"] as? String == busiest.0)
        // The encode stage really encoded: the kept video has the 6 frames.
        #expect(CLI.videoFrameTimes(try CLI.probe(kept)).count == 6)
    }

    @Test("profile INPUT: the text table lists every stage and names the limiting one")
    func pipelineText() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try CLI.segstream(["profile", try Self.clip(in: dir), "--model", CLI.tinyModel, "--threads", "1", "--frames", "3",
                                   "--iterations", "1", "--warmup", "0", "--size", "64x96"])
        #expect(r.status == 0, "\(r.stderr)")
        for stage in ["decode", "preprocess", "inference", "render", "encode"] {
            #expect(r.stdout.contains("\n\(stage) "), "stage \(stage) missing from the table")
        }
        #expect(r.stdout.contains("at 64x96 (HxW)") && r.stdout.contains("3 frames") && r.stdout.contains("limiting stage: "))
        #expect(r.stdout.contains("inference only: ") && r.stdout.contains("ratio: "))
    }

    @Test("--sweep: one JSON row per combination, one chart point per row and per conv per precision")
    func sweep() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try Self.clip(in: dir)
        let int8 = dir.appendingPathComponent("tiny-int8.safetensors").path
        let q = try CLI.segstream(["quantize", "--model", CLI.tinyModel, "--calibrate", clip, "--frames", "2", "-o", int8])
        #expect(q.status == 0, "\(q.stderr)")
        let out = dir.appendingPathComponent("sweep").path
        let r = try CLI.segstream(["profile", "--sweep", "--models", "\(CLI.tinyModel),\(int8)", "--precisions", "fp32,int8",
                                   "--sizes", "64x128,96x160", "--threads-list", "1", "--iterations", "2", "--warmup", "0",
                                   "--layer-runs", "1", "--input", clip, "--out", out])
        #expect(r.status == 0, "\(r.stderr)")

        let sweep = try Self.jsonObject(try String(contentsOfFile: out + "/sweep.json", encoding: .utf8))
        let rows = try #require(sweep["rows"] as? [[String: Any]])
        #expect(rows.count == 4)
        let combos = Set(rows.map { "\($0["precision"] as? String ?? "?") \($0["size"] as? String ?? "?") \($0["threads"] as? Int ?? 0)" })
        #expect(combos == ["fp32 64x128 1", "fp32 96x160 1", "int8 64x128 1", "int8 96x160 1"])
        for row in rows {
            let median = try #require(row["median_ms"] as? Double), fps = try #require(row["fps"] as? Double)
            #expect(median > 0 && abs(fps - 1000 / median) <= 1e-9 * fps)
            #expect(row["pixels"] as? Int == (row["height"] as? Int ?? 0) * (row["width"] as? Int ?? 0))
        }
        #expect(try Self.points(in: out + "/fps.svg") == 4)

        // The roofline: every conv of each precision at the largest size, as `profile --json` lists them.
        let roofline = try #require(sweep["roofline"] as? [String: Any])
        #expect(roofline["size"] as? String == "96x160")
        let layers = try #require(roofline["layers"] as? [[String: Any]])
        var convBytes: [String: [String: Int]] = [:]
        for (precision, model) in [("fp32", CLI.tinyModel), ("int8", int8)] {
            let p = try CLI.segstream(["profile", "--model", model, "--input", clip, "--size", "96x160", "--threads", "1",
                                       "--iterations", "1", "--warmup", "0", "--layer-runs", "0", "--json"])
            #expect(p.status == 0, "\(p.stderr)")
            let listed = try #require(try Self.jsonObject(p.stdout)["layers"] as? [[String: Any]])
            let convs = listed.filter { ($0["macs"] as? Int ?? 0) > 0 }.compactMap { $0["name"] as? String }
            let mine = layers.filter { $0["precision"] as? String == precision }
            #expect(mine.compactMap { $0["name"] as? String } == convs, "\(precision): one roofline point per conv")
            for layer in mine {
                let bytes = try #require(layer["bytes"] as? Int), macs = try #require(layer["macs"] as? Int)
                #expect(bytes > 0 && abs((layer["mac_per_byte"] as? Double ?? 0) - Double(macs) / Double(bytes)) <= 1e-9 * Double(macs))
                convBytes[layer["name"] as? String ?? "", default: [:]][precision] = bytes
            }
        }
        #expect(try Self.points(in: out + "/roofline.svg") == layers.count)
        // int8 moves a byte per weight and activation where fp32 moves four.
        let shared = convBytes.values.filter { $0.count == 2 }
        #expect(!shared.isEmpty)
        for pair in shared { #expect(pair["int8"]! < pair["fp32"]!) }
    }

    @Test("--sweep --pipeline-frames: each row also has the whole pipeline's fps, drawn as a second point")
    func sweepWithPipeline() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("sweep").path
        let r = try CLI.segstream(["profile", "--sweep", "--model", CLI.tinyModel, "--sizes", "64x96", "--threads-list", "1",
                                   "--iterations", "1", "--warmup", "0", "--layer-runs", "1", "--input", try Self.clip(in: dir),
                                   "--pipeline-frames", "3", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let sweep = try Self.jsonObject(try String(contentsOfFile: out + "/sweep.json", encoding: .utf8))
        let rows = try #require(sweep["rows"] as? [[String: Any]])
        #expect(rows.count == 1)
        let row = try #require(rows.first)
        #expect(row["pipeline_frames"] as? Int == 3)
        let fps = try #require(row["fps"] as? Double), pipelineFPS = try #require(row["pipeline_fps"] as? Double)
        let ratio = try #require(row["pipeline_ratio"] as? Double)
        #expect(pipelineFPS > 0 && abs(ratio - pipelineFPS / fps) <= 1e-9)
        #expect(["decode", "preprocess", "inference", "render", "encode"].contains(row["pipeline_limiting_stage"] as? String ?? ""))
        #expect(try Self.points(in: out + "/fps.svg") == 2)
    }

    @Test("a conv's bytes: the fp32 stem (3×3, stride 2, from RGB) moves its weights, input and output at 4 bytes each")
    func stemBytes() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try CLI.segstream(["profile", "--model", CLI.tinyModel, "--input", try Self.clip(in: dir), "--size", "64x128",
                                   "--threads", "1", "--iterations", "1", "--warmup", "0", "--layer-runs", "0", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let layers = try #require(try Self.jsonObject(r.stdout)["layers"] as? [[String: Any]])
        let stem = try #require(layers.first { $0["name"] as? String == "backbone.stage1.0" })
        let macs = try #require(stem["macs"] as? Int)
        let (outputHeight, outputWidth) = (32, 64)
        let outChannels = macs / (3 * 9 * outputHeight * outputWidth)
        #expect(outChannels * 3 * 9 * outputHeight * outputWidth == macs)
        let expected = 4 * (3 * 64 * 128 + outChannels * 3 * 9 + outChannels * outputHeight * outputWidth)
        #expect(stem["bytes"] as? Int == expected)
        #expect(layers.filter { ($0["macs"] as? Int ?? 0) == 0 }.allSatisfy { $0["bytes"] as? Int == 0 }, "only convs move counted bytes")
    }

    /// Data points (`<circle class="point">`) in an SVG file, which must parse as XML.
    static func points(in path: String) throws -> Int {
        final class Counter: NSObject, XMLParserDelegate {
            var points = 0
            var root: String?
            func parser(_ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
                        attributes: [String: String] = [:]) {
                if root == nil { root = element }
                if element == "circle" && attributes["class"] == "point" { points += 1 }
            }
        }
        let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: path)))
        let counter = Counter()
        parser.delegate = counter
        #expect(parser.parse(), "\(path) is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")")
        #expect(counter.root == "svg")
        return counter.points
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        var code: Int32
        var testDescription: String { "\(arguments.joined(separator: " ")) → \(code)" }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(arguments: ["/nonexistent/clip.mp4"], code: 66),
        ErrorCase(arguments: ["CLIP", "--size", "64"], code: 64),
        ErrorCase(arguments: ["CLIP", "--size", "0x64"], code: 64),
        ErrorCase(arguments: ["CLIP", "--frames", "0"], code: 64),
        ErrorCase(arguments: ["CLIP", "--input", "CLIP"], code: 64),
        ErrorCase(arguments: ["CLIP", "--layer-runs", "2"], code: 64),
        ErrorCase(arguments: ["CLIP", "-o", "out.avi"], code: 64),
        ErrorCase(arguments: ["CLIP", "--model", "/nonexistent/model.safetensors"], code: 66),
        ErrorCase(arguments: ["--frames", "3"], code: 64),
        ErrorCase(arguments: ["--sweep", "--out", "OUT", "--sizes", "64x128,big"], code: 64),
        ErrorCase(arguments: ["--sweep", "--sizes", "64x128"], code: 64),
        ErrorCase(arguments: ["--sweep", "--out", "OUT", "--threads-list", "0"], code: 64),
        ErrorCase(arguments: ["--sweep", "--out", "OUT", "--precisions", "fp16"], code: 64),
        ErrorCase(arguments: ["--sweep", "--out", "OUT", "--precisions", "int8"], code: 64),   // the model is fp32
        ErrorCase(arguments: ["--sweep", "--out", "OUT", "--size", "64x128"], code: 64),
        ErrorCase(arguments: ["--sweep", "--out", "OUT", "--input", "/nonexistent/frame.png"], code: 66),
        ErrorCase(arguments: ["--sizes", "64x128"], code: 64),
        ErrorCase(arguments: ["--pipeline-frames", "3"], code: 64),
        ErrorCase(arguments: ["--sweep", "--out", "OUT", "--pipeline-frames", "0"], code: 64),
    ]

    @Test("bad input: one line on stderr and the sysexits code", arguments: errorCases)
    func errors(_ c: ErrorCase) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try Self.clip(in: dir)
        let substituted = c.arguments.map {
            $0 == "CLIP" ? clip : $0 == "OUT" ? dir.appendingPathComponent("out").path : $0 == "out.avi" ? dir.appendingPathComponent($0).path : $0
        }
        var args = ["profile"] + substituted
        if !c.arguments.contains("--model") { args += ["--model", CLI.tinyModel] }
        args += ["--iterations", "1", "--warmup", "0"]
        if !c.arguments.contains("--sweep") { args += ["--threads", "1"] }
        let r = try CLI.segstream(args)
        #expect(r.status == c.code, "exit \(r.status), stderr: \(r.stderr)")
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("segstream: ") == true, "stderr: \(r.stderr)")
    }
}
