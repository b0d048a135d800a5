import Foundation
import Testing

@Suite("segstream quantize", .serialized)
struct QuantizeCommandTests {
    let model = CLI.packageRoot.appendingPathComponent("Tests/SFNetTests/Fixtures/r18_w16.safetensors").path

    @Test("quantize on video frames, then run the int8 file like any model")
    func quantizeThenRun() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = dir.appendingPathComponent("calib.mp4").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=128x64:rate=10", "-t", "1", "-c:v", "libx264", clip])
        let int8 = dir.appendingPathComponent("m-int8.safetensors").path
        let q = try CLI.segstream(["quantize", "--model", model, "--calibrate", clip, "--frames", "4", "-o", int8])
        #expect(q.status == 0, "\(q.stderr)")
        let fp32Size = (try FileManager.default.attributesOfItem(atPath: model)[.size] as? Int) ?? 0
        let int8Size = (try FileManager.default.attributesOfItem(atPath: int8)[.size] as? Int) ?? 0
        #expect(int8Size > 0 && int8Size < fp32Size, "int8 weights take less room than fp32 ones")

        let output = dir.appendingPathComponent("out.mp4").path, json = dir.appendingPathComponent("f.jsonl").path
        let run = try CLI.segstream(["run", clip, "-o", output, "--model", int8, "--json", json])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(CLI.videoFrameTimes(try CLI.probe(output)).count == 10)
        // The int8 file cannot be run as fp32 (it keeps no fp32 weights), and an fp32 file not as int8.
        #expect(try CLI.segstream(["run", clip, "--model", int8, "--precision", "fp32"]).status == 64)
        #expect(try CLI.segstream(["run", clip, "--model", model, "--precision", "int8"]).status == 64)
    }

    @Test("bad calibration input and unwritable output get sysexits codes")
    func errors() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = try CLI.segstream(["quantize", "--model", model, "--calibrate", dir.appendingPathComponent("none.mp4").path,
                                         "-o", dir.appendingPathComponent("o.safetensors").path])
        #expect(missing.status == 66, "\(missing.stderr)")
        let clip = dir.appendingPathComponent("c.mp4").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10", "-t", "0.3", "-c:v", "libx264", clip])
        let unwritable = try CLI.segstream(["quantize", "--model", model, "--calibrate", clip, "--frames", "2",
                                            "-o", "/nonexistent-dir/o.safetensors"])
        #expect(unwritable.status == 74, "\(unwritable.stderr)")
    }
}
