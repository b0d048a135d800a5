import Foundation
import Logging
import Testing
@testable import SegServe

@Suite("mqtt: configuration, regions, hysteresis")
struct MQTTUnitTests {
    @Test("the mqtt section and event rules: values read, defaults filled, ${ENV} substituted")
    func parsesSection() throws {
        let config = try parse("""
            mqtt:
              host: broker.lan
              port: 8883
              client_id: cam-box-1
              topic_prefix: site/a
              username: ${MQTT_USER}
              password: ${MQTT_PASSWORD}
              keepalive: 20s
              qos: 1
              summary_interval: 500ms
              queue_size: 50
            sources:
              front:
                url: rtsp://cam/stream
                events:
                  - {class: person}
                  - name: road_ahead
                    class: road
                    region: [0, 0.6, 1, 1]
                    enter: {fraction: 0.3, frames: 4}
                    leave: {fraction: 0.1, frames: 6}
                  - {name: lane, class: car, region: [[0.2, 1], [0.5, 0.5], [0.8, 1]]}
            """, environment: ["MQTT_USER": "seg", "MQTT_PASSWORD": "hunter2"])
        let mqtt = try #require(config.mqtt)
        #expect(mqtt.host == "broker.lan" && mqtt.port == 8883 && mqtt.clientID == "cam-box-1")
        #expect(mqtt.topicPrefix == "site/a" && mqtt.username == "seg" && mqtt.password == "hunter2")
        #expect(mqtt.keepalive == .seconds(20) && mqtt.qos == 1 && mqtt.summaryInterval == .milliseconds(500))
        #expect(mqtt.queueSize == 50)
        let rules = config.sources[0].events
        #expect(rules.map(\.name) == ["person", "road_ahead", "lane"])
        #expect(rules[0].region.map { [$0.x, $0.y] } == [[0, 0], [1, 0], [1, 1], [0, 1]])
        #expect(rules[0].enter == EventRule.Threshold(fraction: 0.05, frames: 3))
        #expect(rules[1].region.map { [$0.x, $0.y] } == [[0, 0.6], [1, 0.6], [1, 1], [0, 1]])
        #expect(rules[1].enter == EventRule.Threshold(fraction: 0.3, frames: 4))
        #expect(rules[1].leave == EventRule.Threshold(fraction: 0.1, frames: 6))
        #expect(rules[2].region.count == 3)
        // Defaults: port 1883, prefix segstream, QoS 0, one summary a second.
        let plain = try #require(try parse("mqtt: {host: 127.0.0.1}\nsources: {a: rtsp://cam/x}").mqtt)
        #expect(plain.port == 1883 && plain.topicPrefix == "segstream" && plain.qos == 0 && plain.clientID == nil)
        #expect(plain.summaryInterval == .seconds(1) && plain.username == nil)
    }

