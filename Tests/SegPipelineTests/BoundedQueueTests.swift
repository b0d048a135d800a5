import Foundation
import Testing
@testable import SegPipeline

@Suite("Bounded queue between stages")
struct BoundedQueueTests {
    @Test("wait policy delivers every element in order across threads")
    func waitDeliversAll() {
        let queue = BoundedQueue<Int>(capacity: 3, policy: .wait)
        let producer = Thread {
            for i in 0..<1000 { queue.push(i) }
            queue.close()
        }
        producer.start()
        var received: [Int] = []
        while let v = queue.pop() { received.append(v) }
        #expect(received == Array(0..<1000))
        #expect(queue.dropped == 0)
    }

    @Test("drop-oldest keeps the newest, returns and counts what it evicts")
    func dropOldestEvicts() {
        let queue = BoundedQueue<Int>(capacity: 2, policy: .dropOldest)
        var evicted: [Int] = []
        for i in 0..<5 {
            if case .queuedDropping(let old) = queue.push(i) { evicted.append(old) }
        }
        #expect(evicted == [0, 1, 2])
        #expect(queue.dropped == 3)
        #expect(queue.pop() == 3)
        #expect(queue.pop() == 4)
        queue.close()
        #expect(queue.pop() == nil)
    }

    @Test("with a staleness rule: a burst of fresh elements is kept; stale ones are evicted on push and skipped on pop, never the last")
    func staleElementsAreDropped() {
        let staleBelow = Locked(-1)   // elements below this value are stale
        let drops = Locked(0)
        let queue = BoundedQueue<Int>(capacity: 4, policy: .dropOldest, isStale: { $0 < staleBelow.withLock { $0 } },
                                      onDrop: { drops.withLock { $0 += 1 } })
        for i in 0..<3 { if case .queuedDropping = queue.push(i) { Issue.record("a fresh burst must not drop") } }
        #expect(queue.depth == 3 && queue.dropped == 0)
        staleBelow.withLock { $0 = 2 }
        #expect(queue.pop() == 2)            // 0 and 1 went stale while waiting
        #expect(queue.dropped == 2)
        queue.push(3); queue.push(4)
        staleBelow.withLock { $0 = 5 }
        guard case .queuedDropping(let last) = queue.push(5) else {
            Issue.record("stale elements must be evicted on push")
            return
        }
        #expect(last == 4 && queue.dropped == 4 && queue.depth == 1)
        staleBelow.withLock { $0 = 100 }
        #expect(queue.pop() == 5)            // stale, but the newest: kept
        staleBelow.withLock { $0 = -1 }
        for i in 6..<12 { queue.push(i) }    // the count bound still holds: 6 and 7 evicted
        #expect(queue.dropped == 6 && drops.withLock { $0 } == 6)
        queue.close()
        var rest: [Int] = []
        while let v = queue.pop() { rest.append(v) }
        #expect(rest == [8, 9, 10, 11])
    }

    @Test("push after close hands the element back")
    func pushAfterClose() {
        let queue = BoundedQueue<String>(capacity: 1, policy: .wait)
        queue.close()
        guard case .closed(let back) = queue.push("x") else {
            Issue.record("push after close must not queue")
            return
        }
        #expect(back == "x")
    }
}

@Suite("Latency statistics")
struct LatencyStatsTests {
    @Test("percentiles match the exact order statistics within the histogram's precision")
    func percentiles() {
        var stats = LatencyStats()
        var rng = SystemRandomNumberGenerator()
        var samples: [Double] = []
        for _ in 0..<5000 {
            let s = Double.random(in: 0.001...0.200, using: &rng)
            samples.append(s)
            stats.record(seconds: s)
        }
        samples.sort()
        for p in [50.0, 95.0, 99.0] {
            let exact = samples[Int((p / 100 * Double(samples.count)).rounded(.up)) - 1] * 1000
            #expect(abs(stats.milliseconds(atPercentile: p) - exact) <= exact * 0.002 + 0.002, "p\(p)")
        }
        #expect(stats.count == 5000)
        let mean = samples.reduce(0, +) / Double(samples.count) * 1000
        #expect(abs(stats.meanMilliseconds - mean) < mean * 0.002)
    }
}
