import CFFmpeg
import CSegKernels
import Testing
@testable import SegMedia

/// The annotated video is drawn in the encoder's YUV 4:2:0 (limited-range BT.709): whatever the source's pixel
/// format, matrix and range, `convertToYUV420` must give a frame's colours in it.
@Suite("YUV 4:2:0 frames")
struct YUV420Tests {
    /// Smooth colours (no sharp chroma edges, where 4:2:0 and RGB's interpolated chroma legitimately differ), well
    /// inside the RGB cube (subsampled saturated colours leave it, and the RGB path clips them).
    /// Made once each (`Clips.make` writes the file on every call, and test arguments may be evaluated again).
    static let bt601 = clip("g420.mkv", "yuv420p")
    /// MJPEG: FFV1 would store yuvj420p as limited-range yuv420p.
    static let fullRange = clip("gj420.mkv", "yuvj420p", codec: "mjpeg")
    static let bt709 = clip("g420-709.mkv", "yuv420p", extra: ["-colorspace", "bt709"])
    static let yuv444 = clip("g444.mkv", "yuv444p")
    static let rgb = clip("grgb.mkv", "bgr0")

    static func clip(_ name: String, _ pixFmt: String, codec: String = "ffv1", extra: [String] = []) -> String {
        Clips.make(name, Clips.src + ["gradients=size=96x64:c0=0xc04040:c1=0x4080c0:c2=0x50b050:nb_colors=3:seed=5",
                                      "-frames:v", "1", "-c:v", codec, "-pix_fmt", pixFmt] + extra)
    }

