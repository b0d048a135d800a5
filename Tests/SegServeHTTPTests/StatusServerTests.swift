import Foundation
import Logging
import SegPipeline
import SegServe
import SegServeHTTP
import SFNet
import Testing

/// `serve`'s HTTP side (issue #13) in process: a real `ServeDaemon` over a looping file and an unreachable camera
/// whose URL carries credentials, a real `StatusServer` on a free loopback port, and a plain HTTP/1.1 client over
/// a socket. Checks the Prometheus exposition (parsed here), the readiness and liveness transitions, the JSON API,
/// the snapshots, the read-only rule and that no credential reaches any answer.
@Suite("serve HTTP: metrics, health, API (#13)", .serialized)
struct StatusServerTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("Tests/SFNetTests/Fixtures/df1_w16_ac0.safetensors").path
    /// What the camera's URL hides: its password and its token. Neither may appear in any answer.
    static let password = "s3cr3tpw", token = "t0kval"

    /// A daemon and its HTTP side, running until ``stop()``.
    final class Harness: @unchecked Sendable {
        let dir: URL
        let server: StatusServer
        let daemon: ServeDaemon
        let port: Int
        let cameraPort: Int
        private let finished = DispatchSemaphore(value: 0)
        /// The configuration a reload reads; a reload waits for `reloadGate` when it is set.
        let reloadGate = Locked<DispatchSemaphore?>(nil)

        init(progressTimeout: Duration? = nil) throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("seghttp-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let clip = dir.appendingPathComponent("clip.mp4").path
            let ffmpeg = Process()
            ffmpeg.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
            ffmpeg.arguments = ["-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "2",
                                "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", clip]
            try ffmpeg.run()
            ffmpeg.waitUntilExit()
            guard ffmpeg.terminationStatus == 0 else { throw ServeError("ffmpeg could not make the test clip") }
            cameraPort = try freePort()  // nothing listens there: the camera backs off and reconnects
            let yaml = """
                state_dir: \(dir.path)
                backoff: {initial: 100ms, cap: 200ms}
                defaults: {model: \(StatusServerTests.model)}
                sources:
                  clip: {url: \(clip), loop: true}
                  cam: rtsp://viewer:\(StatusServerTests.password)@127.0.0.1:\(cameraPort)/s?token=\(StatusServerTests.token)
                """
            let file = dir.appendingPathComponent("serve.yaml").path
            try yaml.write(toFile: file, atomically: true, encoding: .utf8)
            let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            server = StatusServer(version: "9.9.9-test", logger: logger)
            port = try server.start(HTTPListen(host: "127.0.0.1", port: 0))
            let models = ModelCache(defaultPath: nil, loader: server.metrics.timing { path, precision in
                try loadSegmentationModel(contentsOf: URL(fileURLWithPath: path), precision: precision)
            })
            let gate = reloadGate
            let config = try ServeConfig.load(file: file)
            daemon = try ServeDaemon(config: config, models: models, reload: { () throws(ConfigError) -> ServeConfig in
                gate.withLock { $0 }?.wait()
                return try ServeConfig.load(file: file)
            }, logger: logger, metrics: server.metrics.factory, snapshots: true)
            daemon.tickInterval = .milliseconds(100)
            daemon.progressTimeout = progressTimeout
        }

        func attachAndRun() {
            server.attach(daemon)
            let daemon = self.daemon, finished = self.finished
            Thread {
                daemon.run()
                finished.signal()
            }.start()
        }

        func stop() {
            daemon.requestShutdown()
            _ = finished.wait(timeout: .now() + 30)
            server.stop()
            try? FileManager.default.removeItem(at: dir)
        }

        /// Off the test's task: the server answers on Swift concurrency's threads, which a blocking wait here
        /// would take (2 on a 2-core machine).
        func get(_ path: String, method: String = "GET") async throws -> HTTPAnswer {
            let port = self.port
            return try await onThread { try HTTPAnswer.fetch(port: port, path: path, method: method) }
        }
    }

    static func waitFor(_ seconds: Double, _ predicate: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await predicate() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await predicate()
    }

    @Test("/readyz: 503 before the daemon is attached and while a reload is applied, 200 when serving; /healthz: 503 while the loop is stuck, 200 otherwise")
    func readinessAndLiveness() async throws {
        let h = try await onThread { try Harness(progressTimeout: .milliseconds(400)) }
        defer { h.stop() }
        #expect(try await h.get("/readyz").status == 503)
        #expect(try await h.get("/readyz").text == "loading models\n")
        #expect(try await h.get("/healthz").status == 200)
        #expect(try await h.get("/api/sources").json?["ready"] as? Bool == false)
        h.attachAndRun()
        #expect(try await Self.waitFor(5) { try await h.get("/readyz").status == 200 })
        #expect(try await h.get("/healthz").status == 200)

        // A reload whose configuration read blocks: not ready meanwhile, and the loop (which applies it) makes no
        // progress, so after progressTimeout it is not live either; both come back once the reload ends.
        let gate = DispatchSemaphore(value: 0)
        h.reloadGate.withLock { $0 = gate }
        h.daemon.requestReload()
        #expect(try await Self.waitFor(5) { try await h.get("/readyz").status == 503 })
        #expect(try await Self.waitFor(5) { try await h.get("/healthz").status == 503 })
        #expect(try await h.get("/healthz").text == "the scheduler is stuck\n")
        h.reloadGate.withLock { $0 = nil }
        gate.signal()
        #expect(try await Self.waitFor(5) { try await h.get("/readyz").status == 200 })
        #expect(try await Self.waitFor(5) { try await h.get("/healthz").status == 200 })
    }

    @Test("/healthz is answered while every thread of Swift concurrency's global executor is blocked")
    func answersWhileTheGlobalExecutorIsBlocked() async throws {
        let h = try await onThread { try Harness() }
        defer { h.stop() }
        h.attachAndRun()
        // Hold every cooperative thread (one per core, and a few more in case the pool is wider), then ask from a
        // plain thread: the answer must not need them.
        let release = DispatchSemaphore(value: 0)
        let holders = ProcessInfo.processInfo.activeProcessorCount + 2
        for _ in 0..<holders { Task.detached { release.wait() } }
        let port = h.port
        let answer = Locked<Result<Int, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            Thread.sleep(forTimeInterval: 0.5)   // let the holders start
            answer.withLock { $0 = Result { try HTTPAnswer.fetch(port: port, path: "/healthz", method: "GET").status } }
            done.signal()
            for _ in 0..<holders { release.signal() }
        }.start()
        try await onThread { done.wait() }
        #expect(try answer.withLock { $0 }?.get() == 200)
    }

    @Test("/metrics: Prometheus text with per-source counters that move, latency histograms, source up, frame age, reconnects, process metrics; labels are names, never URLs")
    func metrics() async throws {
        let h = try await onThread { try Harness() }
        defer { h.stop() }
        h.attachAndRun()
        let processed = #"segstream_frames_processed_total{source="clip"}"#
        #expect(try await Self.waitFor(20) { (try await Exposition(h.get("/metrics").text).value(processed) ?? 0) >= 5 })
        #expect(try await Self.waitFor(10) { (try await Exposition(h.get("/metrics").text).value(#"segstream_reconnects_total{source="cam"}"#) ?? 0) >= 1 })
        let answer = try await h.get("/metrics")
        #expect(answer.status == 200)
        #expect(answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        let first = try Exposition(answer.text)
        try await Task.sleep(for: .seconds(1))
        let second = try await Exposition(h.get("/metrics").text)

        // Counters move.
        #expect(second.value(processed)! > first.value(processed)!)
        #expect(second.value(#"segstream_frames_decoded_total{source="clip"}"#)! >= second.value(processed)!)
        #expect(second.value(#"segstream_frames_dropped_total{reason="inference_busy",source="clip"}"#) == 0)  // a file waits
        // Histograms: every stage and the end-to-end latency, with +Inf buckets equal to the counts.
        for stage in ["decode", "preprocess", "inference", "render", "encode"] {
            let labels = #"source="clip",stage="\#(stage)""#
            let count = second.value("segstream_stage_latency_seconds_count{\(labels)}")
            #expect(count ?? 0 > 0, "stage \(stage)")
            #expect(second.value(#"segstream_stage_latency_seconds_bucket{le="+Inf",\#(labels)}"#) == count)
        }
        let frames = second.value(#"segstream_frame_latency_seconds_count{source="clip"}"#) ?? 0
        #expect(frames > 0 && second.value(#"segstream_frame_latency_seconds_sum{source="clip"}"#)! > 0)
        // States: the file runs, the camera never connects.
        #expect(second.value(#"segstream_source_up{source="clip"}"#) == 1)
        #expect(second.value(#"segstream_source_up{source="cam"}"#) == 0)
        #expect((0..<2).contains(second.value(#"segstream_seconds_since_last_frame{source="clip"}"#) ?? -1))
        #expect(second.value(#"segstream_seconds_since_last_frame{source="cam"}"#) == -1)
        // The process.
        #expect(second.value(#"segstream_build_info{version="9.9.9-test"}"#) == 1)
        #expect(second.value("segstream_ready") == 1)
        #expect(second.value("segstream_inference_busy_seconds_total")! > 0)
        let utilisation = second.value("segstream_inference_utilization")!
        #expect(utilisation > 0 && utilisation <= 1)
        #expect(second.value(#"segstream_model_load_seconds{model="df1_w16_ac0.safetensors"}"#)! > 0)
        let size = try FileManager.default.attributesOfItem(atPath: Self.model)[.size] as! NSNumber
        #expect(second.value(#"segstream_model_size_bytes{model="df1_w16_ac0.safetensors"}"#) == size.doubleValue)
        // Naming: counters end in _total, durations in _seconds; no label value is a URL.
        for sample in second.samples {
            #expect(sample.name.hasPrefix("segstream_"))
            #expect(!sample.labels.values.contains { $0.contains("://") || $0.contains(Self.password) })
        }
        #expect(second.types.filter { $0.value == "counter" }.keys.allSatisfy { $0.hasSuffix("_total") })
        #expect(second.types.filter { $0.value == "histogram" }.keys.allSatisfy { $0.hasSuffix("_seconds") })
    }

    @Test("/api/sources: every source's state, redacted URL, counts, size and legend; snapshots are JPEGs of new frames; only GET and HEAD; no credential in any answer")
    func apiSnapshotsAndSecurity() async throws {
        let h = try await onThread { try Harness() }
        defer { h.stop() }
        h.attachAndRun()
        var sources: [[String: Any]] = []
        #expect(try await Self.waitFor(20) {
            sources = try await h.get("/api/sources").json?["sources"] as? [[String: Any]] ?? []
            return (sources.first?["frames_processed"] as? Int ?? 0) > 0 && (sources.last?["reconnects"] as? Int ?? 0) > 0
        })
        try #require(sources.count == 2)
        let clip = sources[0], cam = sources[1]
        #expect(clip["name"] as? String == "clip")
        #expect(clip["state"] as? String == "running")
        #expect(clip["width"] as? Int == 160 && clip["height"] as? Int == 120)
        #expect(clip["fps"] is Double && clip["latency_ms"] is Double)
        #expect(clip["dropped"] as? [String: Int] == [:] || clip["dropped"] as? [String: Int] == ["inference_busy": 0])
        // The legend is the model's: its class names and palette, in order.
        let config = try loadSegmentationModel(contentsOf: URL(fileURLWithPath: Self.model)).config
        let legend = config.classNames.enumerated().map { index, name in
            ["name": name, "color": "#" + config.palette[index].map { String(format: "%02x", $0) }.joined()]
        }
        #expect(!legend.isEmpty && clip["classes"] as? [[String: String]] == legend)
        #expect(cam["name"] as? String == "cam")
        #expect(["connecting", "backing off"].contains(cam["state"] as? String ?? ""))
        #expect(cam["url"] as? String == "rtsp://viewer:***@127.0.0.1:\(h.cameraPort)/s?token=***")
        #expect(cam["last_frame_age_s"] is NSNull && cam["width"] is NSNull)

        // Snapshots: a JPEG (SOI … EOI), a new one a second later, 404 for an unknown source.
        let shot = try await h.get("/api/sources/clip/snapshot.jpg")
        #expect(shot.status == 200 && shot.headers["content-type"] == "image/jpeg")
        #expect(shot.body.prefix(3) == Data([0xFF, 0xD8, 0xFF]) && shot.body.suffix(2) == Data([0xFF, 0xD9]))
        try await Task.sleep(for: .seconds(1))
        #expect(try await h.get("/api/sources/clip/snapshot.jpg").body != shot.body)
        #expect(try await h.get("/api/sources/nope/snapshot.jpg").status == 404)

        // Read-only: other methods are refused, HEAD has the headers and no body.
        for (method, path) in [("POST", "/metrics"), ("PUT", "/api/sources"), ("DELETE", "/"), ("PATCH", "/readyz")] {
            let answer = try await h.get(path, method: method)
            #expect(answer.status == 405, "\(method) \(path)")
            #expect(answer.headers["allow"] == "GET, HEAD")
        }
        let head = try await h.get("/metrics", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty)

        // No credential anywhere: every endpoint, the page, the camera's (empty) snapshot, errors.
        for path in ["/", "/metrics", "/api/sources", "/healthz", "/readyz", "/api/sources/cam/snapshot.jpg",
                     "/nope", "/api/sources/clip/snapshot.jpg"] {
            let answer = try await h.get(path)
            let text = String(decoding: answer.body, as: UTF8.self) + answer.headers.description
            #expect(!text.contains(Self.password) && !text.contains(Self.token), "\(path) leaks a credential")
        }
        #expect(try await h.get("/").text.contains("<title>segstream</title>"))
    }
}

