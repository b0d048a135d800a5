import Foundation
import Testing

/// `--panoptic` on run, infer and eval, checked from the files alone (the PNG's ids against its JSON, the
/// JSON lines' counts against the JSON files, the semantic outputs against a run without the flag).
@Suite("segstream --panoptic", .serialized)
struct PanopticCommandTests {
    let drive = CLI.packageRoot.appendingPathComponent("samples/drive.mp4").path

    /// Segment ids of a panoptic PNG (R + 256·G + 256²·B).
    func panopticIDs(_ path: String) throws -> [Int] {
        let raw = FileManager.default.temporaryDirectory.appendingPathComponent("pan-\(UUID().uuidString).raw").path
        defer { try? FileManager.default.removeItem(atPath: raw) }
        try CLI.ffmpeg(["-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", raw])
        let b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: raw)))
        return stride(from: 0, to: b.count, by: 3).map { Int(b[$0]) + 256 * Int(b[$0 + 1]) + 65536 * Int(b[$0 + 2]) }
    }

    func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
    }

    @Test("run --panoptic: semantic masks unchanged, PNG ids agree with segments_info, counts in the JSON lines, stable ids")
    func runPanoptic() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = dir.path
        let plain = try CLI.segstream(["run", drive, "--max-frames", "3", "--masks", p + "/m0", "--json", p + "/plain.jsonl",
                                       "--telemetry", "/dev/null"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let pan = try CLI.segstream(["run", drive, "--max-frames", "3", "--masks", p + "/m1", "--json", p + "/pan.jsonl",
                                     "--panoptic-out", p + "/pan", "--telemetry", "/dev/null", "-o", p + "/pan.mp4"])
        #expect(pan.status == 0, "\(pan.stderr)")
        let plainLines = try String(contentsOfFile: p + "/plain.jsonl", encoding: .utf8).split(separator: "\n")
        let panLines = try String(contentsOfFile: p + "/pan.jsonl", encoding: .utf8).split(separator: "\n")
        var previousInstances = Set<Int>()
        var kept = 0
        for i in 0..<3 {
            let name = String(format: "%06d", i)
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(p)/m0/\(name).png")) == Data(contentsOf: URL(fileURLWithPath: "\(p)/m1/\(name).png")))
            let info = try json("\(p)/pan/\(name)_panoptic.json")
            #expect(info["file_name"] as? String == "\(name)_panoptic.png")
            let segments = info["segments_info"] as? [[String: Any]] ?? []
            let ids = try panopticIDs("\(p)/pan/\(name)_panoptic.png")
            #expect(ids.count == 1024 * 512)
            var area = [Int: Int]()
            for id in ids where id != 0 { area[id, default: 0] += 1 }
            #expect(Set(area.keys) == Set(segments.map { $0["id"] as! Int }))
            var things = [String: Int]()
            let names = [24: "person", 25: "rider", 26: "car", 27: "truck", 28: "bus", 31: "train", 32: "motorcycle", 33: "bicycle"]
            var instances = Set<Int>()
            for s in segments {
                let id = s["id"] as! Int, category = s["category_id"] as! Int
                #expect(area[id] == s["area"] as? Int)
                #expect((id >= 1000 ? id / 1000 : id) == category)
                if id >= 1000 {
                    things[names[category]!, default: 0] += 1
                    instances.insert(s["instance_id"] as! Int)
                }
            }
            #expect(things.values.reduce(0, +) >= 5)  // the drive has cars, people and bikes in every frame
            kept += instances.intersection(previousInstances).count
            previousInstances = instances
            let line = try JSONSerialization.jsonObject(with: Data(panLines[i].utf8)) as? [String: Any] ?? [:]
            #expect(line["instances"] as? [String: Int] == things)
            let plainLine = try JSONSerialization.jsonObject(with: Data(plainLines[i].utf8)) as? [String: Any] ?? [:]
            #expect(plainLine["instances"] == nil)
            #expect(plainLine["classes"] as? [String: Double] == line["classes"] as? [String: Double])
        }
        #expect(kept >= 5, "instances keep their ids from frame to frame")
    }

    @Test("infer --panoptic writes NAME_panoptic.png and .json; eval --panoptic needs instance ground truth")
    func inferAndEval() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = dir.appendingPathComponent("leftImg8bit/val/c/x_leftImg8bit.png").path
        let labels = dir.appendingPathComponent("gtFine/val/c/x_gtFine_labelTrainIds.png").path
        for f in [image, labels] {
            try FileManager.default.createDirectory(atPath: (f as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        }
        try CLI.ffmpeg(["-i", drive, "-frames:v", "1", image])
        try CLI.ffmpeg(["-f", "lavfi", "-i", "nullsrc=size=1024x512", "-frames:v", "1", "-vf", "geq=lum=13,format=gray", labels])
        let out = dir.appendingPathComponent("out").path
        let infer = try CLI.segstream(["infer", image, "--out", out, "--panoptic"])
        #expect(infer.status == 0, "\(infer.stderr)")
        let info = try json(out + "/x_leftImg8bit_panoptic.json")
        #expect(info["image_id"] as? String == "x_leftImg8bit")
        let ids = try panopticIDs(out + "/x_leftImg8bit_panoptic.png")
        #expect(Set(ids.filter { $0 != 0 }) == Set((info["segments_info"] as? [[String: Any]] ?? []).map { $0["id"] as! Int }))
        let eval = try CLI.segstream(["eval", "--data", dir.path, "--panoptic"])
        #expect(eval.status == 65)
        #expect(eval.stderr.contains("no instance ground truth"))
    }

    @Test("--instances head: a model with the head runs it (infer, run); a model without it is a one-line usage error")
    func instanceHead() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = dir.appendingPathComponent("x.png").path
        try CLI.ffmpeg(["-i", drive, "-frames:v", "1", "-vf", "scale=256:128", image])
        // The shipped models have no instance head.
        let refused = try CLI.segstream(["infer", image, "--out", dir.path + "/a", "--panoptic", "--instances", "head"])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("--instances head needs a model with an instance head"))
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        // A model with the head (random weights): the head is the default source, and the outputs agree.
        let headModel = CLI.packageRoot.appendingPathComponent("Tests/SFNetTests/Fixtures/df1_w16_instances.safetensors").path
        let out = dir.path + "/b"
        let infer = try CLI.segstream(["infer", image, "--out", out, "--panoptic", "--model", headModel, "--centre-threshold", "0.2"])
        #expect(infer.status == 0, "\(infer.stderr)")
        let info = try json(out + "/x_panoptic.json")
        let ids = try panopticIDs(out + "/x_panoptic.png")
        #expect(Set(ids.filter { $0 != 0 }) == Set((info["segments_info"] as? [[String: Any]] ?? []).map { $0["id"] as! Int }))
        let run = try CLI.segstream(["run", drive, "--max-frames", "2", "--model", headModel, "--panoptic", "--instances", "head",
                                     "--panoptic-out", dir.path + "/c", "--telemetry", "/dev/null"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.path + "/c/000001_panoptic.json"))
        let bad = try CLI.segstream(["infer", image, "--out", dir.path + "/d", "--panoptic", "--centre-threshold", "1"])
        #expect(bad.status == 64)
    }
}
