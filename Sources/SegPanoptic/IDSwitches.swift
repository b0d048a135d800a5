/// Identity switches of tracked instances against ground truth with identities (a clip's instance ids).
///
/// How a switch is counted: in each frame, every ground-truth thing instance (not crowd) is matched to the
/// predicted segment of its class with IoU > 0.5, as panoptic quality matches (unique). A ground-truth
/// instance whose matched instance id differs from the id it was matched to the last time it was matched
/// (in any earlier frame, MOT's IDSW) counts one switch. Unmatched frames neither count nor reset.
/// `consecutiveSwitches` counts only changes between consecutive frames that both matched it (an instance
/// lost for a frame comes back with a new id by design, `InstanceTracker`; this leaves those out).
public struct IDSwitchCounter: Sendable {
    public private(set) var frames = 0
    public private(set) var switches = 0
    public private(set) var consecutiveSwitches = 0
    /// Ground-truth instances matched, summed over frames.
    public private(set) var matches = 0
    /// Ground-truth instances present, summed over frames.
    public private(set) var groundTruthInstances = 0
    private var lastID = [Int32: Int]()
    private var lastFrame = [Int32: Int]()

    public init() {}

    public var switchesPer100Frames: Double { frames > 0 ? Double(switches) * 100 / Double(frames) : 0 }

    /// One frame: ground truth (Cityscapes instance ids, as `PanopticQuality.cityscapesGroundTruth` reads
    /// them) and the prediction (segments with instance ids).
    public mutating func add(groundTruth gt: UnsafeBufferPointer<Int32>, segments gtSegments: [Int32: PanopticQuality.Segment],
                             prediction: PanopticResult) {
        frames += 1
        let map = prediction.map
        precondition(gt.count == map.segments.count, "ground truth and prediction differ in size")
        var pairs = [Int64: Int]()
        var gtArea = [Int32: Int]()
        var predArea = [Int32: Int]()
        map.segments.withUnsafeBufferPointer { pred in
            for i in 0..<gt.count {
                let g = gt[i], p = pred[i]
                if g != 0 { gtArea[g, default: 0] += 1 }
                if p != 0 { predArea[p, default: 0] += 1 }
                if g != 0 && p != 0 { pairs[Int64(g) << 32 | Int64(p), default: 0] += 1 }
            }
        }
        groundTruthInstances += gtSegments.filter { !$0.value.isCrowd && gtArea[$0.key] != nil }.count
        for (key, inter) in pairs {
            let g = Int32(key >> 32), p = Int32(key & 0xFFFF_FFFF)
            guard let s = gtSegments[g], !s.isCrowd, map.segmentClasses[Int(p) - 1] == s.trainID else { continue }
            let union = gtArea[g]! + predArea[p]! - inter
            guard Double(inter) / Double(union) > 0.5 else { continue }
            matches += 1
            let id = prediction.instanceIDs[Int(p) - 1]
            if let last = lastID[g], last != id {
                switches += 1
                if lastFrame[g] == frames - 1 { consecutiveSwitches += 1 }
            }
            lastID[g] = id
            lastFrame[g] = frames
        }
    }
}