/// Runs `body` on a thread of its own and waits for it without holding one of Swift concurrency's threads.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// One HTTP/1.1 exchange over a plain socket (`Connection: close`, read to the end).
struct HTTPAnswer {
    var status: Int
    /// Lowercased names.
    var headers: [String: String]
    var body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }

    static func fetch(port: Int, path: String, method: String) throws -> HTTPAnswer {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        let request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        _ = request.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, 0) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data.append(contentsOf: buffer[..<n])
        }
        guard let end = data.range(of: Data("\r\n\r\n".utf8)) else { throw POSIXError(.EBADMSG) }
        let head = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(head[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(data[end.upperBound...])
        if headers["transfer-encoding"] == "chunked" { body = dechunk(body) }
        return HTTPAnswer(status: status, headers: headers, body: body)
    }

    private static func dechunk(_ data: Data) -> Data {
        var out = Data(), rest = data[...]
        while let lineEnd = rest.range(of: Data("\r\n".utf8)),
              let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self), radix: 16), size > 0 {
            let start = lineEnd.upperBound
            out.append(rest[start..<start + size])
            rest = rest[(start + size + 2)...]
        }
        return out
    }
}

/// The Prometheus text exposition format, parsed independently of swift-prometheus: `# TYPE` lines and samples
/// `name{label="value",…} number`, labels sorted by name for lookups.
struct Exposition {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
        var key: String {
            labels.isEmpty ? name : name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",") + "}"
        }
    }
    var samples: [Sample] = []
    var types: [String: String] = [:]
    private var byKey: [String: Double] = [:]

    struct Malformed: Error, CustomStringConvertible { var description: String }

    init(_ text: String) throws {
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4 else { throw Malformed(description: "bad TYPE line: \(line)") }
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("#") { continue }
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw Malformed(description: "bad sample: \(line)")
            }
            let series = line[..<space]
            var sample = Sample(name: String(series), labels: [:], value: value)
            if let brace = series.firstIndex(of: "{") {
                guard series.hasSuffix("}") else { throw Malformed(description: "bad labels: \(line)") }
                sample.name = String(series[..<brace])
                let body = series[series.index(after: brace)..<series.index(before: series.endIndex)]
                // label="value" pairs; values here never hold quotes or commas.
                for pair in body.split(separator: ",") {
                    guard let equals = pair.firstIndex(of: "="), pair.hasSuffix("\"") else {
                        throw Malformed(description: "bad label: \(pair)")
                    }
                    sample.labels[String(pair[..<equals])] = String(pair[pair.index(equals, offsetBy: 2)..<pair.index(before: pair.endIndex)])
                }
            }
            samples.append(sample)
            byKey[sample.key] = value
        }
    }

    /// The value of `name{a="x",b="y"}` (labels in name order), nil when absent.
    func value(_ key: String) -> Double? { byKey[key] }
}

func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
