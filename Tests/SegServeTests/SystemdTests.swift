import Foundation
import Logging
import Testing
@testable import SegServe

#if canImport(Glibc)
import Glibc
#endif

/// A real AF_UNIX datagram socket, bound to a fresh path, standing in for systemd's notify socket.
final class NotifySocket {
    let fd: Int32
    let path: String

    init() throws {
        path = "/tmp/segserve-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        try #require(bytes.count < MemoryLayout.size(ofValue: address.sun_path))
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0, "bind \(path): errno \(errno)")
        // A safety net so a missing message fails the test instead of hanging it; nothing here measures time.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next datagram's text, or nil when none came.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n < 0 ? nil : String(decoding: buffer[..<n], as: UTF8.self)
    }

    /// Whether a datagram is waiting, without blocking.
    func hasPending() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK)) >= 0
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

/// Sets NOTIFY_SOCKET to `value` (or unsets it) and returns what puts it back. The suite that uses it is
/// serialized, and nothing else in this test process reads NOTIFY_SOCKET.
func setNotifySocket(_ value: String?) -> () -> Void {
    let saved = getenv("NOTIFY_SOCKET").map { String(cString: $0) }
    if let value { setenv("NOTIFY_SOCKET", value, 1) } else { unsetenv("NOTIFY_SOCKET") }
    return { if let saved { setenv("NOTIFY_SOCKET", saved, 1) } else { unsetenv("NOTIFY_SOCKET") } }
}

@Suite("SystemdNotifier: sd_notify to a real datagram socket", .serialized)
struct SystemdNotifierTests {
    @Test("READY=1 with STATUS=, WATCHDOG=1, STOPPING=1: exactly these datagrams arrive")
    func messages() throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier()
        do {
            let restore = setNotifySocket(socket.path)
            defer { restore() }
            #expect(notifier.isEnabled)
            #expect(try notifier.ready(status: ServeStatus.line(up: 2, total: 3, fps: 12.46)))
            #expect(socket.receive() == "READY=1\nSTATUS=2/3 sources up, 12.5 fps")
            #expect(try notifier.notify(.watchdog))
            #expect(socket.receive() == "WATCHDOG=1")
            #expect(try notifier.stopping())
            #expect(socket.receive() == "STOPPING=1\nSTATUS=stopping")
        }
        #expect(!socket.hasPending())
    }

    @Test("a reload: RELOADING=1 with MONOTONIC_USEC= on CLOCK_MONOTONIC, then READY=1")
    func reload() throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier()
        do {
            let restore = setNotifySocket(socket.path)
            defer { restore() }
            #expect(try notifier.reloading(at: .seconds(12) + .microseconds(345)))
            #expect(socket.receive() == "RELOADING=1\nMONOTONIC_USEC=12000345\nSTATUS=reloading the configuration")
            let before = MonotonicClock.now()
            try notifier.reloading()
            let after = MonotonicClock.now()
            let lines = try #require(socket.receive()).split(separator: "\n")
            #expect(lines.first == "RELOADING=1")
            let usec = try #require(lines.dropFirst().first.flatMap { Int64($0.dropFirst("MONOTONIC_USEC=".count)) })
            #expect(Duration.microseconds(usec) >= before - .microseconds(1) && Duration.microseconds(usec) <= after)
            try notifier.ready(status: ServeStatus.line(up: 1, total: 1, fps: 3))
            #expect(socket.receive() == "READY=1\nSTATUS=1/1 sources up, 3.0 fps")
        }
    }

    @Test("STATUS= is one line with credentials hidden")
    func statusRedacted() throws {
        let socket = try NotifySocket()
        do {
            let restore = setNotifySocket(socket.path)
            defer { restore() }
            try SystemdNotifier().notify(.status("front: rtsp://admin:hunter2@cam/s failed\nretrying"))
            #expect(socket.receive() == "STATUS=front: rtsp://admin:***@cam/s failed retrying")
        }
    }

    @Test("without NOTIFY_SOCKET nothing is sent and false comes back; an unreachable socket is an error")
    func disabledAndUnreachable() throws {
        do {
            let restore = setNotifySocket(nil)
            defer { restore() }
            #expect(!SystemdNotifier().isEnabled)
            #expect((try? SystemdNotifier().notify(.ready)) == false)
        }
        do {
            let restore = setNotifySocket("/tmp/segserve-no-such-socket-\(getpid())")
            defer { restore() }
            #expect(throws: NotifyError.self) { try SystemdNotifier().notify(.ready) }
        }
    }

    @Test("the status line", arguments: [(0, 0, 0.0, "0/0 sources up, 0.0 fps"), (3, 4, 37.25, "3/4 sources up, 37.2 fps"),
                                         (1, 2, -1, "1/2 sources up, 0.0 fps"), (1, 2, .nan, "1/2 sources up, 0.0 fps")])
    func statusLine(up: Int, total: Int, fps: Double, expected: String) {
        #expect(ServeStatus.line(up: up, total: total, fps: fps) == expected)
    }
}

