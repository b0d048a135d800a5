import Foundation
import Testing

/// `segstream serve` as a daemon (issue #12), end to end: the built binary against real peers on loopback: a
/// gst-rtsp-server killed, restarted and stopped (tools/rtsp_test_server.py), looping files, and a unix datagram
/// socket as systemd's `NOTIFY_SOCKET`.
@Suite("segstream serve: the daemon (#12)", .serialized)
struct ServeDaemonTests {
    let model = CLI.tinyModel

    /// systemd's side of `sd_notify`: a bound `AF_UNIX` datagram socket, every datagram kept with its arrival time.
    final class NotifySocket: @unchecked Sendable {
        let path: String
        private let fd: Int32
        private let lock = NSLock()
        private var messages: [(Date, String)] = []

        init() throws {
            path = "/tmp/segstream-notify-\(UUID().uuidString.prefix(8))"
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard fd >= 0, bound == 0 else { throw POSIXError(.EADDRINUSE) }
            var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            Thread { [self] in
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n < 0 && errno != EAGAIN && errno != EINTR { break }
                    guard n > 0 else { continue }
                    let text = String(decoding: buffer[..<n], as: UTF8.self)
                    lock.lock(); messages.append((Date(), text)); lock.unlock()
                }
            }.start()
        }

        /// Every datagram so far, oldest first.
        var received: [(Date, String)] { lock.lock(); defer { lock.unlock() }; return messages }

        /// The datagrams' `KEY=value` lines, flattened.
        var assignments: [String] { received.flatMap { $0.1.split(separator: "\n").map(String.init) } }

