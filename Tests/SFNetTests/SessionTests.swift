import Foundation
import SegEngine
import SFNet
import Testing

/// One loaded model serving several streams: sessions share the model (immutable) and a worker pool, and
/// each holds its own activations and scratch.
@Suite struct SessionTests {
    /// Frames of different content and sizes (so the sessions' arenas and indirection tables differ).
    static func frames(seed: Int) -> [Tensor] {
        [(48, 80), (37, 59), (48, 80), (64, 96)].enumerated().map { i, s in
            syntheticFrame(height: s.0, width: s.1, seed: seed + i)
        }
    }

    /// Runs `work(0)` and `work(1)` on two threads at once; the two start together.
    static func concurrently(_ work: @escaping @Sendable (Int) -> Void) {
        let start = DispatchSemaphore(value: 0), done = DispatchGroup()
        for k in 0..<2 {
            done.enter()
            Thread.detachNewThread {
                start.wait()
                work(k)
                done.leave()
            }
        }
        start.signal(); start.signal()
        done.wait()
    }

    /// Labels (and low-resolution logits) of each frame from two sessions running concurrently on one
    /// model equal those of a single session running the frames one by one. Run twice: both sessions on
    /// one pool (passes take turns), and on two pools of the same size (passes really overlap, so any
    /// state shared through the model would show).
    static func concurrentSessionsMatchSequential(_ model: any SegmentationModel, pool: WorkerPool) {
        concurrentSessionsMatchSequential(model, pools: [pool, pool])
        concurrentSessionsMatchSequential(model, pools: [pool, WorkerPool(threads: pool.threads)])
    }

    static func concurrentSessionsMatchSequential(_ model: any SegmentationModel, pools: [WorkerPool]) {
        let pool = pools[0]
        let inputs = [frames(seed: 500), frames(seed: 600)]
        // The reference: one session, every frame in turn.
        let reference = model.makeSession(pool: pool)
        let expected = inputs.map { $0.map { reference.predictLabels(input: $0) } }
        let expectedLogits = inputs.map { $0.map { reference.lowResolutionLogits(input: $0).toArray() } }
        for l in expected.joined() { #expect(Set(l).count >= 2, "labels should not be one class") }

        final class Results: @unchecked Sendable {   // one per stream, written by that stream only
            var labels: [[UInt8]] = []
            var logits: [[Float]] = []
        }
        let results = [Results(), Results()]
        let sessions = [model.makeSession(pool: pools[0]), model.makeSession(pool: pools[1])]
        nonisolated(unsafe) let shared = (sessions, inputs)
        concurrently { k in
            let (sessions, inputs) = shared
            for _ in 0..<2 {   // twice: the second round runs on warm arenas and tables
                results[k].labels = inputs[k].map { sessions[k].predictLabels(input: $0) }
                results[k].logits = inputs[k].map { sessions[k].lowResolutionLogits(input: $0).toArray() }
            }
        }
        for k in 0..<2 {
            for f in inputs[k].indices {
                #expect(results[k].labels[f] == expected[k][f], "stream \(k) frame \(f): labels differ")
                #expect(results[k].logits[f] == expectedLogits[k][f], "stream \(k) frame \(f): logits differ")
            }
        }
    }

    @Test(arguments: ["df1_w16_ac0", "r18_w16"])
    func fp32SessionsRunConcurrently(_ name: String) throws {
        let model = try SFNetModel(file: try balancedFixture(name))
        Self.concurrentSessionsMatchSequential(model, pool: testPool(2))
    }

    @Test func int8SessionsRunConcurrently() throws {
        let (_, int8, _) = try quantizedFixture("df1_w16_ac0", frames: 1)
        Self.concurrentSessionsMatchSequential(int8.model, pool: testPool(2))
    }

    /// Sessions on private pools of their own (different thread counts run different fp32 algorithms: each
    /// must still match a session of the same thread count on a model that never ran before).
    @Test func forwardsLeaveTheModelUnchanged() throws {
        let file = try balancedFixture("df2_w16")
        let used = try SFNetModel(file: file)
        let x = syntheticFrame(height: 56, width: 72, seed: 9)
        // Exercise the model at several sizes and thread counts (Winograd variants, splits, arenas).
        for threads in [1, 2, 3] {
            let s = used.session(threads: threads)
            for (h, w) in [(96, 128), (33, 47), (56, 72)] { _ = s.forward(input: syntheticFrame(height: h, width: w, seed: h)) }
        }
        for threads in [1, 2, 3] {
            let fresh = try SFNetModel(file: file).session(threads: threads)
            #expect(used.session(threads: threads).forward(input: x).toArray() == fresh.forward(input: x).toArray())
        }
        // int8: ISAs and geometries (indirection tables live in the sessions).
        let (_, int8, bytes) = try quantizedFixture("df2_w16", frames: 1)
        for (h, w) in [(96, 128), (33, 47)] { _ = int8.predictLabels(input: syntheticFrame(height: h, width: w, seed: w)) }
        let fresh = try SFNetInt8Model(file: try SafetensorsFile(bytes: Array(bytes))).session(threads: 2)
        #expect(int8.model.makeSession(pool: testPool(1)).lowResolutionLogits(input: x).toArray()
                == fresh.lowResolutionLogits(input: x).toArray())
    }

    /// Each session holds its own activations: a second session starts empty, and the first one's memory
    /// does not change when the second runs.
    @Test func sessionsOwnTheirActivations() throws {
        let model = try SFNetModel(file: try balancedFixture("df1_w16_ac0"))
        let a = model.session(threads: 2), b = model.session(threads: 2)
        let x = syntheticFrame(height: 48, width: 80, seed: 1)
        _ = a.predictLabels(input: x)
        let held = a.activationBytes
        #expect(held > 0 && b.activationBytes == 0)
        _ = b.predictLabels(input: syntheticFrame(height: 64, width: 96, seed: 2))
        #expect(a.activationBytes == held && b.activationBytes > 0)
    }

    /// The pool's turns are first come, first served: a pass that asked first runs first.
    @Test func poolTurnsAreFIFO() {
        let pool = WorkerPool(threads: 2)
        final class Log: @unchecked Sendable { let lock = NSLock(); var order: [Int] = [] }
        let log = Log()
        let holding = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchGroup()
        done.enter()
        Thread.detachNewThread {
            pool.withTurn { holding.signal(); release.wait() }
            done.leave()
        }
        holding.wait()
        // While the first turn is held, three callers queue up one after another.
        for k in 0..<3 {
            done.enter()
            Thread.detachNewThread {
                pool.withTurn { log.lock.lock(); log.order.append(k); log.lock.unlock() }
                done.leave()
            }
            while pool.pendingTurns < k + 2 { Thread.sleep(forTimeInterval: 0.001) }   // k is queued before k+1 asks
        }
        release.signal()
        done.wait()
        #expect(log.order == [0, 1, 2])
    }
}
