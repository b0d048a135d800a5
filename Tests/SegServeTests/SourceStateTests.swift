import Testing
@testable import SegServe

/// SplitMix64: a seeded generator, so every draw in these tests is the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let t0 = MonotonicInstant.seconds(1000)

@Suite("Backoff: capped exponential, full jitter")
struct BackoffTests {
    @Test("ceilings double from initial up to the cap (defaults: 1 s … 30 s)")
    func ceilings() {
        var backoff = Backoff(settings: BackoffSettings())
        var rng = SeededGenerator(seed: 1)
        var ceilings: [Duration] = []
        for _ in 0..<8 {
            ceilings.append(backoff.ceiling)
            _ = backoff.nextDelay(using: &rng)
        }
        #expect(ceilings == [1, 2, 4, 8, 16, 30, 30, 30].map { Duration.seconds($0) })
        for _ in 0..<200 { _ = backoff.nextDelay(using: &rng) }  // 2^200 × initial does not overflow
        #expect(backoff.ceiling == .seconds(30))
        backoff.reset()
        #expect(backoff.ceiling == .seconds(1) && backoff.failures == 0)
    }

    @Test("the first retry comes within 1 s, whatever the draw", arguments: [0, 1, 2, 3, 42, 1234] as [UInt64])
    func firstRetry(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var backoff = Backoff(settings: BackoffSettings())
        let delay = backoff.nextDelay(using: &rng)
        #expect(delay >= .zero && delay <= .seconds(1))
    }

    @Test("full jitter: draws cover 0…ceiling at every step and never pass it")
    func fullJitterBounds() {
        var rng = SeededGenerator(seed: 7)
        for failures in 0..<7 {
            var lowest = Duration.seconds(1000), highest = Duration.zero
            var ceiling = Duration.zero
            for _ in 0..<2000 {
                var backoff = Backoff(settings: BackoffSettings())
                for _ in 0..<failures { _ = backoff.nextDelay(using: &rng) }
                ceiling = backoff.ceiling
                let d = backoff.nextDelay(using: &rng)
                lowest = min(lowest, d)
                highest = max(highest, d)
            }
            #expect(highest <= ceiling, "failures=\(failures)")
            #expect(highest >= ceiling * 0.98, "failures=\(failures): draws should reach the ceiling")
            #expect(lowest <= ceiling * 0.02, "failures=\(failures): draws should reach zero (full, not equal, jitter)")
        }
    }

    @Test("max_retries: exhausted after that many failures plus one; nil never")
    func exhaustion() {
        var rng = SeededGenerator(seed: 3)
        var limited = Backoff(settings: BackoffSettings(maxRetries: 2))
        var states: [Bool] = []
        for _ in 0..<4 {
            _ = limited.nextDelay(using: &rng)
            states.append(limited.exhausted)
        }
        #expect(states == [false, false, true, true])
        var forever = Backoff(settings: BackoffSettings())
        for _ in 0..<1000 { _ = forever.nextDelay(using: &rng) }
        #expect(!forever.exhausted)
    }
}

@Suite("SourceStateMachine: connecting, running, backing off, stopped")
struct SourceStateMachineTests {
    func machine(live: Bool = true, loops: Bool = false, settings: BackoffSettings = BackoffSettings(),
                 stall: Duration = .seconds(20)) -> SourceStateMachine {
        SourceStateMachine(backoff: settings, stallTimeout: stall, isLive: live, loops: loops, now: t0)
    }

    @Test("a failure backs off within the ceiling; the delay's end starts the next attempt")
    func failureAndRetry() {
        var rng = SeededGenerator(seed: 11)
        var m = machine()
        #expect(m.phase == .connecting(attempt: 1))
        m.connected(at: t0 + .seconds(1))
        #expect(m.phase == .running && m.isUp)
        #expect(m.failed("connection reset", at: t0 + .seconds(5), using: &rng) == .disconnect("connection reset"))
        guard case .backingOff(let until) = m.phase else {
            Issue.record("expected backing off, got \(m.phase)")
            return
        }
        #expect(until >= t0 + .seconds(5) && until <= t0 + .seconds(6))  // first retry within 1 s
        #expect(m.lastError == "connection reset" && !m.isUp)
        #expect(m.failed("late error from the old input", at: t0 + .seconds(5), using: &rng) == .none)
        #expect(m.tick(at: until - .milliseconds(1), using: &rng) == .none)
        #expect(m.tick(at: until, using: &rng) == .connect)
        #expect(m.phase == .connecting(attempt: 2) && m.reconnects == 1)
        // The second failure in a row draws from 0…2 s.
        #expect(m.backoff.ceiling == .seconds(2))
        #expect(m.failed("refused", at: until + .seconds(1), using: &rng) == .disconnect("refused"))
        #expect(m.backoff.failures == 2)
    }

    @Test("running for stable_reset resets the backoff; one millisecond less does not")
    func stableReset() {
        var rng = SeededGenerator(seed: 5)
        var settings = BackoffSettings()
        settings.stableReset = .seconds(60)
        for (runFor, expectedFailures) in [(Duration.seconds(60), 1), (.seconds(60) - .milliseconds(1), 4)] {
            var m = machine(settings: settings, stall: .seconds(3600))
            var now = t0
            for _ in 0..<3 {  // three quick failures: the ceiling is up to 8 s
                m.connected(at: now)
                _ = m.failed("down", at: now, using: &rng)
                if case .backingOff(let until) = m.phase { now = until }
                #expect(m.tick(at: now, using: &rng) == .connect)
            }
            #expect(m.backoff.ceiling == .seconds(8))
            m.connected(at: now)
            m.frameDecoded(at: now + runFor)
            _ = m.failed("down again", at: now + runFor, using: &rng)
            #expect(m.backoff.failures == expectedFailures, "ran for \(runFor)")
        }
        // tick also resets during a long run, so the status shows attempt 1 afterwards.
        var m = machine(settings: settings, stall: .seconds(3600))
        _ = m.failed("x", at: t0, using: &rng)
        if case .backingOff(let until) = m.phase { _ = m.tick(at: until, using: &rng) }
        m.connected(at: t0 + .seconds(2))
        _ = m.tick(at: t0 + .seconds(62), using: &rng)
        #expect(m.backoff.failures == 0)
    }

