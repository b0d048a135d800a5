import Foundation
import Testing
@testable import SegMedia

/// Transcodes `input` through RGB24 (as `segstream run` does) into `output`; returns the source.
@discardableResult
func transcode(_ input: String, to output: String, keepAudio: Bool = false, settings: EncoderSettings = EncoderSettings(),
               maxFrames: Int = .max) throws -> (VideoSource, VideoWriter) {
    var options = SourceOptions()
    options.keepAudio = keepAudio
    let source = try VideoSource(input, options: options)
    let writer = try VideoWriter(path: output, width: source.info.width, height: source.info.height,
                                 timeBase: source.info.timeBase, frameRate: source.info.averageFrameRate,
                                 audio: keepAudio ? source.info.audio : nil, settings: settings)
    let converter = FrameConverter()
    var n = 0
    do {
        while n < maxFrames, let frame = try source.nextFrame() {
            let rgb = try converter.rgb24(frame)
            try writer.write(rgb, pts: frame.timestamp)
            for p in source.takeAudioPackets() { try writer.writeAudio(p) }
            n += 1
        }
        for p in source.takeAudioPackets() { try writer.writeAudio(p) }
        try writer.finish()
    } catch {
        try? writer.finish()
        throw error
    }
    return (source, writer)
}

@Suite struct VideoWriterTests {
    @Test(arguments: ["mp4", "mkv", "mov"])
    func writesH264KeepingTimestamps(ext: String) throws {
        let dir = try makeTempDir()
        let out = dir + "/out.\(ext)"
        let (_, writer) = try transcode(Clips.basic, to: out)
        #expect(writer.framesWritten == 20 && writer.adjustedTimestamps == 0)
        let s = try probeStream(out, "v:0", "codec_name,pix_fmt,width,height")
        #expect(s["codec_name"] == "h264" && s["pix_fmt"] == "yuv420p" && s["width"] == "160" && s["height"] == "96")
        let times = try probeFrameTimes(out)
        #expect(times.count == 20)
        let expected = (0..<20).map { Double($0) * 0.1 }
        #expect(zip(times, expected).allSatisfy { abs($0 - $1) < 1e-3 }, "\(times)")
        // 20 frames of 0.1 s: the last frame keeps its duration (MP4's edit list would otherwise cut it).
        let duration = try tool("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", out])
        #expect(abs((Double(duration.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) - 2.0) < 0.02, "\(duration)")
    }

    @Test func variableFrameRateSurvives() throws {
        let dir = try makeTempDir()
        for ext in ["mp4", "mkv"] {
            let out = dir + "/vfr.\(ext)"
            try transcode(Clips.vfr, to: out)
            let src = try probeFrameTimes(Clips.vfr)
            let got = try probeFrameTimes(out)
            #expect(got.count == src.count)
            #expect(zip(got, src).allSatisfy { abs($0 - $1) < 1e-3 }, "\(ext): \(got) vs \(src)")
        }
    }

    /// An MPEG-TS source starting at 1.4 s (with audio) comes out starting at 0, deltas and A/V offset intact.
    @Test func outputStartsAtZeroKeepingDeltasAndSync() throws {
        let dir = try makeTempDir()
        let src = dir + "/late.ts"
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-f", "lavfi", "-i", "sine=sample_rate=48000",
                    "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"], output: src)
        let srcTimes = try probeFrameTimes(src)
        #expect(srcTimes.first ?? 0 > 1)   // MPEG-TS starts at 1.4 s
        let srcAudioStart = Double(try probeStream(src, "a:0", "start_time")["start_time"] ?? "") ?? .nan
        for ext in ["mp4", "mkv"] {
            let out = dir + "/zero.\(ext)"
            let (_, writer) = try transcode(src, to: out, keepAudio: true)
            let times = try probeFrameTimes(out)
            #expect(times.count == srcTimes.count)
            // MKV cannot start a stream below 0, so the audio frame overlapping the first video frame shifts
            // everything by < 1 audio frame (21 ms); MP4 uses an edit list and starts exactly at 0.
            #expect((times.first ?? 1) < (ext == "mp4" ? 1e-3 : 0.025), "\(ext): \(times)")
            #expect(zip(times, srcTimes).allSatisfy { abs(($0 - times[0]) - ($1 - srcTimes[0])) < 1e-3 }, "\(ext): \(times)")
            let audioStart = Double(try probeStream(out, "a:0", "start_time")["start_time"] ?? "") ?? .nan
            // Audio keeps its offset from the first frame; packets before the first frame are trimmed.
            let expected = srcAudioStart - srcTimes[0]
            #expect(audioStart > -0.025 && audioStart < 0.05 && (expected < 0 || abs(audioStart - expected) < 2e-3),
                    "\(ext): audio starts at \(audioStart), source offset \(expected)")
            #expect(writer.audioPacketsWritten + writer.audioPacketsTrimmed == (try countPackets(src, stream: "a:0")))
        }
    }

    @Test func oddSizeIsCroppedToEven() throws {
        let dir = try makeTempDir()
        let out = dir + "/odd.mp4"
        let (source, writer) = try transcode(Clips.odd, to: out)
        #expect(source.info.width == 721 && source.info.height == 405)
        #expect(writer.outputWidth == 720 && writer.outputHeight == 404)
        let s = try probeStream(out, "v:0", "width,height")
        #expect(s["width"] == "720" && s["height"] == "404")
        // A fragmented MP4 (the default) has no frame count in its header: count the frames ffprobe decodes.
        #expect(try probeFrames(out).count == 10)
    }

    @Test func audioIsStreamCopied() throws {
        let dir = try makeTempDir()
        let out = dir + "/av.mp4"
        let (_, writer) = try transcode(Clips.withAudio, to: out, keepAudio: true)
        #expect(writer.audioSkippedReason == nil)
        let a = try probeStream(out, "a:0", "codec_name,sample_rate,duration")
        #expect(a["codec_name"] == "aac" && a["sample_rate"] == "48000")
        #expect(writer.audioPacketsWritten == (try countPackets(Clips.withAudio, stream: "a:0")))
        #expect(try countPackets(out, stream: "a:0") == (try countPackets(Clips.withAudio, stream: "a:0")))
        let srcDur = Double(try probeStream(Clips.withAudio, "a:0", "duration")["duration"] ?? "") ?? -1
        #expect(abs((Double(a["duration"] ?? "") ?? 0) - srcDur) < 0.03)
        #expect(try probeFrames(out).count == 25)
    }

    @Test func audioTheContainerCannotHoldIsSkipped() throws {
        let dir = try makeTempDir()
        let src = dir + "/pcm.mkv"
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=0.5", "-f", "lavfi", "-i", "sine=duration=0.5",
                    "-c:v", "ffv1", "-c:a", "pcm_s16le"], output: src)
        let out = dir + "/out.mp4"
        let (_, writer) = try transcode(src, to: out, keepAudio: true)
        #expect(writer.audioSkippedReason?.contains("pcm_s16le") == true)
        #expect(try probeStream(out, "a", "codec_name").isEmpty)
        // MKV holds PCM: copied.
        let out2 = dir + "/out.mkv"
        let (_, writer2) = try transcode(src, to: out2, keepAudio: true)
        #expect(writer2.audioSkippedReason == nil && writer2.audioPacketsWritten > 0)
        #expect(try probeStream(out2, "a:0", "codec_name")["codec_name"] == "pcm_s16le")
    }

    @Test func resolutionChangeIsScaledToTheOutputSize() throws {
        let dir = try makeTempDir()
        let out = dir + "/rc.mkv"
        let (_, writer) = try transcode(Clips.resolutionChange, to: out)
        #expect(writer.framesWritten == 24)
        let frames = try probeFrames(out)
        #expect(frames.count == 24 && frames.allSatisfy { $0.width == 160 && $0.height == 96 })
    }

    @Test func encodesDecodedFramesDirectly() throws {
        let dir = try makeTempDir()
        let out = dir + "/direct.mp4"
        let source = try VideoSource(Clips.format("yuv420p10le"))
        let writer = try VideoWriter(path: out, width: source.info.width, height: source.info.height, timeBase: source.info.timeBase)
        while let f = try source.nextFrame() { try writer.write(f) }
        try writer.finish()
        #expect(try probeFrames(out).count == 10)
    }

    @Test func finishIsIdempotentAndPartialFilesPlay() throws {
        let dir = try makeTempDir()
        let out = dir + "/partial.mp4"
        // Stop after 7 of 20 frames (what SIGINT does), then finish twice.
        let (_, writer) = try transcode(Clips.basic, to: out, maxFrames: 7)
        try writer.finish()
        #expect(writer.isFinished)
        #expect(try probeFrames(out).count == 7)
        #expect(throws: MediaError.self) { try writer.write(Image8(width: 160, height: 96, layout: .rgb24), pts: MediaTime(seconds: 9)) }
    }

    @Test func deinitWritesTheTrailer() throws {
        let dir = try makeTempDir()
        let out = dir + "/forgotten.mp4"
        do {
            let writer = try VideoWriter(path: out, width: 64, height: 48, timeBase: Rational(1, 30))
            let img = Image8(width: 64, height: 48, layout: .rgb24, pixels: (0..<(64 * 48 * 3)).map { UInt8($0 % 251) })
            for i in 0..<5 { try writer.write(img, pts: MediaTime(value: Int64(i), timeBase: Rational(1, 30))) }
        }
        #expect(try probeFrames(out).count == 5)
    }

    @Test func nonMonotonicTimestampsAreBumped() throws {
        let dir = try makeTempDir()
        let out = dir + "/bumped.mkv"
        var settings = EncoderSettings()
        settings.startAtZero = false
        let writer = try VideoWriter(path: out, width: 32, height: 32, timeBase: Rational(1, 1000), settings: settings)
        let img = Image8(width: 32, height: 32, layout: .rgb24)
        for ms in [0, 40, 40, 30, 120] as [Int64] { try writer.write(img, pts: MediaTime(value: ms, timeBase: Rational(1, 1000))) }
        try writer.finish()
        #expect(writer.adjustedTimestamps == 2)
        #expect(try probeFrameTimes(out) == [0, 0.04, 0.041, 0.042, 0.12])
    }

    @Test func unwritableOutputFailsAtOpenAndLeavesNothing() throws {
        let dir = try makeTempDir()
        let ro = dir + "/readonly"
        try FileManager.default.createDirectory(atPath: ro, withIntermediateDirectories: true)
        chmod(ro, 0o555)
        defer { chmod(ro, 0o755) }
        // root ignores directory permissions: then only the missing directory can be checked.
        let paths = (getuid() == 0 ? [] : [ro + "/out.mp4"]) + [dir + "/missing/dir/out.mp4"]
        for path in paths {
            let e = try #require(throws: MediaError.self) {
                try VideoWriter(path: path, width: 64, height: 48, timeBase: Rational(1, 25))
            }
            #expect(e.kind == .ioError && e.exitCode == 74)
            #expect(e.description.contains(path))
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test func explicitFormatOverridesTheExtension() throws {
        let dir = try makeTempDir()
        let out = dir + "/stream.bin"
        let source = try VideoSource(Clips.basic)
        let writer = try VideoWriter(path: out, width: 160, height: 96, timeBase: source.info.timeBase, format: "mpegts")
        while let f = try source.nextFrame() { try writer.write(f) }
        try writer.finish()
        #expect(try tool("ffprobe", ["-v", "error", "-show_entries", "format=format_name", "-of", "csv=p=0", out])
                    .trimmingCharacters(in: .whitespacesAndNewlines) == "mpegts")
        #expect(try probeFrames(out).count == 20)
    }

    @Test func unknownExtensionIsAUsageError() throws {
        let dir = try makeTempDir()
        let e = try #require(throws: MediaError.self) {
            try VideoWriter(path: dir + "/out.notacontainer", width: 64, height: 48, timeBase: Rational(1, 25))
        }
        #expect(e.kind == .invalidArgument)
        #expect(!FileManager.default.fileExists(atPath: dir + "/out.notacontainer"))
    }
}
