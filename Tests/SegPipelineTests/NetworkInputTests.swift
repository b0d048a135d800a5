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
