import Foundation
import SegEngine
import SegMedia
import SFNet
import Testing
import SegPipeline

@Suite("Network input rule")
struct NetworkInputTests {
    /// The tensor is the rule's normalisation of the converter's RGB24 at the rule's size, computed here by a
    /// scalar loop (`v · 1/(255·std) + (−mean/std)`, bit for bit) and within 1e-6 of `(v/255 − mean)/std`.
    @Test(arguments: [nil, NetworkSize(width: 96, height: 64)])
    func tensorIsNormalisedRGB(fixed: NetworkSize?) throws {
        let clip = try TestClips.testsrc(width: 200, height: 120, frames: 2)
        let config = SFNetConfig(arch: .df1, networkScale: 1.75)
        let rule = InputRule(config: config, fixedSize: fixed)
        let source = try VideoSource(clip)
        let frame = try #require(try source.nextFrame())
        let tensor = try NetworkInputBuilder(rule: rule).tensor(from: frame)
        let expectedSize = fixed ?? NetworkSize(width: 352, height: 224)   // 350×210 → multiples of 32
        #expect(tensor.width == expectedSize.width && tensor.height == expectedSize.height && tensor.channels == 3)
        let rgb = try FrameConverter().rgb24(frame, width: tensor.width, height: tensor.height)
        let hw = tensor.width * tensor.height
        var exact = 0, worst: Float = 0
        for c in 0..<3 {
            let scale = 1 / (255 * config.std[c]), bias = -config.mean[c] / config.std[c]
            for i in 0..<hw {
                let v = Float(rgb.pixels[3 * i + c]), got = tensor.data[c * hw + i]
                if got.bitPattern == (v * scale + bias).bitPattern { exact += 1 }
                worst = max(worst, abs(got - (v / 255 - config.mean[c]) / config.std[c]))
            }
        }
        #expect(exact == 3 * hw)
        #expect(worst < 1e-5)
    }

    /// The bundled models on a real frame of samples/drive.mp4: `run`'s network input (the converter's planes,
    /// written straight into caller-owned planes, with the rule's affine) is `infer`'s tensor once normalised, and
    /// gives the same labels and logits, bit for bit, in the fp32 and the int8 engine.
    @Test("bundled models on a drive.mp4 frame: run's 8-bit planes give the normalised tensor's labels and logits")
    func bundledModelsFromPlanes() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let source = try VideoSource(root.appendingPathComponent("samples/drive.mp4").path)
        _ = try source.nextFrame()
        let frame = try #require(try source.nextFrame())
        for name in ["sfnet-df1-synth", "sfnet-df1-synth-int8"] {
            let model = try loadSegmentationModel(contentsOf: root.appendingPathComponent("models/\(name).safetensors"))
            // Half the clip's size (run's default scales it by the model's 1.75): keeps the fp32 passes short.
            let size = NetworkSize(width: 512, height: 256)
            let rule = InputRule(config: model.config, fixedSize: size)
            let builder = NetworkInputBuilder(rule: rule)
            let tensor = try builder.tensor(from: frame)
            let planes = PixelPlanes()
            try builder.fill(planes, size: size, from: frame)
            let pixels = rule.networkInput(planes)
            let normalized = pixels.normalized()
            #expect((0..<tensor.count).allSatisfy { normalized.data[$0].bitPattern == tensor.data[$0].bitPattern }, "\(name): input")
            let session = model.makeSession()
            let fromPlanes = session.predictLabels(input: pixels), fromTensor = session.predictLabels(input: tensor)
            #expect(fromPlanes == fromTensor, "\(name): labels")
            #expect(Set(fromTensor).count > 1, "\(name): a real frame has more than one class")
            let a = session.lowResolutionLogits(input: pixels).toArray().map(\.bitPattern)
            let b = session.lowResolutionLogits(input: tensor).toArray().map(\.bitPattern)
            #expect(a == b, "\(name): logits")
        }
    }

    @Test("sizes parse in each notation; bad ones are rejected")
    func parsing() {
        #expect(NetworkSize(parsing: "1024x512", .widthByHeight) == NetworkSize(width: 1024, height: 512))
        #expect(NetworkSize(parsing: "512X1024", .heightByWidth) == NetworkSize(width: 1024, height: 512))
        for bad in ["", "1024", "0x512", "1024x", "x512", "1024x512x3", "-1x4", "9000x10", "axb"] {
            #expect(NetworkSize(parsing: bad, .widthByHeight) == nil, "\(bad)")
        }
    }
}

/// Small clips made with the ffmpeg CLI (an independent encoder), cached per process.
enum TestClips {
    static let directory: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segpipeline-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }()

    static func testsrc(width: Int, height: Int, frames: Int) throws -> String {
        let path = directory.appendingPathComponent("testsrc-\(width)x\(height)-\(frames).mp4").path
        if FileManager.default.fileExists(atPath: path) { return path }
        let tmp = path + ".\(UUID().uuidString).mp4"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=\(width)x\(height):rate=10",
                       "-frames:v", "\(frames)", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", tmp]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
        if rename(tmp, path) != 0 { throw CocoaError(.fileWriteUnknown) }
        return path
    }
}
