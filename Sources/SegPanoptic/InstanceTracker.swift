/// Stable instance ids across frames: a segment takes the id of the previous frame's segment of the same
/// class that it overlaps most (greedy by mask IoU, highest first, at least `minIoU`); others get new ids,
/// and an id is never given again once its instance is lost.
///
/// Single owner (one thread feeds it frames in order). Only the previous frame is remembered: an instance
/// hidden for a frame comes back with a new id.
public final class InstanceTracker {
    public let minIoU: Double
    private var previous: [Int32] = []
    private var previousWidth = 0
    private var previousHeight = 0
    private var previousClasses: [UInt8] = []
    private var previousIDs: [Int] = []
    private var previousAreas: [Int] = []
    private var nextID = 1

    public init(minIoU: Double = 0.1) {
        precondition(minIoU > 0 && minIoU <= 1, "minIoU must be within (0, 1]")
        self.minIoU = minIoU
    }

    /// The id of each segment of `map` (index k − 1 for segment k). Ids start at 1.
    public func update(_ map: PanopticMap) -> [Int] {
        let count = map.segmentCount
        var areas = [Int](repeating: 0, count: count + 1)
        map.segments.withUnsafeBufferPointer { for s in $0 { areas[Int(s)] += 1 } }
        var ids = [Int](repeating: 0, count: count)
        let m = previousClasses.count
        if count > 0, m > 0, previousWidth == map.width, previousHeight == map.height {
            // Overlap counts of (current, previous) pairs, over runs of equal pairs.
            var overlap = [Int64: Int]()
            map.segments.withUnsafeBufferPointer { cur in
                previous.withUnsafeBufferPointer { prev in
                    var key: Int64 = -1
                    var run = 0
                    for i in 0..<cur.count {
                        let a = cur[i], b = prev[i]
                        let k: Int64 = a > 0 && b > 0 ? Int64(a) << 32 | Int64(b) : -1
                        if k != key {
                            if key >= 0 { overlap[key, default: 0] += run }
                            key = k
                            run = 0
                        }
                        run += 1
                    }
                    if key >= 0 { overlap[key, default: 0] += run }
                }
            }
            var pairs: [(iou: Double, cur: Int, prev: Int)] = []
            for (key, inter) in overlap {
                let a = Int(key >> 32), b = Int(key & 0xFFFF_FFFF)
                guard map.segmentClasses[a - 1] == previousClasses[b - 1] else { continue }
                let iou = Double(inter) / Double(areas[a] + previousAreas[b] - inter)
                if iou >= minIoU { pairs.append((iou, a, b)) }
            }
            pairs.sort { ($0.iou, -$0.cur, -$0.prev) > ($1.iou, -$1.cur, -$1.prev) }
            var taken = [Bool](repeating: false, count: m + 1)
            for pair in pairs where ids[pair.cur - 1] == 0 && !taken[pair.prev] {
                ids[pair.cur - 1] = previousIDs[pair.prev - 1]
                taken[pair.prev] = true
            }
        }
        for k in 0..<count where ids[k] == 0 {
            ids[k] = nextID
            nextID += 1
        }
        previous = map.segments
        previousWidth = map.width
        previousHeight = map.height
        previousClasses = map.segmentClasses
        previousIDs = ids
        previousAreas = areas
        return ids
    }

    /// Forgets the previous frame (a new stream); ids keep counting up.
    public func reset() {
        previousClasses = []
        previousIDs = []
    }
}