@Suite("Watchdog: WATCHDOG=1 at half of WATCHDOG_USEC, only while progressing")
struct WatchdogTests {
    @Test("the schedule comes from WATCHDOG_USEC and WATCHDOG_PID as sd_watchdog_enabled reads them")
    func fromEnvironment() {
        #expect(WatchdogSchedule(environment: ["WATCHDOG_USEC": "20000000"], pid: 42)?.interval == .seconds(10))
        #expect(WatchdogSchedule(environment: ["WATCHDOG_USEC": "3000", "WATCHDOG_PID": "42"], pid: 42)?.interval
                == .microseconds(1500))
        #expect(WatchdogSchedule(environment: ["WATCHDOG_USEC": "3000", "WATCHDOG_PID": "41"], pid: 42) == nil)
        #expect(WatchdogSchedule(environment: [:], pid: 42) == nil)
        #expect(WatchdogSchedule(environment: ["WATCHDOG_USEC": "0"], pid: 42) == nil)
        #expect(WatchdogSchedule(environment: ["WATCHDOG_USEC": "soon"], pid: 42) == nil)
    }

    @Test("pings when due and progressing; none while the predicate fails; one at once when it holds again")
    func schedule() {
        var s = WatchdogSchedule(interval: .seconds(10))
        let steps: [(Duration, Bool)] = [(0, true), (9, true), (10, true), (20, false), (35, false), (36, true)]
            .map { (Duration.seconds($0.0), $0.1) }
        let pinged = steps.map { s.shouldPing(at: t0 + $0.0, progressing: $0.1) }
        #expect(pinged == [true, false, true, false, false, true])
        #expect(s.lastPing == t0 + .seconds(36))
        #expect(s.sleepTime(at: t0 + .seconds(40), progressing: true) == .seconds(6))
        #expect(s.sleepTime(at: t0 + .seconds(40), progressing: false) == .milliseconds(2500))
    }

    @Test("the pinger on a made-up clock: pings at 0, 10, 20, then none until progress resumes at 45")
    func pinger() async throws {
        let clock = FakeClock(start: .zero)
        let pings = Locked<[Duration]>([])
        let pinger = WatchdogPinger(
            schedule: WatchdogSchedule(interval: .seconds(10)),
            now: { clock.now },
            sleep: { d in
                if clock.now > .seconds(70) { throw CancellationError() }
                clock.advance(d)
            },
            ping: { pings.update { $0.append(clock.now) } },
            progressing: { !(clock.now > .seconds(25) && clock.now < .seconds(44)) })
        await #expect(throws: CancellationError.self) { try await pinger.run() }
        #expect(pings.value == [0, 10, 20, 45, 55, 65, 75].map { Duration.seconds($0) })
    }

    @Test("the progress predicate: a recent scheduler tick and no wedged source; a source backing off is fine")
    func progress() {
        var rng = SeededGenerator(seed: 1)
        var down = SourceStateMachine(backoff: BackoffSettings(), stallTimeout: .seconds(5), isLive: true, loops: false, now: t0)
        _ = down.failed("camera off", at: t0, using: &rng)
        var stuck = SourceStateMachine(backoff: BackoffSettings(), stallTimeout: .seconds(5), isLive: true, loops: false, now: t0)
        stuck.connected(at: t0)
        let now = t0 + .seconds(11)
        #expect(ServeProgress.holds(now: now, lastSchedulerTick: now - .seconds(1), tickTimeout: .seconds(5), sources: [down]))
        #expect(!ServeProgress.holds(now: now, lastSchedulerTick: now - .seconds(6), tickTimeout: .seconds(5), sources: [down]))
        #expect(!ServeProgress.holds(now: now, lastSchedulerTick: now, tickTimeout: .seconds(5), sources: [down, stuck]))
    }
}

