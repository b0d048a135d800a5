import Foundation
import Testing

/// `segstream serve` and MQTT (issue #13, docs/mqtt.md), end to end: the built binary against a real mosquitto
/// broker started on a free loopback port, watched by a real `mosquitto_sub`.
@Suite("segstream serve: MQTT (#13)", .serialized)
struct ServeMQTTTests {
    /// A mosquitto broker on 127.0.0.1:`port`, no persistence (a restart forgets every retained message).
    final class Broker {
        let port: Int
        let directory: URL
        /// With a user, only that user and password may connect (a mosquitto_passwd file); else anyone.
        let user: (name: String, password: String)?
        private var process: Process?

        init(directory: URL, port: Int? = nil, user: (name: String, password: String)? = nil) throws {
            self.directory = directory
            self.port = try port ?? ServeDaemonTests.freePort()
            self.user = user
            try start()
        }

        func start() throws {
            let conf = directory.appendingPathComponent("mosquitto-\(port).conf")
            var text = "listener \(port) 127.0.0.1\npersistence false\n"
            if let user {
                let passwords = directory.appendingPathComponent("mosquitto-\(port).passwd").path
                let made = try CLI.run("/usr/bin/mosquitto_passwd", ["-b", "-c", passwords, user.name, user.password])
                #expect(made.status == 0, "mosquitto_passwd: \(made.stderr)")
                text += "allow_anonymous false\npassword_file \(passwords)\n"
            } else {
                text += "allow_anonymous true\n"
            }
            try text.write(to: conf, atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/mosquitto")
            process.arguments = ["-c", conf.path]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            self.process = process
            // Listening once a TCP connect succeeds.
            let up = ServeDaemonTests.waitFor(10) { Self.canConnect(self.port) }
            if !up { throw POSIXError(.ECONNREFUSED) }
        }

        func kill() {
            guard let process else { return }
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            self.process = nil
        }

        static func canConnect(_ port: Int) -> Bool {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
        }

        deinit { kill() }
    }

