import Foundation
import Testing
@testable import SegMedia

@Suite struct VideoSourceTests {
    @Test func basicClipMatchesFFprobe() throws {
        let path = Clips.basic
        let source = try VideoSource(path)
        #expect(source.info.width == 160 && source.info.height == 96)
        #expect(source.info.pixelFormatName == "yuv420p")
        #expect(source.info.codecName == "h264")
        #expect(!source.info.isLive)
        #expect(source.info.estimatedFrameCount == 20)
        #expect(abs((source.info.duration ?? 0) - 2.0) < 0.01)
        #expect(source.info.averageFrameRate == Rational(10, 1))
        #expect(source.info.audio == nil)
        #expect(source.info.unusedOptions.isEmpty)
        let frames = try readAll(source)
        let probed = try probeFrames(path)
        #expect(frames.count == 20)
        #expect(frames.map { $0.timestamp.value } == probed.map { $0.pts ?? -1 })
        #expect(frames.allSatisfy { !$0.timestampIsSynthesized && $0.width == 160 && $0.height == 96 })
        #expect(abs(frames[3].pts - 0.3) < 1e-9)
        #expect(source.corruptPackets == 0)
        #expect(try source.nextFrame() == nil)   // stays at the end
    }

    /// A raw H.264 elementary stream carries no timestamps: they are extrapolated from the frame rate, flagged
    /// and counted (and only then).
    @Test func missingTimestampsAreSynthesizedAndFlagged() throws {
        let dir = try makeTempDir()
        let path = dir + "/raw.h264"
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-frames:v", "6", "-c:v", "libx264", "-bf", "0",
                    "-f", "h264"], output: path)
        #expect(try probeFrames(path).allSatisfy { $0.pts == nil })   // ffprobe agrees: no timestamps
        let source = try VideoSource(path)
        let frames = try readAll(source)
        #expect(frames.count == 6)
        #expect(frames.allSatisfy(\.timestampIsSynthesized) && source.synthesizedTimestamps == 6)
        let fps = try #require(source.info.averageFrameRate.doubleValue ?? source.info.realFrameRate.doubleValue)
        for (i, f) in frames.enumerated() { #expect(abs(f.pts - Double(i) / fps) < 1e-6, "frame \(i): \(f.pts)") }
        // Real timestamps are never replaced.
        let real = try VideoSource(Clips.basic)
        _ = try readAll(real)
        #expect(real.synthesizedTimestamps == 0)
    }

    @Test(arguments: ["yuv444p", "yuv420p10le", "rgb24", "gray"])
    func unusualPixelFormats(pixfmt: String) throws {
        let path = Clips.format(pixfmt)
        let source = try VideoSource(path)
        let frames = try readAll(source)
        #expect(frames.count == 10)
        // ffv1/png report the format they store (rgb24 in PNG stays rgb24).
        #expect(frames[0].pixelFormatName == pixfmt)
        // Our RGB conversion agrees with ffmpeg's own (matrix/rounding may differ by a level or two).
        let ours = try FrameConverter().rgb24(frames[0])
        let ref = dataOf(try toolData("ffmpeg", ["-nostdin", "-v", "error", "-i", path, "-frames:v", "1",
                                                 "-vf", "scale=flags=bilinear+full_chroma_int",
                                                 "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]))
        #expect(ref.count == ours.pixels.count)
        let mad = zip(ours.pixels, ref).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(max(1, ref.count))
        #expect(mad < (pixfmt == "rgb24" ? 0.001 : 0.5), "mean abs diff \(mad) vs ffmpeg's rgb24")
    }

    @Test func variableFrameRateTimestampsAreKept() throws {
        let source = try VideoSource(Clips.vfr)
        let frames = try readAll(source)
        let probed = try probeFrames(Clips.vfr)
        #expect(frames.count == 20)
        #expect(frames.map { $0.timestamp.value } == probed.map { $0.pts ?? -1 })
        let deltas = zip(frames.dropFirst(), frames).map { ($0.pts - $1.pts) }
        #expect(abs(deltas[0] - 0.04) < 1e-6 && abs(deltas[15] - 0.12) < 1e-6)
    }

    @Test func resolutionChangeMidStream() throws {
        let source = try VideoSource(Clips.resolutionChange)
        let converter = FrameConverter()
        var sizes: [String] = []
        var ptsList: [Int64] = []
        let pixels = UnsafeMutablePointer<UInt8>.allocate(capacity: 3 * 64 * 32)
        defer { pixels.deallocate() }
        while let f = try source.nextFrame() {
            sizes.append("\(f.width)x\(f.height)")
            ptsList.append(f.timestamp.value)
            let rgb = try converter.rgb24(f)
            #expect(rgb.width == f.width && rgb.height == f.height)
            try converter.networkRGB24(f, width: 64, height: 32, into: pixels, rowStride: 3 * 64)
        }
        let probed = try probeFrames(Clips.resolutionChange)
        #expect(sizes == probed.map { "\($0.width)x\($0.height)" })
        #expect(ptsList == probed.map { $0.pts ?? -1 })
        #expect(sizes.first == "160x96" && sizes.last == "320x192")
        #expect(sizes.count == 24)
        // One own-size context per resolution (2) plus one network context (the network size never changes,
        // but its source does: 2).
        #expect(converter.scalerRebuilds == 4)
    }

    @Test func truncatedFileDecodesWhatIsThere() throws {
        let source = try VideoSource(Clips.truncated)
        let frames = try readAll(source)
        let probed = try probeFrames(Clips.truncated)
        #expect(frames.count > 5 && frames.count < 30)
        #expect(frames.count == probed.count)
        #expect(frames.map { $0.timestamp.value } == probed.map { $0.pts ?? -1 })
    }

    @Test func corruptedMiddleIsSkippedAndCounted() throws {
        // Overwrite a run of bytes in the middle of the stream with garbage (TS headers survive every 188 bytes).
        let dir = try makeTempDir()
        let out = dir + "/corrupt.ts"
        var data = try Data(contentsOf: URL(fileURLWithPath: Clips.truncated.replacingOccurrences(of: "truncated", with: "full")))
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15   // fixed seed: the same damage every run
        let start = data.count / 3
        for i in stride(from: start, to: start + 6000, by: 188) {
            for j in 4..<188 where i + j < data.count {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                data[i + j] = UInt8(truncatingIfNeeded: state >> 33)
            }
        }
        try data.write(to: URL(fileURLWithPath: out))
        let source = try VideoSource(out)
        let frames = try readAll(source)
        #expect(frames.count >= 15)   // most of the 30 frames survive
        #expect(source.corruptPackets + source.corruptFrames > 0)
        // FFmpeg's complaints are kept for a failure report.
        #expect(!MediaLibrary.recentFFmpegLog().isEmpty)
    }

    @Test func audioPacketsAreQueuedWhenAsked() throws {
        var options = SourceOptions()
        options.keepAudio = true
        let source = try VideoSource(Clips.withAudio, options: options)
        let audio = try #require(source.info.audio)
        #expect(audio.codecName == "aac" && audio.sampleRate == 48000 && audio.channels == 1)
        var packets: [MediaPacket] = []
        var frames = 0
        while try source.nextFrame() != nil { frames += 1; packets += source.takeAudioPackets() }
        packets += source.takeAudioPackets()
        #expect(frames == 25)
        #expect(packets.count == (try countPackets(Clips.withAudio, stream: "a:0")))
        #expect(source.droppedAudioPackets == 0)

        // Off by default: nothing is queued.
        let quiet = try VideoSource(Clips.withAudio)
        _ = try readAll(quiet)
        #expect(quiet.takeAudioPackets().isEmpty)
    }

    /// A non-seekable pipe (what `-` is): MPEG-TS bytes fed by a writer thread through `pipe:N`.
    @Test func readsFromAPipe() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let data = try Data(contentsOf: URL(fileURLWithPath: Clips.resolutionChange))
        let writeFD = fds[1]
        let writer = Thread {
            data.withUnsafeBytes { raw in
                var off = 0
                while off < raw.count {
                    let n = write(writeFD, raw.baseAddress! + off, min(4096, raw.count - off))
                    if n <= 0 { break }
                    off += n
                }
            }
            close(writeFD)
        }
        writer.start()
        defer { close(fds[0]) }
        var options = SourceOptions()
        options.endOfStreamIsDone = true   // the writer closing the pipe is the end of the clip
        let source = try VideoSource("pipe:\(fds[0])", options: options)
        #expect(source.kind == .pipe(fd: fds[0]) && !source.info.isLive)
        let frames = try readAll(source)
        #expect(frames.count == 24)
        #expect(frames.map { $0.timestamp.value } == (try probeFrames(Clips.resolutionChange)).map { $0.pts ?? -1 })
    }

    @Test func unknownFormatOptionsAreReported() throws {
        var options = SourceOptions()
        options.formatOptions = ["no_such_option": "1", "probesize": "5000000"]
        let source = try VideoSource(Clips.basic, options: options)
        #expect(source.info.unusedOptions == ["no_such_option"])
    }

    /// The pipeline shape: decode on its own thread, convert on another (objects are handed over, never shared).
    @Test func stagesOnDifferentThreads() async throws {
        let source = try VideoSource(Clips.basic)
        let (frames, continuation) = AsyncStream.makeStream(of: VideoFrame.self)
        let decoder = Thread {
            while let f = try? source.nextFrame() { continuation.yield(f) }
            continuation.finish()
        }
        decoder.start()
        let converter = FrameConverter()
        let pixels = UnsafeMutablePointer<UInt8>.allocate(capacity: 3 * 32 * 32)
        defer { pixels.deallocate() }
        var count = 0
        for await f in frames {
            try converter.networkRGB24(f, width: 32, height: 32, into: pixels, rowStride: 3 * 32)
            count += 1
        }
        #expect(count == 20)
    }

    @Test func inputKinds() {
        #expect(InputKind("-") == .pipe(fd: 0))
        #expect(InputKind("pipe:5") == .pipe(fd: 5))
        #expect(InputKind("/dev/video0") == .device("/dev/video0"))
        #expect(InputKind("v4l2:///dev/video2") == .device("/dev/video2"))
        #expect(InputKind("rtsp://cam/stream") == .network(url: "rtsp://cam/stream", scheme: "rtsp"))
        #expect(InputKind("file:///tmp/a.mp4") == .file("/tmp/a.mp4"))
        #expect(InputKind("clip.mp4") == .file("clip.mp4"))
    }
}

@Suite struct SourceErrorTests {
    @Test func missingFile() throws {
        let e = try #require(throws: MediaError.self) { try VideoSource("/nonexistent/dir/clip.mp4") }
        #expect(e.kind == .noSuchInput && e.exitCode == 66)
        #expect(e.description.contains("/nonexistent/dir/clip.mp4") && e.description.contains("No such file"))
    }

    @Test func textFileIsNotAVideo() throws {
        let dir = try makeTempDir()
        let path = dir + "/notes.mp4"
        try "just some text\nnot a video\n".write(toFile: path, atomically: true, encoding: .utf8)
        let e = try #require(throws: MediaError.self) { try VideoSource(path) }
        #expect(e.kind == .invalidInput && e.exitCode == 65)
        #expect(e.description.contains(path) && e.description.contains("Invalid data"))
    }

    @Test(arguments: ["empty", "headerOnly"])
    func filesWithoutFramesAreInvalidInput(kind: String) throws {
        let dir = try makeTempDir()
        let path = dir + "/\(kind).mkv"
        if kind == "empty" {
            #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        } else {
            try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "0", "-c:v", "libx264"], output: path)
        }
        let e = try #require(throws: MediaError.self) { _ = try readAll(try VideoSource(path)) }
        #expect(e.kind == .invalidInput && e.exitCode == 65, "\(e)")
    }

    @Test func audioOnlyFileHasNoVideoStream() throws {
        let dir = try makeTempDir()
        let path = dir + "/tone.wav"
        try ffmpeg(["-f", "lavfi", "-i", "sine=duration=0.2"], output: path)
        let e = try #require(throws: MediaError.self) { try VideoSource(path) }
        #expect(e.kind == .invalidInput)
        #expect(e.description.contains("no video stream"))
    }

    @Test func missingDeviceIsUnavailable() throws {
        quietFFmpeg()
        let errorsBefore = MediaLibrary.ffmpegErrorCount
        let e = try #require(throws: MediaError.self) { try VideoSource("/dev/video99") }
        #expect(e.kind == .unavailable && e.exitCode == 69)
        // The v4l2 device's own error line is in the log ring, though not echoed (quiet).
        #expect(MediaLibrary.ffmpegErrorCount > errorsBefore)
        #expect(MediaLibrary.recentFFmpegLog().contains { $0.contains("/dev/video99") })
    }

    @Test func deadNetworkStreamTimesOut() throws {
        let server = try SilentTCPServer()
        var options = SourceOptions()
        options.openTimeout = 0.8
        let start = Date()
        let e = try #require(throws: MediaError.self) { try VideoSource("tcp://127.0.0.1:\(server.port)", options: options) }
        #expect(e.kind == .unavailable)
        #expect(Date().timeIntervalSince(start) < 5)
    }

    /// An HTTP source (with our default reconnect/timeout options) from a one-shot hand-written server.
    @Test func readsOverHTTP() throws {
        let server = try LiveSourceTests.serveOnce(try Data(contentsOf: URL(fileURLWithPath: Clips.resolutionChange)))
        var options = SourceOptions()
        options.endOfStreamIsDone = true   // a finite clip over HTTP: its end is the end
        let source = try VideoSource("http://127.0.0.1:\(server.port)/clip.ts", options: options)
        #expect(source.info.isLive && source.info.formatName == "mpegts")
        let frames = try readAll(source)
        #expect(frames.count == 24)
    }

    /// A stream that delivers some video and then goes silent (without closing) errors after `readTimeout`
    /// instead of hanging.
    @Test func stalledStreamTimesOutOnRead() throws {
        let server = try SilentTCPServer()
        let data = try Data(contentsOf: URL(fileURLWithPath: Clips.truncated.replacingOccurrences(of: "truncated", with: "full")))
        let listenFD = server.fd
        let feeder = Thread {
            let c = accept(listenFD, nil, nil)
            guard c >= 0 else { return }
            _ = data.withUnsafeBytes { write(c, $0.baseAddress!, $0.count) }
            Thread.sleep(forTimeInterval: 8)   // stall, connection open
            close(c)
        }
        feeder.start()
        var options = SourceOptions()
        options.openTimeout = 5
        options.readTimeout = 0.7
        let source = try VideoSource("tcp://127.0.0.1:\(server.port)", options: options)
        #expect(source.info.isLive)
        var frames = 0
        let start = Date()
        let e = try #require(throws: MediaError.self) { while try source.nextFrame() != nil { frames += 1 } }
        #expect(e.kind == .unavailable && e.description.contains("timed out"), "\(e)")
        #expect(frames > 0)
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func interruptStopsABlockingOpen() throws {
        let server = try SilentTCPServer()
        let interrupter = SourceInterrupter()
        let t = Thread { Thread.sleep(forTimeInterval: 0.3); interrupter.interrupt() }
        t.start()
        let start = Date()
        var options = SourceOptions()
        options.openTimeout = 30
        let e = try #require(throws: MediaError.self) {
            try VideoSource("tcp://127.0.0.1:\(server.port)", options: options, interrupter: interrupter)
        }
        #expect(e.kind == .interrupted && e.exitCode == 75)
        #expect(Date().timeIntervalSince(start) < 5)
    }
}

func toolData(_ name: String, _ args: [String]) throws -> Data {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [name] + args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return data
}

func dataOf(_ d: Data) -> [UInt8] { [UInt8](d) }

/// A TCP server on 127.0.0.1 that accepts (through the kernel backlog) and never sends a byte.
final class SilentTCPServer {
    let fd: Int32
    let port: UInt16
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
                bind(fd, sp, len) == 0 && listen(fd, 4) == 0 && getsockname(fd, sp, &len) == 0
            }
        }
        guard ok else { throw ToolError(message: "cannot listen") }
        port = UInt16(bigEndian: addr.sin_port)
    }
    deinit { close(fd) }
}
