import CSegKernels
import Foundation
import Testing

/// seg_pool: every index runs exactly once per run, across many back-to-back runs (the spin/sleep and
/// generation handover), and a nested or oversized call is refused rather than deadlocking.
@Suite("fork-join pool")
struct PoolTests {
    final class Counts {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 8)   // one slot per index: no shared writes
        var pool: OpaquePointer?
        var nestedRefused = 0
        deinit { hits.deallocate() }
    }

    @Test func everyIndexRunsOnceAndNestedCallsAreRefused() throws {
        let pool = try #require(seg_pool_create(3))
        defer { seg_pool_destroy(pool) }
        let counts = Counts()
        counts.pool = pool
        let ctx = Unmanaged.passUnretained(counts).toOpaque()
        for run in 0..<3000 {
            let n = 1 + run % 4
            for i in 0..<8 { counts.hits[i] = 0 }
            #expect(seg_pool_run(pool, n, { ctx, i in
                let c = Unmanaged<Counts>.fromOpaque(ctx!).takeUnretainedValue()
                // Disjoint slots per index (every index is run by one thread only).
                c.hits[Int(i)] += 1
                if i == 0, seg_pool_run(c.pool, 2, { _, _ in }, nil) == 0 { c.nestedRefused += 1 }
            }, ctx) == 1)
            #expect((0..<8).allSatisfy { counts.hits[$0] == ($0 < n ? 1 : 0) }, "run \(run)")
            if run % 500 == 0 { usleep(300) }   // let the helpers fall asleep now and then
        }
        #expect(counts.nestedRefused == 3000 - 750)   // n = 1 runs inline and never refuses
        #expect(seg_pool_run(pool, 5, { _, _ in }, nil) == 0)   // more items than threads
    }
}