    /// One MQTT message as `mosquitto_sub -F '%r %t %p'` prints it.
    struct Message {
        let arrived: Date
        let retained: Bool
        let topic: String
        let payload: String
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] }
    }

    /// `mosquitto_sub` on `PREFIX/#`: every message with its retained flag.
    final class Subscriber {
        let process: LiveProcess

        init(port: Int, topic: String = "segstream/#", user: (name: String, password: String)? = nil) throws {
            let login = user.map { ["-u", $0.name, "-P", $0.password] } ?? []
            process = try LiveProcess(["-h", "127.0.0.1", "-p", "\(port)", "-t", topic, "-q", "1", "-F", "%r %t %p"] + login,
                                      executable: "/usr/bin/mosquitto_sub")
        }

        var messages: [Message] {
            process.received.compactMap { (date, line) in
                let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
                guard parts.count >= 2 else { return nil }
                return Message(arrived: date, retained: parts[0] == "1", topic: String(parts[1]),
                               payload: parts.count > 2 ? String(parts[2]) : "")
            }
        }

        func on(_ topic: String) -> [Message] { messages.filter { $0.topic == topic } }

        /// The latest payload on `topic`.
        func last(_ topic: String) -> String? { on(topic).last?.payload }

        func wait(_ timeout: Double, until predicate: ([Message]) -> Bool) -> Bool {
            ServeDaemonTests.waitFor(timeout) { predicate(messages) }
        }

        /// SIGKILL: a child of the test runner inherits its blocked signals, so SIGTERM would only time out.
        func stop() {
            kill(process.process.processIdentifier, SIGKILL)
            _ = process.finish(timeout: 5)
        }
    }

    /// Road (train id 0) fractions of the ground truth in the bottom 30 % of each frame (pixel centres at y ≥ 0.7),
    /// for the first `frames` frames of samples/drive.mp4, upright and then flipped upside down.
    static func groundTruthRoad(frames: Int) throws -> [Double] {
        let gt = CLI.packageRoot.appendingPathComponent("samples/drive_gtFine_labelTrainIds.mkv").path
        let (w, h) = (1024, 512)
        let data = try rawFrames(gt, frames: frames)
        #expect(data.count == w * h * frames, "ground truth: \(data.count) bytes")
        func fraction(_ frame: Int, rows: Range<Int>) -> Double {
            var road = 0
            for y in rows { for x in 0..<w where data[(frame * h + y) * w + x] == 0 { road += 1 } }
            return Double(road) / Double(rows.count * w)
        }
        let bottom = 358..<512  // (y + 0.5) / 512 ≥ 0.7
        let flippedBottom = 0..<154  // rows that a vertical flip puts there
        return (0..<frames).map { fraction($0, rows: bottom) } + (0..<frames).map { fraction($0, rows: flippedBottom) }
    }

    static func rawFrames(_ path: String, frames: Int) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        process.arguments = ["-v", "error", "-nostdin", "-i", path, "-frames:v", "\(frames)", "-f", "rawvideo",
                             "-pix_fmt", "gray", "-"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return [UInt8](data)
    }

    /// The same hysteresis as docs/mqtt.md describes, run over known fractions: the frame indices of the
    /// transitions.
    static func transitions(_ fractions: [Double], enter: (Double, Int), leave: (Double, Int)) -> [(String, Int)] {
        var active = false, run = 0
        var result: [(String, Int)] = []
        for (i, f) in fractions.enumerated() {
            if active ? f <= leave.0 : f >= enter.0 { run += 1 } else { run = 0 }
            if run >= (active ? leave.1 : enter.1) {
                active.toggle()
                run = 0
                result.append((active ? "enter" : "leave", i))
            }
        }
        return result
    }

    @Test("a broker that requires a password: availability, summaries at the configured rate with every documented field, enter and leave events where the ground truth has them; no credential in any topic, payload or log line")
    func messages() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let secrets = ["Sup3rSecretCam", "Tok3nValue99", "BrokerPa55word"]
        // The broker takes only `seg` with its password: the daemon's credentials must reach it.
        let account = (name: "seg", password: secrets[2])
        let broker = try Broker(directory: dir, user: account)
        let sub = try Subscriber(port: broker.port, user: account)
        defer { sub.stop() }
        // 2 s of the sample (road at the bottom), then the same 2 s upside down (sky at the bottom), at 256×128.
        let clip = dir.appendingPathComponent("flip.mp4").path
        try CLI.ffmpeg(["-t", "2", "-i", CLI.packageRoot.appendingPathComponent("samples/drive.mp4").path,
                        "-filter_complex", "[0:v]scale=256:128,split[a][b];[b]vflip[f];[a][f]concat=n=2:v=1",
                        "-c:v", "libx264", "-preset", "ultrafast", "-g", "20", clip])
        let deadPort = try ServeDaemonTests.freePort()
        let state = dir.appendingPathComponent("state")
        let config = dir.appendingPathComponent("serve.yaml")
        try """
            state_dir: \(state.path)
            backoff: {initial: 200ms, cap: 1s}
            mqtt: {host: 127.0.0.1, port: \(broker.port), username: seg, password: "${SEG_MQTT_PASSWORD}", summary_interval: 500ms}
            defaults:
              model: \(CLI.packageRoot.appendingPathComponent("models/sfnet-df1-synth-int8.safetensors").path)
              scale: 0.5
              outputs: {recording: {enabled: false}}
            sources:
              drive:
                url: \(clip)
                events:
                  - {name: road_ahead, class: road, region: [0, 0.7, 1, 1], enter: {fraction: 0.3, frames: 3}, leave: {fraction: 0.1, frames: 3}}
              locked:
                url: rtsp://admin:\(secrets[0])@127.0.0.1:\(deadPort)/cam?token=\(secrets[1])
                stall_timeout: 2s
            """.write(to: config, atomically: true, encoding: .utf8)
        let daemon = try LiveProcess(["serve", "--config", config.path], environment: ["SEG_MQTT_PASSWORD": secrets[2]])

        #expect(sub.wait(20) { $0.contains { $0.topic == "segstream/availability" && $0.payload == "online" } })
        #expect(sub.wait(20) { $0.contains { $0.topic == "segstream/drive/availability" && $0.payload == "online" } })
        // The clip is 4 s: the file ends, the source goes offline (a file that does not loop).
        #expect(sub.wait(30) { $0.last { $0.topic == "segstream/drive/availability" }?.payload == "offline" })
        kill(daemon.process.processIdentifier, SIGTERM)
        let end = daemon.finish(timeout: 30)
        #expect(daemon.process.terminationStatus == 0, "\(end.stderr)")
        #expect(sub.wait(5) { $0.last { $0.topic == "segstream/availability" }?.payload == "offline" })
        let messages = sub.messages

        // Availability: retained strings only; `locked` never connected, so it stayed offline.
        #expect(messages.filter { $0.topic.hasSuffix("/availability") }.allSatisfy { ["online", "offline"].contains($0.payload) })
        #expect(!messages.contains { $0.topic == "segstream/locked/availability" && $0.payload == "online" })
        #expect(sub.last("segstream/locked/availability") == "offline")

        // Summaries: every field, never more often than the interval, fractions summing to 1.
        let summaries = sub.on("segstream/drive/summary").compactMap(\.json)
        #expect(summaries.count >= 4, "\(summaries.count) summaries in 4 s at 500 ms")
        for s in summaries {
            for key in ["source", "time", "pts", "frame", "width", "height", "fps", "frames", "latency_ms", "latency_ms_mean", "classes", "active"] {
                #expect(s[key] != nil, "summary without \(key): \(s)")
            }
            #expect(s["source"] as? String == "drive" && s["width"] as? Int == 256 && s["height"] as? Int == 128)
            let classes = s["classes"] as? [String: Double] ?? [:]
            #expect(abs(classes.values.reduce(0, +) - 1) < 0.001, "\(classes)")
            #expect((s["fps"] as? Double ?? 0) > 0 && (s["frames"] as? Int ?? 0) > 0)
        }
        let times = summaries.compactMap { $0["time"] as? Double }
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        #expect(gaps.allSatisfy { $0 >= 0.499 }, "summary gaps \(gaps)")
        print("mqtt summaries: \(summaries.count), gaps \(gaps.map { String(format: "%.2f", $0) })")

        // Events: what the ground truth predicts with the same rule, within 5 frames (0.25 s).
        let truth = Self.transitions(try Self.groundTruthRoad(frames: 40), enter: (0.3, 3), leave: (0.1, 3))
        #expect(truth.map(\.0) == ["enter", "leave"], "ground truth transitions \(truth)")
        let events = sub.on("segstream/drive/events").compactMap(\.json)
        #expect(events.map { $0["type"] as? String ?? "?" } == ["enter", "leave"], "\(events)")
        for (event, expected) in zip(events, truth) {
            let pts = event["pts"] as? Double ?? -1
            #expect(abs(pts - Double(expected.1) * 0.05) <= 0.25, "\(event) vs ground truth frame \(expected.1)")
            #expect(event["rule"] as? String == "road_ahead" && event["class"] as? String == "road")
            #expect(event["source"] as? String == "drive" && event["fraction"] is Double && event["time"] is Double)
        }
        print("mqtt events: \(events.map { "\($0["type"] ?? "?") at \($0["pts"] ?? "-")" }), ground truth frames \(truth)")

        // Credentials: in no topic, no payload, no log line.
        let everything = messages.map { $0.topic + " " + $0.payload }.joined(separator: "\n") + end.stderr
        for secret in secrets { #expect(!everything.contains(secret), "\(secret) leaked") }
        #expect(end.stderr.contains("rtsp://admin:***@"), "the failing camera is logged, redacted")

        // A wrong password: refused, retried with backoff, logged without the password; video goes on.
        let wrong = dir.appendingPathComponent("wrong.yaml")
        try """
            state_dir: \(dir.appendingPathComponent("state-wrong").path)
            backoff: {initial: 200ms, cap: 1s}
            mqtt: {host: 127.0.0.1, port: \(broker.port), username: seg, password: NotTheRightOne}
            defaults: {model: \(CLI.tinyModel), outputs: {recording: {enabled: false}}}
            sources: {cam: {url: \(try ServeDaemonTests.clip(dir, "small.mp4", seconds: 2)), loop: true}}
            """.write(to: wrong, atomically: true, encoding: .utf8)
        let refused = try LiveProcess(["serve", "--config", wrong.path])
        let processed = ServeDaemonTests.waitFor(20) {
            ServeDaemonTests.frameTimes(dir.appendingPathComponent("state-wrong"), "cam").count >= 20
        }
        kill(refused.process.processIdentifier, SIGTERM)
        let refusedLog = refused.finish(timeout: 30).stderr
        #expect(processed && refused.process.terminationStatus == 0)
        #expect(refusedLog.contains("refused the connection"), "\(refusedLog)")
        #expect(!refusedLog.contains("NotTheRightOne"))
        #expect(!sub.messages.contains { $0.topic.hasPrefix("segstream/cam/") }, "a refused client published")
    }

    @Test("broker down at start: the daemon processes anyway and comes online when the broker does; a broker restart loses no availability; SIGKILL publishes the will")
    func brokerOutages() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try ServeDaemonTests.freePort()
        let clip = try ServeDaemonTests.clip(dir, "cam.mp4", seconds: 2)
        let state = dir.appendingPathComponent("state")
        let config = dir.appendingPathComponent("serve.yaml")
        try """
            state_dir: \(state.path)
            backoff: {initial: 200ms, cap: 1s}
            mqtt: {host: 127.0.0.1, port: \(port), keepalive: 5s}
            defaults:
              model: \(CLI.tinyModel)
              outputs: {recording: {enabled: false}}
            sources:
              cam: {url: \(clip), loop: true}
            """.write(to: config, atomically: true, encoding: .utf8)
        let daemon = try LiveProcess(["serve", "--config", config.path])
        defer { if daemon.process.isRunning { kill(daemon.process.processIdentifier, SIGKILL) }; _ = daemon.finish(timeout: 5) }

        // No broker: frames are processed all the same.
        #expect(ServeDaemonTests.waitFor(20) { ServeDaemonTests.frameTimes(state, "cam").count >= 10 })
        let broker = try Broker(directory: dir, port: port)
        var sub = try Subscriber(port: port)
        #expect(sub.wait(10) { $0.contains { $0.topic == "segstream/cam/availability" && $0.payload == "online" } })
        #expect(sub.last("segstream/availability") == "online")

        // The broker dies and comes back empty (no persistence): the daemon keeps processing meanwhile, then
        // republishes its retained states, which a subscriber arriving afterwards receives as retained messages.
        sub.stop()
        broker.kill()
        let before = ServeDaemonTests.frameTimes(state, "cam").count
        #expect(ServeDaemonTests.waitFor(10) { ServeDaemonTests.frameTimes(state, "cam").count >= before + 10 })
        try broker.start()
        let restarted = Date()
        sub = try Subscriber(port: port)
        defer { sub.stop() }
        let back = sub.wait(10) { messages in
            ["segstream/availability", "segstream/cam/availability"].allSatisfy { topic in
                messages.contains { $0.topic == topic && $0.payload == "online" }
            }
        }
        #expect(back, "after the broker's restart: \(sub.messages.map { "\($0.topic) \($0.payload)" })")
        print("mqtt: availability back \(String(format: "%.2f", Date().timeIntervalSince(restarted))) s after the broker restarted")

        // SIGKILL: no goodbye, so the broker publishes the will.
        kill(daemon.process.processIdentifier, SIGKILL)
        #expect(sub.wait(10) { $0.last { $0.topic == "segstream/availability" }?.payload == "offline" })
        let late = try Subscriber(port: port)
        defer { late.stop() }
        #expect(late.wait(5) { $0.contains { $0.topic == "segstream/availability" && $0.retained && $0.payload == "offline" } })
    }

    @Test("an event rule for a class the model does not have: exit 78 with one line naming it")
    func unknownClass() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try ServeDaemonTests.clip(dir, "cam.mp4", seconds: 1)
        let config = dir.appendingPathComponent("serve.yaml")
        try """
            state_dir: \(dir.appendingPathComponent("state").path)
            mqtt: {host: 127.0.0.1, port: \(try ServeDaemonTests.freePort())}
            defaults: {model: \(CLI.tinyModel)}
            sources:
              cam: {url: \(clip), events: [{class: unicorn}]}
            """.write(to: config, atomically: true, encoding: .utf8)
        // No HTTP: its "listening" line would be a second line, and the default port is shared by every test.
        let result = try CLI.segstream(["serve", "--config", config.path, "--http", "off"], timeout: 60)
        #expect(result.status == 78, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("source cam: events: rule unicorn: the model has no class \"unicorn\""),
                "\(result.stderr)")
    }

    @Test("--shard: three daemons on one config of six sources serve every source exactly once; bad values exit 64 with one line")
    func shards() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try ServeDaemonTests.clip(dir, "cam.mp4", seconds: 2)
        let names = ["front", "yard", "door", "lobby", "gate", "dock"]
        let config = dir.appendingPathComponent("serve.yaml")
        try """
            defaults:
              model: \(CLI.tinyModel)
              loop: true
              fps: 5
              outputs: {recording: {enabled: false}}
            sources:
            \(names.map { "  \($0): \(clip)" }.joined(separator: "\n"))
            """.write(to: config, atomically: true, encoding: .utf8)
        let states = (1...3).map { dir.appendingPathComponent("state\($0)") }
        let daemons = try (1...3).map { k in
            try LiveProcess(["serve", "--config", config.path, "--shard", "\(k)/3", "--state-dir", states[k - 1].path])
        }
        func served(_ k: Int) -> Set<String> {
            Set(names.filter { !ServeDaemonTests.frameTimes(states[k], $0).isEmpty })
        }
        let covered = ServeDaemonTests.waitFor(30) { (0..<3).map(served).reduce(0) { $0 + $1.count } >= names.count }
        for daemon in daemons { kill(daemon.process.processIdentifier, SIGTERM) }
        let logs = daemons.map { $0.finish(timeout: 30).stderr }
        #expect(covered)
        let sets = (0..<3).map(served)
        for name in names {
            #expect(sets.filter { $0.contains(name) }.count == 1, "\(name): \(sets)")
        }
        // Each daemon said which sources it takes, and made folders for those only.
        for k in 0..<3 {
            let taken = logs[k].split(separator: "\n").first { $0.contains("shard \(k + 1)/3: taking") }
            #expect(taken != nil, "\(logs[k])")
            let folders = Set((try? FileManager.default.contentsOfDirectory(atPath: states[k].path)) ?? [])
            #expect(folders == sets[k], "shard \(k + 1): folders \(folders), served \(sets[k])")
        }
        print("shards: \(sets.map { $0.sorted() })")
        // --check-config with --shard names the same sources.
        for k in 0..<3 {
            let check = try CLI.segstream(["serve", "--check-config", config.path, "--shard", "\(k + 1)/3"], timeout: 30)
            #expect(check.status == 0 && check.stdout.contains("shard \(k + 1)/3 takes \(sets[k].count) of 6"), "\(check.stdout)")
            let listed = Set(names.filter { check.stdout.contains(" \($0) (file)") })
            #expect(listed == sets[k], "\(check.stdout)")
        }

        for bad in ["0/3", "4/3", "3", "x/y"] {
            let result = try CLI.segstream(["serve", "--config", config.path, "--shard", bad], timeout: 30)
            #expect(result.status == 64, "--shard \(bad): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains("--shard"), "\(result.stderr)")
        }
    }
}