    @Test("bad mqtt settings and rules: one line each, with the line number")
    func badSettings() {
        let lines = problems("""
            mqtt:
              host: mqtt://broker
              port: 70000
              qos: 2
              topic_prefix: a/#
              summary_interval: 10ms
              password: x
              colour: red
            sources:
              front:
                url: rtsp://cam/x
                events:
                  - {class: road, region: [0.5, 0, 0.2, 1]}
                  - {class: car, enter: {fraction: 0.1, frames: 2}, leave: {fraction: 0.5, frames: 2}}
                  - {region: [0, 0, 1, 1]}
                  - {class: car, region: [[0, 0], [1, 1]]}
                  - {class: bus, enter: {fraction: 2, frames: 0}}
            """)
        #expect(lines.contains { $0.hasPrefix("test.yaml:2: mqtt.host: expected a host name") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("test.yaml:3: mqtt.port: must be 1 to 65535") })
        #expect(lines.contains { $0.hasPrefix("test.yaml:4: mqtt.qos: must be 0 or 1") })
        #expect(lines.contains { $0.hasPrefix("test.yaml:5: mqtt.topic_prefix:") })
        #expect(lines.contains { $0.hasPrefix("test.yaml:6: mqtt.summary_interval: must be at least 100ms") })
        #expect(lines.contains { $0.contains("mqtt.password: given without mqtt.username") })
        #expect(lines.contains { $0.hasPrefix("test.yaml:8: unknown key \"mqtt.colour\"") })
        #expect(lines.contains { $0.hasPrefix("test.yaml:13: source front: events[0].region: a rectangle") })
        #expect(lines.contains { $0.hasPrefix("test.yaml:14: source front: events[1]: leave.fraction") })
        #expect(lines.contains { $0.hasPrefix("test.yaml:15: source front: events[2].class: missing") })
        #expect(lines.contains { $0.hasPrefix("test.yaml:16: source front: events[3].region: a polygon needs at least 3 points") })
        #expect(lines.contains { $0.hasPrefix("test.yaml:17: source front: events[4].enter.fraction: must be 0 to 1") })
        #expect(problems("sources: {a: {url: rtsp://cam/x, events: [{class: car}]}}")
            == ["test.yaml: source a has events but there is no mqtt section to publish them to"])
        #expect(problems("mqtt: {port: 1883}\nsources: {a: rtsp://cam/x}")
            == ["test.yaml:1: mqtt.host: missing (the broker's host name or address)"])
    }

    @Test("a region covers exactly the pixels whose centres are inside: rectangles and a triangle against counting by hand")
    func regionMask() {
        // Bottom 30 % of a 10×10 frame: rows whose centre y ≥ 0.7, i.e. rows 7, 8, 9.
        let bottom = RegionMask(polygon: [(0, 0.7), (1, 0.7), (1, 1), (0, 1)], width: 10, height: 10)
        #expect(bottom.pixelCount == 30)
        #expect(Set(bottom.spans.map(\.row)) == [7, 8, 9] && bottom.spans.allSatisfy { $0.start == 0 && $0.end == 10 })
        // A triangle: the brute-force reference tests each pixel centre against the three half-planes.
        let triangle: [(x: Double, y: Double)] = [(0.1, 0.9), (0.5, 0.1), (0.9, 0.9)]
        let (w, h) = (64, 48)
        let mask = RegionMask(polygon: triangle, width: w, height: h)
        var inside = Set<Int>()
        for y in 0..<h {
            for x in 0..<w {
                let px = (Double(x) + 0.5) / Double(w), py = (Double(y) + 0.5) / Double(h)
                func side(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double)) -> Double {
                    (b.x - a.x) * (py - a.y) - (b.y - a.y) * (px - a.x)
                }
                let s = [side(triangle[0], triangle[1]), side(triangle[1], triangle[2]), side(triangle[2], triangle[0])]
                if s.allSatisfy({ $0 > 0 }) || s.allSatisfy({ $0 < 0 }) { inside.insert(y * w + x) }
            }
        }
        let spans = Set(mask.spans.flatMap { span in (span.start..<span.end).map { span.row * w + $0 } })
        #expect(spans == inside && mask.pixelCount == inside.count && inside.count > 500)
        // The fraction of a label within it.
        var labels = [UInt8](repeating: 0, count: 100)
        for x in 0..<5 { labels[80 + x] = 7 }  // half of row 8
        #expect(labels.withUnsafeBufferPointer { bottom.fraction(of: 7, in: $0.baseAddress!) } == 5.0 / 30)
    }

    @Test("hysteresis: enter after N frames in a row above the enter threshold, leave after M at or below the leave one; a flicker is no event")
    func hysteresis() {
        var h = RegionHysteresis(enter: .init(fraction: 0.3, frames: 3), leave: .init(fraction: 0.1, frames: 2))
        let fractions = [0.5, 0.5, 0.0, 0.4, 0.4, 0.4, 0.2, 0.05, 0.2, 0.05, 0.05, 0.5]
        let transitions = fractions.map { h.update($0)?.rawValue ?? "-" }
        #expect(transitions == ["-", "-", "-", "-", "-", "enter", "-", "-", "-", "-", "leave", "-"])
        #expect(!h.active)
    }
}