@Suite("JournalLogHandler: <N> priorities under journald, redacted URLs always")
struct JournalLogHandlerTests {
    @Test("journal lines: priority prefix, label, message, sorted metadata, no timestamp")
    func journalFormat() {
        let handler = JournalLogHandler(label: "segstream.serve", journal: true) { _ in }
        let line = handler.format(level: .error, message: "source front: rtsp://u:pw@cam/s refused",
                                  metadata: ["source": "front", "attempt": "3"], date: Date(timeIntervalSince1970: 0))
        #expect(line == "<3>segstream.serve: source front: rtsp://u:***@cam/s refused attempt=3 source=front\n")
    }

    @Test("priorities", arguments: [(Logger.Level.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4),
                                    (.error, 3), (.critical, 2)])
    func priorities(level: Logger.Level, expected: Int) {
        #expect(JournalLogHandler.priority(level) == expected)
        let handler = JournalLogHandler(label: "l", journal: true) { _ in }
        #expect(handler.format(level: level, message: "m", metadata: [:], date: Date()) == "<\(expected)>l: m\n")
    }

    @Test("plain lines: UTC timestamp and level, no prefix; newlines escaped; metadata URLs redacted")
    func plainFormat() {
        let handler = JournalLogHandler(label: "serve", journal: false) { _ in }
        let line = handler.format(level: .warning, message: "two\nlines", metadata: ["url": "http://h/x?token=abc"],
                                  date: Date(timeIntervalSince1970: 1_764_676_080.25))
        #expect(line == "2025-12-02T11:48:00.250Z warning serve: two\\nlines url=http://h/x?token=***\n")
    }

    @Test("through a Logger: levels below logLevel are dropped, handler and message metadata merged")
    func throughLogger() {
        let lines = Locked<[String]>([])
        var logger = Logger(label: "segstream.serve") { label in
            JournalLogHandler(label: label, journal: true) { line in lines.update { $0.append(line) } }
        }
        logger[metadataKey: "source"] = "front"
        logger.debug("not shown at info")
        logger.info("connected", metadata: ["url": "rtsps://a:b@h:322/s"])
        logger.logLevel = .debug
        logger.debug("shown now")
        #expect(lines.value == ["<6>segstream.serve: connected source=front url=rtsps://a:***@h:322/s\n",
                                "<7>segstream.serve: shown now source=front\n"])
    }

    @Test("JOURNAL_STREAM counts only when it names the descriptor's device and inode")
    func journalStreamDetection() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("segserve-journal-\(getpid())").path
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        defer { unlink(path) }
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var st = stat()
        try #require(fstat(fd, &st) == 0)
        let matching = "\(st.st_dev):\(st.st_ino)"
        #expect(JournalLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": matching], fd: fd))
        #expect(!JournalLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino + 1)"], fd: fd))
        #expect(!JournalLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "garbage"], fd: fd))
        #expect(!JournalLogHandler.stderrIsJournal(environment: [:], fd: fd))
    }
}

/// A clock the test moves by hand.
final class FakeClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Duration
    init(start: Duration) { current = start }
    var now: Duration { lock.withLock { current } }
    func advance(_ d: Duration) { lock.withLock { current += d } }
}

final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func update(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}
