import Foundation
import SegEngine
import SFNet

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in a.indices { m = max(m, abs(a[i] - b[i])) }
    return m
}

func maxAbs(_ a: [Float]) -> Float { a.reduce(0) { max($0, abs($1)) } }

/// One private worker pool per thread count, shared by the tests (as the process-wide pool is shared by
/// every model in the CLI): the thread count matters to the fp32 outputs (Winograd rule, splits).
private let poolLock = NSLock()
nonisolated(unsafe) private var pools: [Int: WorkerPool] = [:]
func testPool(_ threads: Int) -> WorkerPool {
    poolLock.lock(); defer { poolLock.unlock() }
    if let p = pools[threads] { return p }
    let p = WorkerPool(threads: threads)
    pools[threads] = p
    return p
}

extension SegmentationModel {
    /// A session on the tests' pool of `threads` workers.
    func session(threads: Int) -> InferenceSession { makeSession(pool: testPool(threads)) }
}
