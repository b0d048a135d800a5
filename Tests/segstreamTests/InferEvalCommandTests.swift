import Foundation
import Testing

@Suite("segstream infer and eval", .serialized)
struct InferEvalCommandTests {
    /// A 19-class (Cityscapes names) narrow R18 with random weights.
    let model = CLI.packageRoot.appendingPathComponent("Tests/SFNetTests/Fixtures/r18_w16.safetensors").path

    /// Makes a tiny Cityscapes-layout dataset: PNG images from ffmpeg, ground truth with some ignore pixels.
    func makeDataset(_ root: URL, frames: Int) throws -> [(image: String, labels: String)] {
        var pairs: [(String, String)] = []
        for i in 0..<frames {
            let img = root.appendingPathComponent("leftImg8bit/val/city/f\(i)_leftImg8bit.png").path
            let gt = root.appendingPathComponent("gtFine/val/city/f\(i)_gtFine_labelTrainIds.png").path
            try FileManager.default.createDirectory(atPath: (img as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: (gt as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=1", "-ss", "\(i)", "-frames:v", "1", img])
            // Ground truth: horizontal bands of classes 0…18 and an ignored (255) strip.
            try CLI.ffmpeg(["-f", "lavfi", "-i", "nullsrc=size=96x64", "-frames:v", "1", "-vf",
                            "geq=lum='if(lt(X,8),255,mod(floor(Y/4)+\(i),19))',format=gray", gt])
            pairs.append((img, gt))
        }
        return pairs
    }

    @Test("infer writes labels, colours, overlay and logits that agree with each other")
    func inferOutputs() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pairs = try makeDataset(dir.appendingPathComponent("data"), frames: 1)
        let out = dir.appendingPathComponent("out").path
        let result = try CLI.segstream(["infer", "--model", model, pairs[0].image, "--out", out, "--logits"])
        #expect(result.status == 0, "\(result.stderr)")
        let stem = out + "/f0_leftImg8bit"
        for suffix in ["_labels.png", "_color.png", "_overlay.png", "_logits.npy"] {
            #expect(FileManager.default.fileExists(atPath: stem + suffix), "\(suffix)")
        }
        let labelsProbe = try CLI.probe(stem + "_labels.png", frames: false)
        #expect(CLI.streams(labelsProbe, type: "video").first?["pix_fmt"] as? String == "gray")
        #expect(CLI.streams(labelsProbe, type: "video").first?["width"] as? Int == 96)
        // The .npy header says float32, classes × H × W; argmax of its values equals the label PNG.
        let (header, values) = try readNpy(stem + "_logits.npy")
        #expect(header.contains("'descr': '<f4'") && header.contains("'shape': (19, 64, 96)"))
        #expect(values.count == 19 * 64 * 96)
        let labels = try grayPixels(stem + "_labels.png", width: 96, height: 64)
        #expect(argmaxAgreement(values, labels: labels, classes: 19) == 64 * 96)
    }

    /// An .npy file's header and float32 payload (the header is padded so the data starts 64-byte aligned).
    func readNpy(_ path: String) throws -> (header: String, values: [Float]) {
        let npy = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = Int(npy[8]) | Int(npy[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let values: [Float] = npy[(10 + headerLength)...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return (String(decoding: npy[10..<(10 + headerLength)], as: UTF8.self), values)
    }

    /// Pixels whose label is the argmax (first maximum) of the C×H×W logits.
    func argmaxAgreement(_ values: [Float], labels: [UInt8], classes: Int) -> Int {
        let plane = labels.count
        var agree = 0
        for p in 0..<plane {
            var best = 0
            for c in 1..<classes where values[c * plane + p] > values[best * plane + p] { best = c }
            if Int(labels[p]) == best { agree += 1 }
        }
        return agree
    }

    @Test("eval's IoU equals an independent computation from infer's labels")
    func evalMatchesIndependentIoU() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data")
        let pairs = try makeDataset(data, frames: 3)
        let json = dir.appendingPathComponent("eval.json").path
        let result = try CLI.segstream(["eval", "--model", model, "--data", data.path, "--json", json])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("mIoU"))
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any] ?? [:]
        #expect(object["frames"] as? Int == 3)

        // Independent: predictions from `infer`, IoU from pixel sets.
        let out = dir.appendingPathComponent("pred").path
        let infer = try CLI.segstream(["infer", "--model", model, "--out", out] + pairs.map(\.image))
        #expect(infer.status == 0, "\(infer.stderr)")
        var inter = [Int](repeating: 0, count: 19), union = [Int](repeating: 0, count: 19)
        for pair in pairs {
            let stem = URL(fileURLWithPath: pair.image).deletingPathExtension().lastPathComponent
            let pred = try grayPixels(out + "/\(stem)_labels.png", width: 96, height: 64)
            let truth = try grayPixels(pair.labels, width: 96, height: 64)
            for i in pred.indices where truth[i] != 255 {
                for c in 0..<19 {
                    let p = Int(pred[i]) == c, g = Int(truth[i]) == c
                    if p && g { inter[c] += 1 }
                    if p || g { union[c] += 1 }
                }
            }
        }
        let ious = (0..<19).compactMap { union[$0] > 0 ? Double(inter[$0]) / Double(union[$0]) : nil }
        let expected = ious.reduce(0, +) / Double(ious.count)
        #expect(abs((object["miou"] as? Double ?? -1) - expected) < 1e-6)
        let perClass = object["per_class"] as? [String: Any] ?? [:]
        #expect(abs((perClass["road"] as? Double ?? -1) - Double(inter[0]) / Double(union[0])) < 1e-6)
    }

    @Test("a model's network_scale enlarges the network input; outputs stay at the image's size")
    func networkScale() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pairs = try makeDataset(dir.appendingPathComponent("data"), frames: 1)
        let scaled = dir.appendingPathComponent("scaled.safetensors").path
        try CLI.copyModel(model, to: scaled, settingMetadata: ["network_scale": "2"])
        let plain = dir.appendingPathComponent("plain").path, big = dir.appendingPathComponent("big").path
        #expect(try CLI.segstream(["infer", "--model", model, "--out", plain, pairs[0].image]).status == 0)
        let result = try CLI.segstream(["infer", "--model", scaled, "--out", big, "--logits", pairs[0].image])
        #expect(result.status == 0, "\(result.stderr)")
        let stem = "/f0_leftImg8bit"
        let (header, values) = try readNpy(big + stem + "_logits.npy")
        #expect(header.contains("'shape': (19, 64, 96)"))
        let labels = try grayPixels(big + stem + "_labels.png", width: 96, height: 64)
        #expect(argmaxAgreement(values, labels: labels, classes: 19) == 64 * 96)
        // The same weights at 2× see a different image: the labels change.
        #expect(labels != (try grayPixels(plain + stem + "_labels.png", width: 96, height: 64)))
        let eval = try CLI.segstream(["eval", "--model", scaled, "--data", dir.appendingPathComponent("data").path])
        #expect(eval.status == 0, "\(eval.stderr)")
    }

    @Test("eval and infer refuse bad input with sysexits codes")
    func errors() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try CLI.segstream(["eval", "--model", model, "--data", dir.appendingPathComponent("none").path]).status == 66)
        #expect(try CLI.segstream(["eval", "--model", model, "--data", dir.path]).status == 66)
        #expect(try CLI.segstream(["infer", "--model", model, "--out", dir.path, dir.appendingPathComponent("x.png").path]).status == 66)
        let text = dir.appendingPathComponent("t.png")
        try Data("text".utf8).write(to: text)
        #expect(try CLI.segstream(["infer", "--model", model, "--out", dir.path, text.path]).status == 65)
        let badModel = dir.appendingPathComponent("m.safetensors")
        try Data([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0x7B]).write(to: badModel)
        let result = try CLI.segstream(["infer", "--model", badModel.path, "--out", dir.path, text.path])
        #expect(result.status == 65)
        #expect(result.stderr.contains("header length"))
    }

    /// Decodes an 8-bit gray PNG with ffmpeg (an independent reader).
    func grayPixels(_ path: String, width: Int, height: Int) throws -> [UInt8] {
        let raw = FileManager.default.temporaryDirectory.appendingPathComponent("gray-\(UUID().uuidString).raw").path
        defer { try? FileManager.default.removeItem(atPath: raw) }
        try CLI.ffmpeg(["-i", path, "-f", "rawvideo", "-pix_fmt", "gray", raw])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: raw)))
        #expect(bytes.count == width * height)
        return bytes
    }
}