    @Test("watchdog: no frame for longer than stall_timeout while running is a failure")
    func stallWhileRunning() {
        var rng = SeededGenerator(seed: 9)
        var m = machine(stall: .seconds(20))
        m.connected(at: t0)
        m.frameDecoded(at: t0 + .seconds(10))
        #expect(!m.isStalled(at: t0 + .seconds(30)))
        #expect(m.tick(at: t0 + .seconds(30), using: &rng) == .none)  // exactly the timeout: not yet
        #expect(m.isStalled(at: t0 + .seconds(30) + .milliseconds(1)))
        #expect(m.tick(at: t0 + .seconds(31), using: &rng) == .disconnect("no frame decoded for 20s (stall_timeout)"))
        if case .backingOff = m.phase {} else { Issue.record("expected backing off, got \(m.phase)") }
        #expect(!m.isStalled(at: t0 + .seconds(1000)))  // backing off is not a stall
    }

    @Test("watchdog: an open that hangs is a failure too, measured from the attempt's start")
    func stallWhileConnecting() {
        var rng = SeededGenerator(seed: 9)
        var m = machine(stall: .milliseconds(300))
        #expect(m.tick(at: t0 + .milliseconds(300), using: &rng) == .none)
        #expect(m.tick(at: t0 + .milliseconds(301), using: &rng) == .disconnect("not connected for 300ms (stall_timeout)"))
    }

    @Test("wedged: stalled for more than twice stall_timeout means the driver itself is stuck")
    func wedged() {
        var m = machine(stall: .seconds(10))
        m.connected(at: t0)
        m.frameDecoded(at: t0)
        #expect(m.isStalled(at: t0 + .seconds(11)) && !m.isWedged(at: t0 + .seconds(20)))
        #expect(m.isWedged(at: t0 + .seconds(21)))
    }

    @Test("end of stream: a live source backs off, a looping file reopens at once, a file finishes")
    func endOfStream() {
        var rng = SeededGenerator(seed: 2)
        var live = machine(live: true)
        live.connected(at: t0)
        #expect(live.endOfStream(at: t0 + .seconds(1), using: &rng) == .disconnect("the stream ended"))
        if case .backingOff = live.phase {} else { Issue.record("expected backing off, got \(live.phase)") }

        var looping = machine(live: false, loops: true)
        looping.connected(at: t0)
        #expect(looping.endOfStream(at: t0 + .seconds(1), using: &rng) == .connect)
        #expect(looping.phase == .connecting(attempt: 1) && looping.backoff.failures == 0 && looping.reconnects == 1)

        var file = machine(live: false)
        file.connected(at: t0)
        #expect(file.endOfStream(at: t0 + .seconds(1), using: &rng) == .disconnect("end of file"))
        #expect(file.phase == .stopped(.finished))
        #expect(file.tick(at: t0 + .seconds(100), using: &rng) == .none)
    }

    @Test("max_retries reached: stopped with the last error; forever by default")
    func givingUp() {
        var rng = SeededGenerator(seed: 4)
        var m = machine(settings: BackoffSettings(maxRetries: 1))
        #expect(m.failed("refused", at: t0, using: &rng) == .disconnect("refused"))
        guard case .backingOff(let until) = m.phase else { Issue.record("\(m.phase)"); return }
        _ = m.tick(at: until, using: &rng)
        #expect(m.failed("refused again", at: until, using: &rng) == .disconnect("refused again"))
        #expect(m.phase == .stopped(.gaveUp("refused again")))

        var forever = machine(settings: BackoffSettings(initial: .milliseconds(1), cap: .milliseconds(2)))
        var now = t0
        for _ in 0..<500 {
            _ = forever.failed("down", at: now, using: &rng)
            guard case .backingOff(let until) = forever.phase else { Issue.record("\(forever.phase)"); return }
            now = until
            #expect(forever.tick(at: now, using: &rng) == .connect)
        }
        #expect(forever.reconnects == 500)
    }

    @Test("stop: from any phase; an open input is closed")
    func stopping() {
        var rng = SeededGenerator(seed: 6)
        var running = machine()
        running.connected(at: t0)
        #expect(running.stop(at: t0) == .disconnect("stopped"))
        #expect(running.phase == .stopped(.requested))
        #expect(running.stop(at: t0) == .none)
        var waiting = machine()
        _ = waiting.failed("x", at: t0, using: &rng)
        #expect(waiting.stop(at: t0) == .none && waiting.phase == .stopped(.requested))
        #expect(waiting.tick(at: t0 + .seconds(100), using: &rng) == .none)
    }

    @Test("built from a source's config: its stall timeout, liveness and loop flag")
    func fromConfig() throws {
        var source = SourceConfig(name: "f", url: "/x.mp4", kind: .file)
        source.loop = true
        source.stallTimeout = .seconds(3)
        let m = SourceStateMachine(source: source, backoff: BackoffSettings(), now: t0)
        #expect(m.loops && !m.isLive && m.stallTimeout == .seconds(3))
    }
}
