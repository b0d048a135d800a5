import Foundation
import SegEngine
import Testing
@testable import SegMedia

@Suite struct ImageIOTests {
    @Test(arguments: [Image8.Layout.gray8, .rgb24])
    func pngRoundTripIsExact(layout: Image8.Layout) throws {
        let dir = try makeTempDir()
        let (w, h) = (37, 23)   // odd sizes on purpose
        var rng = SystemRandomNumberGenerator()
        let img = Image8(width: w, height: h, layout: layout,
                         pixels: (0..<(w * h * layout.channels)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let path = dir + "/img.png"
        try ImageIO.writePNG(img, to: path, compressionLevel: 1)
        let s = try probeStream(path, "v:0", "codec_name,pix_fmt,width,height")
        #expect(s["codec_name"] == "png" && s["pix_fmt"] == (layout == .gray8 ? "gray" : "rgb24"))
        #expect(s["width"] == "37" && s["height"] == "23")
        let back = layout == .gray8 ? try ImageIO.readGray8(path) : try ImageIO.readRGB24(path)
        #expect(back == img)
    }

    @Test func labelMapsAreReadVerbatim() throws {
        let dir = try makeTempDir()
        let (w, h) = (19, 11)
        let labels = Image8(width: w, height: h, layout: .gray8, pixels: (0..<(w * h)).map { UInt8($0 % 19) })
        let gray = dir + "/labels.png"
        try ImageIO.writePNG(labels, to: gray)
        #expect(try ImageIO.readLabelMap(gray) == labels)
        // A palette PNG: the indices come back, not colours.
        let pal = dir + "/pal.png"
        try ffmpeg(["-i", gray, "-pix_fmt", "pal8"], output: pal)
        #expect(try probeStream(pal, "v:0", "pix_fmt")["pix_fmt"] == "pal8")
        let indices = [UInt8](try toolData("ffmpeg", ["-nostdin", "-v", "error", "-i", pal, "-f", "rawvideo", "-pix_fmt", "pal8", "-"]))
        #expect(try ImageIO.readLabelMap(pal).pixels == Array(indices.prefix(w * h)))
        // Colour is refused.
        let rgb = dir + "/rgb.png"
        try ImageIO.writePNG(Image8(width: 4, height: 4, layout: .rgb24), to: rgb)
        let e = try #require(throws: MediaError.self) { try ImageIO.readLabelMap(rgb) }
        #expect(e.kind == .invalidInput && e.description.contains("rgb24"))
    }

    @Test func jpegDecodesToRGB() throws {
        let dir = try makeTempDir()
        let path = dir + "/pic.jpg"
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=100x62", "-vf", "scale=99:61", "-frames:v", "1"], output: path)
        let img = try ImageIO.readRGB24(path)
        #expect(img.width == 99 && img.height == 61 && img.layout == .rgb24)
        let ref = [UInt8](try toolData("ffmpeg", ["-nostdin", "-v", "error", "-i", path, "-vf", "scale=flags=bilinear+full_chroma_int",
                                                       "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]))
        let mad = zip(img.pixels, ref).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(ref.count)
        #expect(ref.count == img.pixels.count && mad < 0.5, "mean abs diff \(mad)")
    }

    @Test func unwritableImagePath() throws {
        let e = try #require(throws: MediaError.self) {
            try ImageIO.writePNG(Image8(width: 4, height: 4, layout: .gray8), to: "/nonexistent-dir/x.png")
        }
        #expect(e.kind == .ioError && e.description.contains("/nonexistent-dir/x.png"))
    }

    @Test func missingImage() throws {
        let e = try #require(throws: MediaError.self) { try ImageIO.readRGB24("/nonexistent-dir/x.png") }
        #expect(e.kind == .noSuchInput)
    }
}

@Suite struct FrameConverterTests {
    /// The network's pixels (always through planar GBRP) equal packed RGB24 scaled to the same size. (At the
    /// frame's own size the packed path is swscale's direct RGB24 writer, which rounds differently.)
    @Test(arguments: [(64, 40), (200, 120)]) func networkRGBMatchesScaledRGB(_ size: (Int, Int)) throws {
        let source = try VideoSource(Clips.basic)
        let frame = try #require(try source.nextFrame())
        let (w, h) = size
        let converter = FrameConverter()
        let rgb = try converter.rgb24(frame, width: w, height: h)
        var out = [UInt8](repeating: 0, count: 3 * w * h)
        try out.withUnsafeMutableBufferPointer { try converter.networkRGB24(frame, width: w, height: h, into: $0.baseAddress!, rowStride: 3 * w) }
        #expect(zip(out, rgb.pixels).filter { $0 != $1 }.count == 0)
    }

    /// The network's planes scaled straight into caller-owned `PixelPlanes` (what `run`'s frame slots hold) are
    /// packed RGB24 at the same size, channel by channel; one `PixelPlanes` serves a larger, then a smaller size.
    @Test func networkPlanesIntoCallerPlanes() throws {
        let source = try VideoSource(Clips.basic)
        let frame = try #require(try source.nextFrame())
        let converter = FrameConverter(), planes = PixelPlanes()
        for (w, h) in [(200, 120), (64, 40), (77, 45)] {
            try converter.scaleNetworkPlanes(frame, width: w, height: h, into: planes)
            #expect(planes.width == w && planes.height == h && planes.rowStride >= w && planes.rowStride % 64 == 0)
            let rgb = try converter.rgb24(frame, width: w, height: h)
            var differing = 0
            for c in 0..<3 {
                let p = planes.plane(c)
                for y in 0..<h { for x in 0..<w where p[y * planes.rowStride + x] != rgb.pixels[3 * (y * w + x) + c] { differing += 1 } }
            }
            #expect(differing == 0, "\(w)x\(h)")
        }
    }

    /// swscale's packed writers may store whole SIMD blocks past a row's end; the converter must never write
    /// past `rowStride × height` bytes of the caller's buffer (a heap overflow otherwise).
    @Test(arguments: [(200, 120), (161, 97), (64, 40)]) func writesNothingPastTheBuffer(_ size: (Int, Int)) throws {
        let (w, h) = size
        let clip = Clips.make("canary-\(w)x\(h).mkv", Clips.src + ["testsrc2=size=\(w)x\(h):rate=10", "-frames:v", "1",
                                                                     "-c:v", "ffv1", "-pix_fmt", "yuv420p"])
        let source = try VideoSource(clip)
        let frame = try #require(try source.nextFrame())
        let converter = FrameConverter()
        for (ow, oh) in [(w, h), (w / 2 + 3, h / 2 + 1)] {
            let count = 3 * ow * oh, slack = 512
            var buffer = [UInt8](repeating: 0xA5, count: count + slack)
            try buffer.withUnsafeMutableBufferPointer { try converter.convertToRGB24(frame, width: ow, height: oh, into: $0.baseAddress!, rowStride: 3 * ow) }
            #expect(buffer[count...].allSatisfy { $0 == 0xA5 }, "\(ow)x\(oh): wrote past the end")
            var network = [UInt8](repeating: 0xA5, count: count + slack)
            try network.withUnsafeMutableBufferPointer { try converter.networkRGB24(frame, width: ow, height: oh, into: $0.baseAddress!, rowStride: 3 * ow) }
            #expect(network[count...].allSatisfy { $0 == 0xA5 }, "\(ow)x\(oh): networkRGB24 wrote past the end")
        }
    }

    @Test func sameSizeRGBIsAnExactCopy() throws {
        let source = try VideoSource(Clips.format("rgb24"))
        let frame = try #require(try source.nextFrame())
        let rgb = try FrameConverter().rgb24(frame)
        let ref = [UInt8](try toolData("ffmpeg", ["-nostdin", "-v", "error", "-i", Clips.format("rgb24"), "-frames:v", "1",
                                                 "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]))
        #expect(rgb.pixels == ref)
    }
}