@Suite("mqtt: the publisher's queue")
struct MQTTQueueTests {
    @Test("no broker (a closed port): publishing returns at once, the queue holds at most queue_size messages and counts the dropped")
    func boundedQueue() throws {
        var settings = MQTTSettings(host: "127.0.0.1")
        settings.port = unusedLoopbackPort()   // nobody listens there
        settings.queueSize = 100
        let publisher = MQTTPublisher(settings: settings, shard: Shard(index: 2, count: 3),
                                      backoff: BackoffSettings(initial: .milliseconds(50), cap: .milliseconds(200)),
                                      logger: Logger(label: "test"))
        #expect(publisher.clientID == "segstream-shard-2" && publisher.daemonTopic == "segstream/shard/2/availability")
        publisher.start()
        for i in 0..<5000 { publisher.publish(publisher.topic("cam", "summary"), payload: "{\"i\": \(i)}") }
        #expect(publisher.droppedMessages == 4900 && publisher.publishedMessages == 0 && !publisher.isConnected)
        publisher.stop(timeout: .seconds(2))
        let single = MQTTPublisher(settings: settings, shard: Shard(index: 1, count: 1), backoff: BackoffSettings(),
                                   logger: Logger(label: "test"))
        #expect(single.clientID == "segstream" && single.daemonTopic == "segstream/availability")
    }
}

extension MQTTQueueTests {
    @Test("against a real broker: messages from several threads all arrive in order per thread, availability is retained, a clean stop says offline")
    func realBroker() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segserve-mqtt-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = unusedLoopbackPort()
        let conf = dir.appendingPathComponent("mosquitto.conf")
        try "listener \(port) 127.0.0.1\nallow_anonymous true\npersistence false\n".write(to: conf, atomically: true, encoding: .utf8)
        let broker = Process()
        broker.executableURL = URL(fileURLWithPath: "/usr/sbin/mosquitto")
        broker.arguments = ["-c", conf.path]
        broker.standardError = FileHandle.nullDevice
        try broker.run()
        defer { kill(broker.processIdentifier, SIGKILL); broker.waitUntilExit() }
        usleep(300_000)
        // The subscriber, writing every message to a file.
        let out = dir.appendingPathComponent("sub.txt")
        #expect(FileManager.default.createFile(atPath: out.path, contents: nil))
        let sub = Process()
        sub.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_sub")
        sub.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-t", "test/#", "-q", "1", "-v"]
        sub.standardOutput = try FileHandle(forWritingTo: out)
        try sub.run()
        // SIGKILL: a child of the test runner inherits its blocked signals, so SIGTERM would wait forever.
        defer { kill(sub.processIdentifier, SIGKILL); sub.waitUntilExit() }
        usleep(300_000)

        var settings = MQTTSettings(host: "127.0.0.1")
        settings.port = port
        settings.topicPrefix = "test"
        settings.qos = 1
        let publisher = MQTTPublisher(settings: settings, shard: nil, backoff: BackoffSettings(initial: .milliseconds(50), cap: .milliseconds(200)),
                                      logger: Logger(label: "test"))
        publisher.setAvailability("a", online: false)
        publisher.start()
        let deadline = Date().addingTimeInterval(10)
        while !publisher.isConnected && Date() < deadline { usleep(10_000) }
        #expect(publisher.isConnected)
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<50 {
                publisher.publish(publisher.topic("s\(t)", "summary"), payload: "\(i)")
                if i == 25 { publisher.setAvailability("a", online: true) }
            }
        }
        usleep(500_000)
        publisher.stop()
        usleep(300_000)
        let lines = (try String(contentsOf: out, encoding: .utf8)).split(separator: "\n").map(String.init)
        for t in 0..<4 {
            let got = lines.filter { $0.hasPrefix("test/s\(t)/summary ") }.map { $0.split(separator: " ")[1] }
            #expect(got == (0..<50).map { Substring("\($0)") }, "thread \(t): \(got)")
        }
        #expect(lines.filter { $0.hasPrefix("test/a/availability ") } == ["test/a/availability offline", "test/a/availability online", "test/a/availability offline"])
        #expect(lines.first == "test/availability online" && lines.last == "test/availability offline", "\(lines.prefix(3)) … \(lines.suffix(3))")
        #expect(publisher.droppedMessages == 0 && publisher.publishedMessages == 200 + 5)
    }
}

