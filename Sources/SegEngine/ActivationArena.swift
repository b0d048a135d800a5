/// Activation buffers reused across frames. The first forward pass at a given input size records which
/// buffer each `acquire` got (best fit among released ones no more than twice the request, else a new one); later passes with the same
/// key replay that assignment (one recording per key), so steady-state frames allocate nothing and peak memory is the largest
/// live set rather than the sum of all activations.
///
/// Single owner: used by one forward pass at a time.
public final class ActivationArena {
    private var buffers: [TensorStorage] = []
    private var isFree: [Bool] = []
    /// Buffer index of each acquire, per key (buffers never shrink, so a recording stays valid).
    private var assignments: [[Int]: [Int]] = [:]
    private var assignment: [Int] = []
    private var cursor = 0
    private var replaying = false
    private var key: [Int]? = nil

    public init() {}

    /// Starts a pass; `key` identifies the sequence of requests (e.g. the input size).
    public func beginPass(key: [Int]) {
        if let previous = self.key { assignments[previous] = assignment }
        self.key = key
        if let recorded = assignments[key], !recorded.isEmpty {
            assignment = recorded
            replaying = true
        } else {
            assignment = []
            replaying = false
        }
        cursor = 0
        for i in isFree.indices { isFree[i] = true }
    }

    /// A C×H×W tensor whose contents are undefined.
    public func acquire(channels: Int, height: Int, width: Int) -> Tensor {
        let need = channels * height * width
        let index: Int
        if replaying && cursor < assignment.count && buffers[assignment[cursor]].capacity >= need && isFree[assignment[cursor]] {
            index = assignment[cursor]
        } else {
            if replaying { replaying = false; assignment.removeSubrange(cursor...) }  // request order changed
            var best = -1
            for i in buffers.indices where isFree[i] && buffers[i].capacity >= need {
                if best < 0 || buffers[i].capacity < buffers[best].capacity { best = i }
            }
            // A buffer more than twice the request would pin a big block under a small tensor for its
            // whole life; a fresh exact-size one keeps the big block free for big requests.
            if best >= 0 && buffers[best].capacity > 2 * need { best = -1 }
            if best < 0 {
                buffers.append(TensorStorage(capacity: need))
                isFree.append(true)
                best = buffers.count - 1
            }
            index = best
            assignment.append(index)
        }
        cursor += 1
        isFree[index] = false
        return Tensor(storage: buffers[index], offset: 0, channels: channels, height: height, width: width)
    }

    /// Returns a tensor from `acquire` (or any slice of it) to the pool.
    public func release(_ t: Tensor) {
        if let i = buffers.firstIndex(where: { $0 === t.storage }) { isFree[i] = true }
    }

    /// Returns the buffer `storage` (from `acquire`) to the pool (byte views such as int8 activations).
    public func release(storage: TensorStorage) {
        if let i = buffers.firstIndex(where: { $0 === storage }) { isFree[i] = true }
    }

    /// Bytes held by the arena.
    public var bytes: Int { buffers.reduce(0) { $0 + $1.capacity * 4 } }

    /// Frees every buffer (e.g. after a change of input size).
    public func reset() {
        buffers.removeAll(); isFree.removeAll(); assignment.removeAll(); assignments.removeAll(); key = nil
    }
}
