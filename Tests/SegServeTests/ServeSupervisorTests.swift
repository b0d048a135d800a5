import Testing
@testable import SegServe

@Suite("ServeSupervisor: every source's state, reloads, status and progress")
struct ServeSupervisorTests {
    func config(_ yaml: String) throws -> ServeConfig {
        try ServeConfig.parse(yaml: yaml, file: "t.yaml", environment: [:], fileExists: { _ in true })
    }

    @Test("start opens every source in order; one source failing affects no other")
    func isolation() throws {
        var rng = SeededGenerator(seed: 1)
        var s = ServeSupervisor(config: try config("sources: {a: rtsp://h/a, b: rtsp://h/b, c: /x.mp4}"), now: t0)
        #expect(s.startCommands == [SourceCommand("a", .connect), SourceCommand("b", .connect), SourceCommand("c", .connect)])
        for name in ["a", "b", "c"] { s.connected(name, at: t0) }
        #expect(s.sourcesUp == 3)
        #expect(s.failed("b", "connection reset", at: t0 + .seconds(1), using: &rng)
                == [SourceCommand("b", .disconnect("connection reset"))])
        #expect(s.failed("b", "late", at: t0 + .seconds(1), using: &rng).isEmpty)
        #expect(s.failed("nope", "x", at: t0, using: &rng).isEmpty)
        #expect(s.machines["a"]?.isUp == true && s.machines["c"]?.isUp == true && s.sourcesUp == 2)
        for name in ["a", "c"] { s.frameDecoded(name, at: t0 + .seconds(2)) }
        // b's backoff is at most 1 s: by t0+3 s the tick reopens it, and only it.
        #expect(s.tick(at: t0 + .seconds(3), using: &rng) == [SourceCommand("b", .connect)])
        #expect(s.endOfStream("c", at: t0 + .seconds(3), using: &rng) == [SourceCommand("c", .disconnect("end of file"))])
    }

    @Test("a stall found by tick closes that source's input")
    func stall() throws {
        var rng = SeededGenerator(seed: 2)
        var s = ServeSupervisor(config: try config("defaults: {stall_timeout: 5s}\nsources: {a: rtsp://h/a, b: rtsp://h/b}"), now: t0)
        s.connected("a", at: t0)
        s.connected("b", at: t0)
        s.frameDecoded("a", at: t0 + .seconds(4))
        #expect(s.tick(at: t0 + .seconds(6), using: &rng)
                == [SourceCommand("b", .disconnect("no frame decoded for 5s (stall_timeout)"))])
    }

    @Test("status: running sources over all, summed rate of the running ones")
    func status() throws {
        var rng = SeededGenerator(seed: 3)
        var s = ServeSupervisor(config: try config("sources: {a: rtsp://h/a, b: rtsp://h/b, c: rtsp://h/c}"), now: t0)
        #expect(s.statusLine == "0/3 sources up, 0.0 fps")
        for name in ["a", "b"] { s.connected(name, at: t0) }
        s.report(rate: 9.5, for: "a")
        s.report(rate: 5, for: "b")
        s.report(rate: 100, for: "c")  // not running: not counted
        s.report(rate: 100, for: "ghost")
        #expect(s.statusLine == "2/3 sources up, 14.5 fps")
        _ = s.failed("b", "x", at: t0, using: &rng)
        #expect(s.statusLine == "1/3 sources up, 9.5 fps")
    }

    @Test("reload: removed stop, changed restart fresh, added start, the rest are untouched")
    func reload() throws {
        var rng = SeededGenerator(seed: 4)
        var s = ServeSupervisor(config: try config("sources: {a: rtsp://h/a, b: rtsp://h/b, c: rtsp://h/c}"), now: t0)
        for name in ["a", "b", "c"] { s.connected(name, at: t0) }
        _ = s.failed("c", "down", at: t0, using: &rng)  // c is backing off: nothing to close
        let commands = s.reload(try config("sources: {a: rtsp://h/a, c: rtsp://h/c2, d: rtsp://h/d}"), at: t0 + .seconds(1))
        #expect(commands == [
            SourceCommand("b", .disconnect("removed from the configuration")),
            SourceCommand("c", .connect),
            SourceCommand("d", .connect),
        ])
        #expect(s.machines["a"]?.isUp == true)
        #expect(s.machines["b"] == nil && s.names == ["a", "c", "d"])
        #expect(s.machines["c"]?.backoff.failures == 0)
        // A running source whose settings change is closed, then opened again.
        s.connected("d", at: t0 + .seconds(2))
        #expect(s.reload(try config("sources: {a: rtsp://h/a, c: rtsp://h/c2, d: {url: rtsp://h/d, fps: 3}}"), at: t0 + .seconds(3))
                == [SourceCommand("d", .disconnect("configuration changed")), SourceCommand("d", .connect)])
        // A new backoff restarts everything.
        let all = s.reload(try config("backoff: {cap: 10s}\nsources: {a: rtsp://h/a, c: rtsp://h/c2, d: {url: rtsp://h/d, fps: 3}}"),
                           at: t0 + .seconds(4))
        #expect(all == [SourceCommand("a", .disconnect("configuration changed")), SourceCommand("a", .connect),
                        SourceCommand("c", .disconnect("configuration changed")), SourceCommand("c", .connect),
                        SourceCommand("d", .disconnect("configuration changed")), SourceCommand("d", .connect)])
        // (d was still connecting: the attempt in progress is abandoned too.)
        #expect(s.config.backoff.cap == .seconds(10))
    }

    @Test("progress: the loop must tick; a wedged source fails it; stopAll closes what is open")
    func progressAndShutdown() throws {
        var rng = SeededGenerator(seed: 5)
        var s = ServeSupervisor(config: try config("defaults: {stall_timeout: 5s}\nsources: {a: rtsp://h/a, b: rtsp://h/b}"), now: t0)
        #expect(s.isProgressing(at: t0 + .seconds(1), tickTimeout: .seconds(3)))
        #expect(!s.isProgressing(at: t0 + .seconds(4), tickTimeout: .seconds(3)))  // no tick since t0
        _ = s.tick(at: t0 + .seconds(4), using: &rng)
        #expect(s.isProgressing(at: t0 + .seconds(4), tickTimeout: .seconds(3)))
        #expect(!s.isProgressing(at: t0 + .seconds(11), tickTimeout: .seconds(100)))  // both connecting for 11 s > 2 × 5 s
        s.connected("a", at: t0 + .seconds(4))
        #expect(s.stopAll(at: t0 + .seconds(5)) == [SourceCommand("a", .disconnect("stopped")), SourceCommand("b", .disconnect("stopped"))])
        #expect(s.stopAll(at: t0 + .seconds(6)).isEmpty)
    }
}