@Suite("serve --shard: rendezvous hashing")
struct ShardTests {
    static let names = (0..<2000).map { "cam-\($0)" } + ["front", "yard", "door", "loading_bay", "Ünïcode"]

    @Test("every source is in exactly one shard, for N = 1 … 8, and the shards are about even")
    func partition() {
        for n in 1...8 {
            let shards = (1...n).map { Shard(index: $0, count: n)! }
            var sizes = Array(repeating: 0, count: n)
            for name in Self.names {
                let owners = shards.filter { $0.owns(name) }
                #expect(owners.count == 1, "\(name) with N = \(n): \(owners)")
                sizes[owners[0].index - 1] += 1
            }
            let even = Double(Self.names.count) / Double(n)
            #expect(sizes.allSatisfy { abs(Double($0) - even) < 0.15 * even }, "N = \(n): \(sizes)")
        }
    }

    @Test("growing N to N+1 moves only sources to the new shard, about 1/(N+1) of them")
    func minimalMovement() {
        for n in 1...7 {
            var moved = 0
            for name in Self.names {
                let before = Shard.owner(of: name, count: n), after = Shard.owner(of: name, count: n + 1)
                if before != after {
                    moved += 1
                    #expect(after == n + 1, "\(name): \(before) → \(after) when N went \(n) → \(n + 1)")
                }
            }
            let expected = Double(Self.names.count) / Double(n + 1)
            #expect(abs(Double(moved) - expected) < 0.15 * expected, "N \(n) → \(n + 1): \(moved) moved")
        }
    }

    @Test("the hash is fixed (not Swift's seeded Hasher): FNV-1a's published vectors, and the same owners in every process")
    func stable() {
        // Shard.weight without its finaliser and shard suffix is FNV-1a 64; check the finaliser's input through a
        // known vector: FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (Fowler/Noll/Vo test suite).
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in "a".utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        #expect(h == 0xaf63_dc4c_8601_ec8c)
        // Reference values from a separate Python implementation of docs/scaling.md's description (FNV-1a 64 over
        // name + 0 + k as 4 bytes LE, SplitMix64's finaliser, highest weight wins): a change of the hash, or a
        // per-process seed, breaks them.
        #expect(Shard.weight("front", 1) == 0x167c_f115_e700_4b9c)
        #expect(["front", "yard", "door", "lobby", "gate", "dock"].map { Shard.owner(of: $0, count: 3) } == [3, 1, 2, 2, 2, 3])
    }

    @Test("--shard values: K/N with 1 ≤ K ≤ N")
    func parsing() {
        #expect(Shard(parsing: "2/3") == Shard(index: 2, count: 3))
        #expect(Shard(parsing: "1/1") != nil)
        for bad in ["0/3", "4/3", "3", "a/b", "-1/3", "1/0", "", "1/3/5", " 1/3", "1/1001"] {
            #expect(Shard(parsing: bad) == nil, "\(bad)")
        }
        let config = ServeConfig(stateDirectory: "/tmp", sources: Self.names.prefix(30).map {
            SourceConfig(name: $0, url: "rtsp://h/\($0)", kind: .rtsp)
        })
        let parts = (1...3).map { config.sharded(Shard(index: $0, count: 3)!).sources.map(\.name) }
        #expect(parts.flatMap { $0 }.sorted() == config.sources.map(\.name).sorted())
    }
}

/// A loopback TCP port nobody listens on now: bound to port 0, read back, closed.
private func unusedLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