    /// The frame's planes as ffmpeg writes them, after `filter` (raw yuv420p).
    static func ffmpegPlanes(_ path: String, filter: String?) throws -> [UInt8] {
        [UInt8](try toolData("ffmpeg", ["-nostdin", "-v", "error", "-i", path] + (filter.map { ["-vf", $0] } ?? [])
                                        + ["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]))
    }

    /// Largest and mean difference of `planes` from packed yuv420p `reference` (luma, then both chroma planes).
    static func differences(_ planes: YUV420Planes, _ reference: [UInt8]) -> (luma: Int, lumaMean: Double, chroma: Int, chromaMean: Double) {
        let w = planes.width, h = planes.height, cw = planes.chromaWidth, ch = planes.chromaHeight
        var worst = (0, 0), sums = (0, 0)
        for y in 0..<h { for x in 0..<w {
            let d = abs(Int(planes.y[y * planes.lumaStride + x]) - Int(reference[y * w + x]))
            worst.0 = max(worst.0, d); sums.0 += d
        } }
        for (k, plane) in [planes.u, planes.v].enumerated() {
            for y in 0..<ch { for x in 0..<cw {
                let d = abs(Int(plane[y * planes.chromaStride + x]) - Int(reference[w * h + k * cw * ch + y * cw + x]))
                worst.1 = max(worst.1, d); sums.1 += d
            } }
        }
        return (worst.0, Double(sums.0) / Double(w * h), worst.1, Double(sums.1) / Double(2 * cw * ch))
    }

    /// The reference for YUV sources is ffmpeg's `colorspace` filter (`fast=1`: the matrix and range change alone,
    /// no primaries or transfer adaptation, as the RGB path did), then yuv420p.
    @Test("YUV sources in any matrix and range come out as BT.709 limited, as ffmpeg's colorspace filter makes them", arguments: [
        ("yuv420p, untagged: BT.601 below 720 lines", bt601, "colorspace=all=bt709:iall=bt601-6-625:fast=1:format=yuv420p"),
        ("yuvj420p: full range", fullRange,
         "colorspace=all=bt709:iall=bt601-6-625:irange=pc:range=tv:fast=1:format=yuv420p"),
        ("yuv420p tagged BT.709: copied", bt709, nil),
        ("yuv444p: chroma averaged", yuv444, "colorspace=all=bt709:iall=bt601-6-625:fast=1:format=yuv444p"),
    ])
    func matchesColorspaceFilter(_ name: String, _ path: String, _ filter: String?) throws {
        let source = try VideoSource(path)
        let frame = try #require(try source.nextFrame())
        let planes = YUV420Buffer().reserve(width: frame.width, height: frame.height)
        try FrameConverter().convertToYUV420(frame, into: planes)
        let d = Self.differences(planes, try Self.ffmpegPlanes(path, filter: filter))
        let tolerance = filter == nil ? 0 : 1, chromaTolerance = name.hasPrefix("yuv444p") ? 2 : tolerance
        #expect(d.luma <= tolerance && d.lumaMean < 0.5, "\(name): luma worst \(d.luma), mean \(d.lumaMean)")
        #expect(d.chroma <= chromaTolerance && d.chromaMean < 0.5, "\(name): chroma worst \(d.chroma), mean \(d.chromaMean)")
    }

    @Test("an RGB source: each pixel's BT.709 luma, each 2×2's mean chroma, by the textbook formula")
    func rgbSource() throws {
        let path = Self.rgb
        let source = try VideoSource(path)
        let frame = try #require(try source.nextFrame())
        let converter = FrameConverter()
        let rgb = try converter.rgb24(frame)
        let planes = YUV420Buffer().reserve(width: frame.width, height: frame.height)
        try converter.convertToYUV420(frame, into: planes)
        let w = frame.width, h = frame.height
        var expected = [[Int32]](repeating: [0, 0, 0], count: w * h)
        for i in 0..<(w * h) { seg_yuv709_from_rgb(rgb.pixels[3 * i], rgb.pixels[3 * i + 1], rgb.pixels[3 * i + 2], &expected[i]) }
        var reference = (0..<(w * h)).map { UInt8(expected[$0][0]) }
        for k in 1...2 {
            for cy in 0..<(h / 2) { for cx in 0..<(w / 2) {
                var sum: Int32 = 0
                for dy in 0..<2 { for dx in 0..<2 { sum += expected[(2 * cy + dy) * w + 2 * cx + dx][k] } }
                reference.append(UInt8((sum + 2) / 4))
            } }
        }
        let d = Self.differences(planes, reference)
        #expect(d.luma <= 1 && d.chroma <= 2 && d.chromaMean < 0.5, "luma \(d.luma), chroma \(d.chroma) (mean \(d.chromaMean))")
    }

    @Test("the matrix change is the identity for BT.709 limited and inverts: BT.601 full → BT.709 limited → back")
    func affineRoundTrip() {
        #expect(ColorDetails.bt709Limited.yuvAffine(to: .bt709Limited) == nil)
        let jpeg = ColorDetails(matrix: SWS_CS_ITU601, fullRange: true)
        let there = jpeg.yuvAffine(to: .bt709Limited)!, back = ColorDetails.bt709Limited.yuvAffine(to: jpeg)!
        // A 4×2 picture: every pixel pair (Y, and its sample's U, V) goes there and back within 1 level.
        var y: [UInt8] = [0, 60, 128, 255, 30, 90, 200, 240], u: [UInt8] = [64, 200], v: [UInt8] = [180, 40]
        let (y0, u0, v0) = (y, u, v)
        seg_yuv420_affine(&y, 4, &u, &v, 2, 4, 2, there)
        #expect(y != y0)
        seg_yuv420_affine(&y, 4, &u, &v, 2, 4, 2, back)
        for i in 0..<8 { #expect(abs(Int(y[i]) - Int(y0[i])) <= 1, "luma \(i): \(y[i]) vs \(y0[i])") }
        for i in 0..<2 { #expect(abs(Int(u[i]) - Int(u0[i])) <= 1 && abs(Int(v[i]) - Int(v0[i])) <= 1) }
    }

    @Test("the writer encodes YUV pictures as they are: decoded by ffmpeg, the same planes within x264's loss")
    func writerTakesYUV() throws {
        let dir = try makeTempDir()
        let w = 64, h = 48, buffer = YUV420Buffer(), p = buffer.reserve(width: w, height: h)
        for y in 0..<h { for x in 0..<w { p.y[y * p.lumaStride + x] = UInt8(16 + (x * 3 + y) % 200) } }
        for y in 0..<(h / 2) { for x in 0..<(w / 2) { p.u[y * p.chromaStride + x] = UInt8(60 + x * 4); p.v[y * p.chromaStride + x] = UInt8(200 - y * 4) } }
        let path = dir + "/yuv.mkv"
        var settings = EncoderSettings()
        settings.crf = 0   // lossless
        let writer = try VideoWriter(path: path, width: w, height: h, timeBase: Rational(1, 10), settings: settings)
        try writer.write(p, pts: MediaTime(seconds: 0))
        try writer.finish()
        let raw = [UInt8](try toolData("ffmpeg", ["-nostdin", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]))
        #expect(raw.count == w * h * 3 / 2)
        var worst = 0
        for y in 0..<h { for x in 0..<w { worst = max(worst, abs(Int(raw[y * w + x]) - Int(p.y[y * p.lumaStride + x]))) } }
        for y in 0..<(h / 2) { for x in 0..<(w / 2) {
            worst = max(worst, abs(Int(raw[w * h + y * w / 2 + x]) - Int(p.u[y * p.chromaStride + x])))
            worst = max(worst, abs(Int(raw[w * h * 5 / 4 + y * w / 2 + x]) - Int(p.v[y * p.chromaStride + x])))
        } }
        #expect(worst == 0, "lossless x264 changed a sample by \(worst)")
    }
}
