import Foundation
import Testing

/// `segstream run` end to end: clips made by ffmpeg, outputs checked by ffprobe.
@Suite("segstream run", .serialized)
struct RunCommandTests {
    let model = CLI.tinyModel

    @Test("every frame, source timestamps, H.264 and copied audio; masks and JSON per frame")
    func fileWithAudio() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.mp4").path, output = dir.appendingPathComponent("out.mp4").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x96:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
                        "-t", "1.2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", input])
        let masks = dir.appendingPathComponent("masks").path, json = dir.appendingPathComponent("frames.jsonl").path
        let result = try CLI.segstream(["run", input, "-o", output, "--model", model, "--masks", masks, "--json", json,
                                        "--telemetry", dir.appendingPathComponent("t.jsonl").path])
        #expect(result.status == 0, "\(result.stderr)")
        let source = try CLI.probe(input), out = try CLI.probe(output)
        let inTimes = CLI.videoFrameTimes(source), outTimes = CLI.videoFrameTimes(out)
        #expect(inTimes.count == 30)
        #expect(outTimes.count == inTimes.count)
        for (a, b) in zip(inTimes, outTimes) { #expect(abs(a - b) < 0.002) }
        #expect(CLI.streams(out, type: "video").first?["codec_name"] as? String == "h264")
        #expect(CLI.streams(out, type: "video").first?["width"] as? Int == 160)
        #expect(CLI.streams(out, type: "audio").first?["codec_name"] as? String == "aac")
        let masksWritten = try FileManager.default.contentsOfDirectory(atPath: masks).filter { $0.hasSuffix(".png") }
        #expect(masksWritten.count == inTimes.count)
        let lines = try String(contentsOfFile: json, encoding: .utf8).split(separator: "\n")
        let records = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let frames = records.filter { $0["type"] as? String == "frame" }
        #expect(frames.count == inTimes.count)
        #expect(records.last?["type"] as? String == "summary")
        #expect((records.last?["frames"] as? Int) == inTimes.count)
        for (record, t) in zip(frames, inTimes) {
            #expect(abs((record["pts"] as? Double ?? -1) - t) < 0.001)
            let fractions = (record["classes"] as? [String: Double] ?? [:]).values
            #expect(abs(fractions.reduce(0, +) - 1) < 0.001, "class fractions of a frame sum to 1")
        }
    }

    @Test("variable frame rate survives: output timestamps equal the input's")
    func variableFrameRate() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("vfr.mkv").path, output = dir.appendingPathComponent("out.mkv").path
        // Frame n shown at (10n² + 40n) ms: every gap differs.
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=128x64:rate=10", "-frames:v", "15", "-vf",
                        "settb=1/1000,setpts=N*N*10+N*40", "-fps_mode", "passthrough", "-enc_time_base", "1/1000",
                        "-c:v", "libx264", input])
        let result = try CLI.segstream(["run", input, "-o", output, "--model", model])
        #expect(result.status == 0, "\(result.stderr)")
        let inTimes = CLI.videoFrameTimes(try CLI.probe(input)), outTimes = CLI.videoFrameTimes(try CLI.probe(output))
        #expect(inTimes.count == 15)
        #expect(Set(zip(inTimes, inTimes.dropFirst()).map { (($1 - $0) * 1000).rounded() }).count == 14, "the input really is VFR")
        #expect(outTimes.count == inTimes.count)
        for (a, b) in zip(inTimes, outTimes) { #expect(abs(a - b) < 0.0005, "\(a) vs \(b)") }
    }

    @Test("odd sizes and unusual pixel formats", arguments: [
        ("721x405", "yuv444p", "mkv", "libx264"), ("160x96", "yuv420p10le", "mkv", "libx264"),
        ("161x97", "rgb24", "mkv", "ffv1"), ("160x96", "gray", "mkv", "ffv1"),
    ])
    func formats(size: String, pixelFormat: String, container: String, codec: String) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.\(container)").path, output = dir.appendingPathComponent("out.mp4").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=\(size):rate=10", "-t", "0.5", "-pix_fmt", pixelFormat,
                        "-c:v", codec, input])
        let result = try CLI.segstream(["run", input, "-o", output, "--model", model])
        #expect(result.status == 0, "\(result.stderr)")
        let out = try CLI.probe(output)
        let parts = size.split(separator: "x").compactMap { Int($0) }
        #expect(CLI.videoFrameTimes(out).count == 5)
        #expect(CLI.streams(out, type: "video").first?["width"] as? Int == parts[0] & ~1)
        #expect(CLI.streams(out, type: "video").first?["height"] as? Int == parts[1] & ~1)
    }

    @Test("'-' reads the video from standard input")
    func standardInput() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.ts").path, output = dir.appendingPathComponent("out.mkv").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x96:rate=10", "-t", "1", "-c:v", "libx264", input])
        let result = try CLI.run(CLI.binary, ["run", "-", "-o", output, "--model", model], standardInput: input)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(CLI.videoFrameTimes(try CLI.probe(output)).count == 10)
    }

    @Test("a resolution change mid-stream keeps going")
    func resolutionChange() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.ts").path, b = dir.appendingPathComponent("b.ts").path
        let input = dir.appendingPathComponent("in.ts").path, output = dir.appendingPathComponent("out.mp4").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x96:rate=10", "-t", "0.5", "-c:v", "libx264", a])
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10", "-t", "0.5", "-c:v", "libx264",
                        "-output_ts_offset", "0.5", b])
        try Data(try Data(contentsOf: URL(fileURLWithPath: a)) + Data(contentsOf: URL(fileURLWithPath: b)))
            .write(to: URL(fileURLWithPath: input))
        let result = try CLI.segstream(["run", input, "-o", output, "--model", model])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(CLI.videoFrameTimes(try CLI.probe(output)).count == 10)
    }

    @Test("a truncated file: what decodes is written, the output plays")
    func truncated() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = dir.appendingPathComponent("full.ts").path, input = dir.appendingPathComponent("cut.ts").path
        let output = dir.appendingPathComponent("out.mp4").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x96:rate=10", "-t", "2", "-c:v", "libx264", full])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: full))
        try bytes.prefix(bytes.count * 6 / 10).write(to: URL(fileURLWithPath: input))
        let result = try CLI.segstream(["run", input, "-o", output, "--model", model])
        #expect(result.status == 0, "\(result.stderr)")
        let frames = CLI.videoFrameTimes(try CLI.probe(output)).count
        #expect(frames >= 8 && frames < 20)
    }

    @Test("SIGINT finishes the output: it plays and holds the frames done so far")
    func interrupted() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("long.mp4").path, output = dir.appendingPathComponent("out.mp4").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x96:rate=25", "-t", "120", "-c:v", "libx264",
                        "-preset", "ultrafast", input])
        let result = try CLI.run(CLI.binary, ["run", input, "-o", output, "--model", model], timeout: 60) { process in
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline && (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int ?? 0) ?? 0 < 20_000 {
                usleep(50_000)
            }
            kill(process.processIdentifier, SIGINT)
        }
        #expect(result.status == 128 + SIGINT, "\(result.stderr)")
        let frames = CLI.videoFrameTimes(try CLI.probe(output)).count
        #expect(frames > 0 && frames < 3000)
    }

    @Test("bad input gets one line and a sysexits code, and no output file", arguments: [
        ("missing", 66), ("text", 65), ("audio-only", 65),
    ])
    func badInput(kind: String, code: Int) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("input.\(kind == "audio-only" ? "m4a" : "mp4")").path
        let output = dir.appendingPathComponent("out.mp4").path
        switch kind {
        case "text": try Data("not a video\n".utf8).write(to: URL(fileURLWithPath: input))
        case "audio-only": try CLI.ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440", "-t", "0.5", "-c:a", "aac", input])
        default: break
        }
        let result = try CLI.segstream(["run", input, "-o", output, "--model", model])
        #expect(result.status == Int32(code), "\(result.stderr)")
        #expect(result.stderr.hasPrefix("segstream: "))
        #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test("usage and output errors", arguments: [
        (["--size", "0x5"], 64), (["--alpha", "2"], 64), (["--classes", "unicorn"], 64), (["-o", "/nonexistent-dir/out.mp4"], 74),
        (["-o", "out.avi"], 64), (["--model", "/nonexistent.safetensors"], 66),
    ])
    func usageErrors(extra: [String], code: Int) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.mp4").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10", "-t", "0.3", "-c:v", "libx264", input])
        var args = ["run", input]
        if !extra.contains("--model") { args += ["--model", model] }
        let result = try CLI.segstream(args + extra)
        #expect(result.status == Int32(code), "\(extra): \(result.stderr)")
    }
}