        func wait(timeout: Double, until predicate: ([String]) -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if predicate(assignments) { return true }
                usleep(20_000)
            }
            return predicate(assignments)
        }

        deinit {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
            unlink(path)
        }
    }

    /// The JSON lines of one source's `frames.jsonl` (and its rotated files are not used here).
    static func lines(_ state: URL, _ source: String) -> [[String: Any]] {
        let path = state.appendingPathComponent(source).appendingPathComponent("frames.jsonl").path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Wall-clock times (`t`) of the frames a source wrote, and of its events named `event`.
    static func frameTimes(_ state: URL, _ source: String) -> [Double] {
        lines(state, source).filter { $0["type"] as? String == "frame" }.compactMap { $0["t"] as? Double }
    }

    static func events(_ state: URL, _ source: String) -> [[String: Any]] {
        lines(state, source).filter { $0["type"] as? String == "event" }
    }

    static func waitFor(_ timeout: Double, _ predicate: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if predicate() { return true }
            usleep(50_000)
        }
        return predicate()
    }

    /// A 64×48 clip at 25 fps, `seconds` long.
    static func clip(_ dir: URL, _ name: String, seconds: Int) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-t", "\(seconds)", "-c:v", "libx264",
                        "-preset", "ultrafast", "-g", "25", path])
        return path
    }

    /// Every recording segment under `state`: each must decode with no error (`ffmpeg -v error … -f null -`).
    static func checkSegments(_ state: URL) throws -> Int {
        let files = (FileManager.default.enumerator(atPath: state.path)?.allObjects as? [String] ?? [])
            .filter { $0.contains("/recordings/") && ($0.hasSuffix(".mp4") || $0.hasSuffix(".mkv")) }
        for file in files {
            let path = state.appendingPathComponent(file).path
            let result = try CLI.run("/usr/bin/ffmpeg", ["-v", "error", "-nostdin", "-i", path, "-f", "null", "-"])
            #expect(result.status == 0 && result.stderr.isEmpty, "\(file): \(result.stderr)")
        }
        return files.count
    }

    func config(state: URL, sources: String, backoffCap: String = "1s") -> String {
        """
        state_dir: \(state.path)
        backoff: {initial: 200ms, cap: \(backoffCap)}
        defaults:
          model: \(model)
          outputs: {recording: {segment: 2s}}
        sources:
        \(sources)
        """
    }

    @Test("an RTSP camera killed and restarted again and again: it recovers each time within the backoff cap + 5 s, the process never exits, the file source never stops; READY/STATUS/STOPPING reach NOTIFY_SOCKET; SIGTERM leaves every segment playable")
    func reconnects() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = dir.appendingPathComponent("state")
        let camClip = try RTSPCommandTests.clip(dir)
        let disk = try Self.clip(dir, "disk.mp4", seconds: 2)
        var server = try RTSPCommandTests.Server(serving: camClip)
        let port = server.port
        let file = dir.appendingPathComponent("serve.yaml").path
        try config(state: state, sources: """
              cam: {url: "\(server.url)", stall_timeout: 3s}
              disk: {url: \(disk), loop: true}
            """).write(toFile: file, atomically: true, encoding: .utf8)
        let notify = try NotifySocket()
        let daemon = try LiveProcess(["serve", "--config", file],
                                     environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"])
        #expect(notify.wait(timeout: 30) { $0.contains("READY=1") }, "READY=1: \(notify.assignments)")
        #expect(Self.waitFor(30) { Self.frameTimes(state, "cam").count >= 5 && Self.frameTimes(state, "disk").count >= 5 },
                "frames from both sources")
        let statusSeen = notify.wait(timeout: 10) { $0.contains { $0.hasPrefix("STATUS=2/2 sources up, ") } }
        #expect(statusSeen, "\(notify.assignments)")

        let cycles = Int(ProcessInfo.processInfo.environment["SEGSTREAM_SERVE_CYCLES"] ?? "") ?? 20
        let limit = 1.0 + 5  // backoff cap + 5 s
        var recoveries: [Double] = []
        defer {
            // For bench/serve_reconnect.sh: from the server's restart to the camera's first frame after it.
            let text = recoveries.isEmpty ? "none" : String(format: "mean %.2f s, max %.2f s", recoveries.reduce(0, +)
                / Double(recoveries.count), recoveries.max()!)
            print("serve reconnects: \(recoveries.count) cycles, recovery \(text)")
        }
        for cycle in 1...cycles {
            server.signal(SIGKILL)
            let killed = Date().timeIntervalSince1970
            usleep(300_000)
            var restarted: RTSPCommandTests.Server?
            for _ in 0..<20 where restarted == nil {  // the port may take a moment to be free again
                restarted = try? RTSPCommandTests.Server(serving: camClip, port: port)
                if restarted == nil { usleep(100_000) }
            }
            server = try #require(restarted, "cycle \(cycle): the RTSP server did not restart on port \(port)")
            let up = Date().timeIntervalSince1970
            let recovered = Self.waitFor(limit + 2) { Self.frameTimes(state, "cam").contains { $0 > up } }
            let first = Self.frameTimes(state, "cam").first { $0 > up }
            let took: Double = (first ?? .infinity) - up
            if recovered { recoveries.append(took) }
            #expect(recovered && took <= limit, "cycle \(cycle): cam's first frame came \(took) s after the restart")
            #expect(daemon.process.isRunning, "cycle \(cycle): the daemon exited")
            let diskDuring = Self.frameTimes(state, "disk").filter { $0 > killed && $0 <= (first ?? up) + 0.5 }
            #expect(diskDuring.count >= 2, "cycle \(cycle): disk wrote \(diskDuring.count) frames while cam was down")
            if !recovered { break }
        }
        let disconnects = Self.events(state, "cam").filter { $0["event"] as? String == "disconnected" }.count
        #expect(disconnects >= cycles, "cam disconnects seen: \(disconnects)")

        daemon.process.terminate()  // SIGTERM
        let end = daemon.finish(timeout: 30)
        #expect(!end.timedOut && daemon.process.terminationStatus == 0, "\(end.stderr.suffix(2000))")
        #expect(notify.assignments.contains("STOPPING=1"))
        // WATCHDOG_USEC 2 s: a ping every second while the loop ticks, cameras down or not.
        #expect(notify.assignments.filter { $0 == "WATCHDOG=1" }.count >= 5, "\(notify.assignments.filter { $0 == "WATCHDOG=1" }.count) pings")
        #expect(!end.stderr.contains("hunter2"))
        let segments = try Self.checkSegments(state)
        #expect(segments >= cycles, "recording segments: \(segments)")
    }

    @Test("a stalled RTSP server (SIGSTOP) is detected within the stall timeout, and the source comes back after SIGCONT")
    func stall() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = dir.appendingPathComponent("state")
        let server = try RTSPCommandTests.Server(serving: try RTSPCommandTests.clip(dir))
        let file = dir.appendingPathComponent("serve.yaml").path
        try config(state: state, sources: """
              cam: {url: "\(server.url)", stall_timeout: 2s}
            """).write(toFile: file, atomically: true, encoding: .utf8)
        let daemon = try LiveProcess(["serve", "--config", file])
        #expect(Self.waitFor(30) { Self.frameTimes(state, "cam").count >= 5 }, "frames from the server")
        server.signal(SIGSTOP)
        let stopped = Date().timeIntervalSince1970
        // The deadline is the stall timeout (2 s) from the last packet; the loop ticks once a second.
        func stallEvent() -> [String: Any]? {
            Self.events(state, "cam").first {
                ["disconnected", "stalled"].contains($0["event"] as? String ?? "") && ($0["t"] as? Double ?? 0) > stopped
            }
        }
        let detected = Self.waitFor(10) { stallEvent() != nil }
        let event = stallEvent()
        let after: Double = (event?["t"] as? Double ?? .infinity) - stopped
        let deadline: Double = 2 + 1 + 0.5
        #expect(detected && after <= deadline, "stall detected after \(after) s: \(String(describing: event))")
        let reason = String(describing: event?["reason"] ?? "")
        #expect(reason.contains("nothing for") || reason.contains("no frame decoded"), "reason: \(reason)")
        server.signal(SIGCONT)
        let resumed = Date().timeIntervalSince1970
        #expect(Self.waitFor(1 + 5 + 2) { Self.frameTimes(state, "cam").contains { $0 > resumed } }, "frames after SIGCONT")
        let back = (Self.frameTimes(state, "cam").first { $0 > resumed } ?? .infinity) - resumed
        #expect(back <= 1 + 5, "back \(back) s after SIGCONT (backoff cap 1 s + 5 s)")
        daemon.process.terminate()
        let end = daemon.finish(timeout: 30)
        #expect(!end.timedOut && daemon.process.terminationStatus == 0, "\(end.stderr.suffix(2000))")
        _ = try Self.checkSegments(state)
    }

    @Test("SIGHUP with a changed configuration adds a source, removes one, restarts the changed one and leaves the others untouched; an invalid one keeps everything running with one error line")
    func reload() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = dir.appendingPathComponent("state")
        let clip = try Self.clip(dir, "clip.mp4", seconds: 2)
        let file = dir.appendingPathComponent("serve.yaml").path
        /// Sources `a`, `b`, `c` at 10 fps; `d` at `dFPS`.
        func write(_ sources: [String], dFPS: Int = 10) throws {
            try config(state: state, sources: sources.map {
                "  \($0): {url: \(clip), loop: true, fps: \($0 == "d" ? dFPS : 10), outputs: {masks: {enabled: true, every: 2, keep_count: 3}}}"
            }.joined(separator: "\n")).write(toFile: file, atomically: true, encoding: .utf8)
        }
        try write(["a", "b", "d"])
        let notify = try NotifySocket()
        let daemon = try LiveProcess(["serve", "--config", file], environment: ["NOTIFY_SOCKET": notify.path])
        #expect(notify.wait(timeout: 30) { $0.contains("READY=1") })
        #expect(Self.waitFor(30) { Self.frameTimes(state, "a").count >= 3 && Self.frameTimes(state, "b").count >= 3 })

        try write(["a", "c", "d"], dFPS: 5)
        let hup = Date().timeIntervalSince1970
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(notify.wait(timeout: 20) { a in
            guard let r = a.lastIndex(of: "RELOADING=1") else { return false }
            return a[r...].contains { $0.hasPrefix("MONOTONIC_USEC=") } && a[r...].contains("READY=1")
        }, "\(notify.assignments)")
        #expect(Self.waitFor(20) { Self.frameTimes(state, "c").count >= 3 }, "the added source c runs")
        let removedAt = Self.events(state, "b").first { $0["event"] as? String == "removed" }?["t"] as? Double
        #expect(removedAt != nil, "b was removed: \(Self.events(state, "b"))")
        #expect(!Self.events(state, "a").contains { ($0["t"] as? Double ?? 0) > hup }, "a was not touched: \(Self.events(state, "a"))")
        // d's fps changed: its connection was closed and a new one opened.
        #expect(Self.waitFor(10) {
            let after = Self.events(state, "d").filter { ($0["t"] as? Double ?? 0) > hup }.compactMap { $0["event"] as? String }
            return after.first == "restarted" && after.contains("connected")
        }, "d restarted: \(Self.events(state, "d"))")

        try "sources: [not, a, mapping\n".write(toFile: file, atomically: true, encoding: .utf8)
        let reloads = notify.assignments.filter { $0 == "READY=1" }.count
        let bad = Date().timeIntervalSince1970
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(notify.wait(timeout: 20) { $0.filter { $0 == "READY=1" }.count > reloads }, "READY=1 after the failed reload")
        #expect(Self.waitFor(10) { Self.frameTimes(state, "a").filter { $0 > bad + 0.5 }.count >= 2 }, "a keeps running")
        #expect(Self.waitFor(10) { Self.frameTimes(state, "c").filter { $0 > bad + 0.5 }.count >= 2 }, "c keeps running")
        #expect(daemon.process.isRunning)

        daemon.process.terminate()
        let end = daemon.finish(timeout: 30)
        #expect(!end.timedOut && daemon.process.terminationStatus == 0, "\(end.stderr.suffix(2000))")
        let errors = end.stderr.split(separator: "\n").filter { $0.contains("reload: the new configuration is invalid") }
        #expect(errors.count == 1, "\(end.stderr.suffix(2000))")
        // b's frames in flight at the removal finished (drain), then its connection closed and nothing came after.
        let bLines = Self.lines(state, "b")
        let closed = bLines.lastIndex { $0["event"] as? String == "closed" }
        #expect(closed != nil && !bLines[(closed ?? 0)...].contains { $0["type"] as? String == "frame" }, "b after its removal")
        #expect(removedAt != nil)
        #expect(try Self.checkSegments(state) >= 3)
        let masks = (try? FileManager.default.contentsOfDirectory(atPath: state.appendingPathComponent("a/masks").path)) ?? []
        #expect((1...3).contains(masks.filter { $0.hasSuffix(".png") }.count), "masks kept: \(masks)")
    }

    @Test("a resolution change mid-stream starts a new segment at the new size; keep_count deletes the oldest; every segment plays")
    func resolutionChange() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = dir.appendingPathComponent("state")
        let small = dir.appendingPathComponent("small.ts").path, large = dir.appendingPathComponent("large.ts").path
        for (path, size) in [(small, "64x48"), (large, "96x64")] {
            try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=\(size):rate=25", "-t", "1", "-c:v", "libx264", "-preset",
                            "ultrafast", "-g", "25", "-output_ts_offset", size == "64x48" ? "0" : "1", path])
        }
        let both = dir.appendingPathComponent("both.ts").path
        try (try Data(contentsOf: URL(fileURLWithPath: small)) + Data(contentsOf: URL(fileURLWithPath: large)))
            .write(to: URL(fileURLWithPath: both))
        let file = dir.appendingPathComponent("serve.yaml").path
        try config(state: state, sources: """
              cam: {url: \(both), loop: true, outputs: {recording: {segment: 10s, keep_count: 3}}}
            """).write(toFile: file, atomically: true, encoding: .utf8)
        let daemon = try LiveProcess(["serve", "--config", file])
        // A segment per size per loop: after two loops and five frames, five segments were written and the two oldest
        // deleted (keep_count 3).
        #expect(Self.waitFor(30) { Self.frameTimes(state, "cam").count >= 50 * 2 + 5 }, "two loops")
        daemon.process.terminate()
        let end = daemon.finish(timeout: 30)
        #expect(!end.timedOut && daemon.process.terminationStatus == 0, "\(end.stderr.suffix(2000))")
        #expect(try Self.checkSegments(state) == 3)
        // Every connection (one per loop) recorded its counts, also those replaced at once by the next loop.
        let events = Self.events(state, "cam").compactMap { $0["event"] as? String }
        #expect(events.filter { $0 == "connected" }.count >= 3)
        #expect(events.filter { $0 == "closed" }.count == events.filter { $0 == "connected" }.count, "\(events)")
        let recordings = state.appendingPathComponent("cam/recordings")
        let sizes = try FileManager.default.contentsOfDirectory(atPath: recordings.path).sorted().map { name -> String in
            let video = CLI.streams(try CLI.probe(recordings.appendingPathComponent(name).path, frames: false), type: "video").first
            return "\(video?["width"] ?? 0)x\(video?["height"] ?? 0)"
        }
        #expect(sizes.contains("64x48") && sizes.contains("96x64"), "segment sizes: \(sizes)")
    }

    /// The recording segments of `source`, oldest first (their names are their wall-clock start).
    static func segments(_ state: URL, _ source: String) -> [String] {
        let dir = state.appendingPathComponent(source).appendingPathComponent("recordings")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".mp4") }.sorted().map { dir.appendingPathComponent($0).path }
    }

    /// Whether a fragmented MP4 has at least one fragment (`moof`) on disk.
    static func hasFragment(_ path: String) -> Bool {
        (FileManager.default.contents(atPath: path)?.range(of: Data("moof".utf8))) != nil
    }

    @Test("SIGKILL while recording: every closed segment decodes without an error, the open one up to its last fragment")
    func killed() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = dir.appendingPathComponent("state")
        let disk = try Self.clip(dir, "disk.mp4", seconds: 10)
        let file = dir.appendingPathComponent("serve.yaml").path
        // 2 s segments: the open one gets its first fragment (frag_duration 1 s) a second before it closes.
        try config(state: state, sources: """
              disk: {url: \(disk), loop: true, outputs: {recording: {segment: 2s}}}
            """).write(toFile: file, atomically: true, encoding: .utf8)
        let daemon = try LiveProcess(["serve", "--config", file])
        var seen: [String] = []
        let ready = Self.waitFor(40) {
            seen = Self.segments(state, "disk")
            return seen.count >= 3 && Self.hasFragment(seen.last!)
        }
        #expect(ready, "two closed segments and an open one with a fragment: \(seen)")
        kill(daemon.process.processIdentifier, SIGKILL)
        let end = daemon.finish(timeout: 10)
        #expect(daemon.process.terminationReason == .uncaughtSignal && daemon.process.terminationStatus == SIGKILL,
                "\(end.stderr.suffix(2000))")
        let after = Self.segments(state, "disk")
        #expect(after == seen, "no segment was started between the check and the kill: \(seen) → \(after)")
        guard let open = after.last, after.count >= 3 else { return }
        for closed in after.dropLast() {
            let result = try CLI.run("/usr/bin/ffmpeg", ["-v", "error", "-nostdin", "-i", closed, "-f", "null", "-"])
            #expect(result.status == 0 && result.stderr.isEmpty, "\(closed): \(result.stderr)")
        }
        // The open segment: FFmpeg reads it up to its last complete fragment (a cut-off tail may be reported).
        let decode = try CLI.run("/usr/bin/ffmpeg", ["-v", "error", "-nostdin", "-i", open, "-f", "null", "-"])
        let count = try CLI.run("/usr/bin/ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0",
                                                     "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", open])
        let frames = Int(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        print("serve SIGKILL: open segment \(frames) frames decodable; ffmpeg said: \(decode.stderr.isEmpty ? "nothing" : decode.stderr)")
        #expect(frames > 0, "open segment \(open): \(count.stdout) \(count.stderr) \(decode.stderr)")
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, closed).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, ok else { throw POSIXError(.EADDRNOTAVAIL) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Real FFmpeg as an HTTP server on loopback: `clip` looped in real time as MPEG-TS to the first client
    /// (`-listen 1` serves one client, then exits: restart it for the next connection).
    final class HTTPServer {
        let process = Process()
        let url: String

        init(serving clip: String, port: Int) throws {
            url = "http://127.0.0.1:\(port)/"
            process.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
            process.arguments = ["-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", clip, "-c", "copy",
                                 "-flush_packets", "1", "-f", "mpegts", "-listen", "1", url]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

        deinit {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    @Test("an HTTP MPEG-TS stream (ffmpeg -listen) killed and restarted: a disconnected line, the daemon keeps running, the source recovers within the backoff cap + 5 s")
    func httpPeer() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = dir.appendingPathComponent("state")
        let camClip = try RTSPCommandTests.clip(dir)
        let port = try Self.freePort()
        var server = try HTTPServer(serving: camClip, port: port)
        let file = dir.appendingPathComponent("serve.yaml").path
        try config(state: state, sources: """
              cam: {url: "\(server.url)", stall_timeout: 3s}
            """).write(toFile: file, atomically: true, encoding: .utf8)
        let daemon = try LiveProcess(["serve", "--config", file])
        #expect(Self.waitFor(30) { Self.frameTimes(state, "cam").count >= 5 }, "frames from the HTTP server")
        let limit = 1.0 + 5  // backoff cap + 5 s
        for cycle in 1...2 {
            server.signal(SIGKILL)
            let killed = Date().timeIntervalSince1970
            let backingOff = Self.waitFor(10) {
                Self.events(state, "cam").contains { $0["event"] as? String == "disconnected" && ($0["t"] as? Double ?? 0) > killed }
            }
            #expect(backingOff, "cycle \(cycle): no disconnected line: \(Self.events(state, "cam").suffix(3))")
            let lost = Self.events(state, "cam").first { $0["event"] as? String == "disconnected" && ($0["t"] as? Double ?? 0) > killed }
            print("serve HTTP peer: cycle \(cycle) disconnected \((lost?["t"] as? Double ?? .infinity) - killed) s after the kill: \(lost?["reason"] ?? "-")")
            #expect(daemon.process.isRunning, "cycle \(cycle): the daemon exited")
            var restarted: HTTPServer?
            for _ in 0..<20 where restarted == nil {  // the port may take a moment to be free again
                let candidate = try HTTPServer(serving: camClip, port: port)
                usleep(300_000)
                if candidate.process.isRunning { restarted = candidate }
            }
            server = try #require(restarted, "cycle \(cycle): the HTTP server did not restart on port \(port)")
            let up = Date().timeIntervalSince1970 - 0.3
            let recovered = Self.waitFor(limit + 2) { Self.frameTimes(state, "cam").contains { $0 > up } }
            let took: Double = (Self.frameTimes(state, "cam").first { $0 > up } ?? .infinity) - up
            print("serve HTTP peer: cycle \(cycle) recovered \(took) s after the restart")
            #expect(recovered && took <= limit, "cycle \(cycle): cam's first frame came \(took) s after the restart")
            if !recovered { break }
        }
        daemon.process.terminate()
        let end = daemon.finish(timeout: 30)
        #expect(!end.timedOut && daemon.process.terminationStatus == 0, "\(end.stderr.suffix(2000))")
        _ = try Self.checkSegments(state)
    }

    @Test("a configuration error at start: exit 78, every problem on stderr")
    func badConfigAtStart() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("serve.yaml").path
        try "sources:\n  cam: {url: \"rtsp://u:hunter2@127.0.0.1:1/x\", fps: fast}\n".write(toFile: file, atomically: true, encoding: .utf8)
        let result = try CLI.run(CLI.binary, ["serve", "--config", file, "--state-dir", dir.path], timeout: 30)
        #expect(result.status == 78, "\(result.stderr)")
        #expect(result.stderr.contains("source cam: fps:"), "\(result.stderr)")
        #expect(!result.stderr.contains("hunter2"))
    }
}
