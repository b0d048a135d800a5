import Foundation
import Testing
@testable import SegMedia

/// Issue #11, sources: the end of a live source is not success, and every wait on input has a deadline that
/// a stop request beats and that the message reports truthfully.
@Suite struct LiveSourceTests {
    /// 30 s of MPEG-TS at 10 fps, 64x48: half of it is more than FFmpeg's probing wants (5 s), so a stall in
    /// the second half happens while reading frames, not while opening.
    static let longClip: Data = {
        let path = scratchRoot + "/live-long.ts"
        if !FileManager.default.fileExists(atPath: path) {
            try? ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "30", "-c:v", "libx264", "-preset",
                         "ultrafast"], output: path + ".tmp.ts")
            _ = rename(path + ".tmp.ts", path)
        }
        return (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
    }()

    /// A pipe fed by a thread: `data`, then either closed or held open (stalled) for `stall` seconds, then
    /// `rest` written and closed. `resumedAt` is when the write of `rest` began (monotonic seconds).
    final class PipeFeeder: @unchecked Sendable {
        let readFD: Int32
        private let writeFD: Int32
        let resumed = LockedValue<Double>()
        init(_ data: Data, stall: Double?, rest: Data = Data()) {
            var fds: [Int32] = [0, 0]
            precondition(pipe(&fds) == 0)
            readFD = fds[0]
            writeFD = fds[1]
            let w = writeFD
            let resumed = resumed
            @Sendable func send(_ bytes: Data) {
                bytes.withUnsafeBytes { raw in
                    var off = 0
                    while off < raw.count {
                        let n = write(w, raw.baseAddress! + off, min(4096, raw.count - off))
                        if n <= 0 { break }
                        off += n
                    }
                }
            }
            Thread {
                send(data)
                if let stall { Thread.sleep(forTimeInterval: stall) }
                resumed.set(monotonicSeconds())
                send(rest)
                close(w)
            }.start()
        }
        deinit { close(readFD) }
    }

    /// One HTTP response with the whole clip, then a clean close (Content-Length given, Connection: close).
    static func serveOnce(_ body: Data) throws -> SilentTCPServer {
        let server = try SilentTCPServer()
        let listenFD = server.fd
        Thread {
            let c = accept(listenFD, nil, nil)
            guard c >= 0 else { return }
            var req = [UInt8](repeating: 0, count: 4096)
            _ = read(c, &req, req.count)
            let head = "HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
            _ = Array(head.utf8).withUnsafeBytes { write(c, $0.baseAddress!, $0.count) }
            _ = body.withUnsafeBytes { write(c, $0.baseAddress!, $0.count) }
            close(c)
        }.start()
        return server
    }

    @Test("an HTTP stream that closes cleanly is an error (unavailable, 69) unless its end counts as done")
    func httpEndIsAnError() throws {
        quietFFmpeg()
        let body = try Data(contentsOf: URL(fileURLWithPath: Clips.resolutionChange))
        let server = try Self.serveOnce(body)
        let source = try VideoSource("http://127.0.0.1:\(server.port)/clip.ts")
        var frames = 0
        let e = try #require(throws: MediaError.self) { while try source.nextFrame() != nil { frames += 1 } }
        #expect(e.kind == .unavailable && e.exitCode == 69)
        #expect(e.description.hasPrefix("input ended 'http://127.0.0.1:") && e.description.contains("server ended the stream"), "\(e)")
        #expect(frames == 24, "every frame before the end is still delivered")
    }

    @Test("a pipe closed by its writer is an error unless its end counts as done; a redirected file is a file")
    func pipeEnd() throws {
        quietFFmpeg()
        let body = try Data(contentsOf: URL(fileURLWithPath: Clips.resolutionChange))
        var feeder = PipeFeeder(body, stall: nil)
        defer { withExtendedLifetime(feeder) {} }
        var source = try VideoSource("pipe:\(feeder.readFD)")
        let e = try #require(throws: MediaError.self) { while try source.nextFrame() != nil {} }
        #expect(e.kind == .unavailable && e.description.contains("the pipe was closed by its writer after 24 frames"), "\(e)")
        feeder = PipeFeeder(body, stall: nil)
        var options = SourceOptions()
        options.endOfStreamIsDone = true
        source = try VideoSource("pipe:\(feeder.readFD)", options: options)
        var n = 0
        while try source.nextFrame() != nil { n += 1 }
        #expect(n == 24)
        let fd = open(Clips.resolutionChange, O_RDONLY)
        defer { close(fd) }
        source = try VideoSource("pipe:\(fd)")
        n = 0
        while try source.nextFrame() != nil { n += 1 }
        #expect(n == 24)
    }

    @Test("a pipe that stalls mid-stream times out after readTimeout, and the message says how long it waited")
    func stalledPipeTimesOut() throws {
        quietFFmpeg()
        let body = Self.longClip
        let feeder = PipeFeeder(body.prefix(body.count / 2), stall: 20)
        defer { withExtendedLifetime(feeder) {} }   // its deinit closes the pipe
        var options = SourceOptions()
        options.readTimeout = 0.6
        let source = try VideoSource("pipe:\(feeder.readFD)", options: options)
        var frames = 0
        var start = Date()
        let e = try #require(throws: MediaError.self) {
            while try source.nextFrame() != nil { frames += 1; start = Date() }
        }
        let waited = Date().timeIntervalSince(start)
        #expect(e.kind == .unavailable, "\(e)")
        #expect(e.description.contains("nothing for 0.6 s (limit 0.6 s)") || e.description.contains("nothing for 0.7 s (limit 0.6 s)"), "\(e)")
        #expect(frames > 0 && waited < 2, "\(frames) frames, then \(waited) s")
    }

    @Test("a frame arrives when its packet is read: a frame sent after a stall is stamped after it")
    func arrivalTimeIsThePacketRead() throws {
        quietFFmpeg()
        let body = Self.longClip
        let stall = 0.8
        let feeder = PipeFeeder(body.prefix(body.count / 2), stall: stall, rest: body.suffix(from: body.count / 2))
        defer { withExtendedLifetime(feeder) {} }
        var options = SourceOptions()
        options.endOfStreamIsDone = true
        options.live = true   // as a camera: no frame-threaded decoding, which holds frames back (docs/segmedia.md)
        let source = try VideoSource("pipe:\(feeder.readFD)", options: options)
        var longest = (wait: 0.0, called: 0.0, arrived: 0.0, returned: 0.0)
        var frames = 0
        while true {
            let called = monotonicSeconds()
            guard let frame = try source.nextFrame() else { break }
            let returned = monotonicSeconds()
            frames += 1
            #expect(frame.arrivedAt <= returned, "frame \(frames) arrived after it was returned")
            if returned - called > longest.wait { longest = (returned - called, called, frame.arrivedAt, returned) }
        }
        let resumedAt = try #require(feeder.resumed.get())
        #expect(frames == 300)
        // The call that waited out the stall returned a frame whose packet came after it: its latency starts
        // then, not when the call began.
        #expect(longest.wait > stall * 0.7, "no call waited for the stall: \(longest)")
        #expect(longest.arrived >= resumedAt && longest.arrived - longest.called > stall * 0.7, "\(longest), resumed \(resumedAt)")
    }

    @Test("a pipe that never sends times out while opening (pipes have deadlines by default too)")
    func silentPipeOpenTimesOut() throws {
        quietFFmpeg()
        let feeder = PipeFeeder(Data(), stall: 20)
        defer { withExtendedLifetime(feeder) {} }
        var options = SourceOptions()
        options.openTimeout = 0.5
        let start = Date()
        let e = try #require(throws: MediaError.self) { try VideoSource("pipe:\(feeder.readFD)", options: options) }
        #expect(e.kind == .unavailable && e.description.contains("timed out after 0.5 s (limit 0.5 s)"), "\(e)")
        #expect(Date().timeIntervalSince(start) < 2)
    }

    @Test("interrupt() stops a read blocked on a stalled pipe within 0.5 s")
    func interruptStopsAStalledPipe() throws {
        quietFFmpeg()
        let body = Self.longClip
        let feeder = PipeFeeder(body.prefix(body.count / 2), stall: 20)
        defer { withExtendedLifetime(feeder) {} }   // its deinit closes the pipe
        var options = SourceOptions()
        options.readTimeout = .infinity
        let source = try VideoSource("pipe:\(feeder.readFD)", options: options)
        let stopAt = LockedValue<Date>()
        Thread {
            Thread.sleep(forTimeInterval: 0.8)
            stopAt.set(Date())
            source.interrupter.interrupt()
        }.start()
        let e = try #require(throws: MediaError.self) { while try source.nextFrame() != nil {} }
        #expect(e.kind == .interrupted, "\(e)")
        #expect(Date().timeIntervalSince(stopAt.get() ?? .distantPast) < 0.5)
    }
}

final class LockedValue<Value>: @unchecked Sendable {
    private var value: Value?
    private let lock = NSLock()
    func set(_ v: Value) { lock.lock(); value = v; lock.unlock() }
    func get() -> Value? { lock.lock(); defer { lock.unlock() }; return value }
}
