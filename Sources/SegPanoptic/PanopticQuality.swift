/// Panoptic quality (Kirillov et al., CVPR 2019) accumulated over frames, computed exactly as panopticapi's
/// `pq_compute` (which cityscapesscripts' `evalPanopticSemanticLabeling` copies):
/// - a ground-truth and a predicted segment of the same category match when their IoU exceeds 0.5, where
///   the union leaves out the predicted pixels on void ground truth; crowd segments never match;
/// - an unmatched ground-truth segment is a false negative unless it is a crowd region;
/// - an unmatched prediction is a false positive unless more than half of it lies on void or on a crowd
///   region of its category;
/// - PQ = ΣIoU / (TP + ½FP + ½FN), SQ = ΣIoU / TP, RQ = TP / (TP + ½FP + ½FN) per class; averages over the
///   classes with any TP, FP or FN (all of them, things, stuff).
public struct PanopticQuality: Sendable {
    public struct ClassStats: Sendable, Equatable {
        public var iou = 0.0
        public var tp = 0
        public var fp = 0
        public var fn = 0
        public var pq: Double { let d = Double(tp) + 0.5 * Double(fp) + 0.5 * Double(fn); return d > 0 ? iou / d : 0 }
        public var sq: Double { tp > 0 ? iou / Double(tp) : 0 }
        public var rq: Double { let d = Double(tp) + 0.5 * Double(fp) + 0.5 * Double(fn); return d > 0 ? Double(tp) / d : 0 }
        public var counted: Bool { tp + fp + fn > 0 }
    }

    public struct Average: Sendable, Equatable {
        public var pq: Double
        public var sq: Double
        public var rq: Double
        /// Classes averaged.
        public var n: Int
    }

    /// A segment of one frame: its category (train id) and whether it is a crowd region (ground truth only).
    public struct Segment: Sendable, Equatable {
        public var trainID: UInt8
        public var isCrowd: Bool
        public init(trainID: UInt8, isCrowd: Bool = false) {
            self.trainID = trainID
            self.isCrowd = isCrowd
        }
    }

    public let classes: PanopticClasses
    /// Per train id.
    public private(set) var stats: [ClassStats]
    public private(set) var frames = 0

    public init(classes: PanopticClasses) {
        self.classes = classes
        stats = Array(repeating: ClassStats(), count: classes.classCount)
    }

    /// Adds one frame: per-pixel segment ids of ground truth and prediction (0 = void) and their segments.
    /// Ids present in a map but absent from its table count as void.
    public mutating func add(groundTruth gt: UnsafeBufferPointer<Int32>, segments gtSegments: [Int32: Segment],
                             prediction pred: UnsafeBufferPointer<Int32>, segments predSegments: [Int32: Segment]) {
        precondition(gt.count == pred.count, "ground truth and prediction differ in size")
        frames += 1
        var pairs = [Int64: Int]()
        var key: Int64 = Int64.min
        var run = 0
        for i in 0..<gt.count {
            let k = Int64(gt[i]) << 32 | Int64(UInt32(bitPattern: pred[i]))
            if k != key {
                if run > 0 { pairs[key, default: 0] += run }
                key = k
                run = 0
            }
            run += 1
        }
        if run > 0 { pairs[key, default: 0] += run }
        var gtArea = [Int32: Int](), predArea = [Int32: Int]()
        var predOnVoid = [Int32: Int]()
        for (k, count) in pairs {
            let g = Int32(truncatingIfNeeded: k >> 32), p = Int32(bitPattern: UInt32(truncatingIfNeeded: k))
            let gv = gtSegments[g] == nil, pv = predSegments[p] == nil
            if !gv { gtArea[g, default: 0] += count }
            if !pv { predArea[p, default: 0] += count }
            if gv && !pv { predOnVoid[p, default: 0] += count }
        }
        var gtMatched = Set<Int32>(), predMatched = Set<Int32>()
        for (k, inter) in pairs {
            let g = Int32(truncatingIfNeeded: k >> 32), p = Int32(bitPattern: UInt32(truncatingIfNeeded: k))
            guard let gs = gtSegments[g], let ps = predSegments[p], !gs.isCrowd, gs.trainID == ps.trainID else { continue }
            let union = predArea[p]! + gtArea[g]! - inter - predOnVoid[p, default: 0]
            let iou = Double(inter) / Double(union)
            if iou > 0.5 {
                stats[Int(gs.trainID)].tp += 1
                stats[Int(gs.trainID)].iou += iou
                gtMatched.insert(g)
                predMatched.insert(p)
            }
        }
        var crowd = [UInt8: Int32]()
        for (g, s) in gtSegments.sorted(by: { $0.key < $1.key }) where gtArea[g] != nil && !gtMatched.contains(g) {
            if s.isCrowd { crowd[s.trainID] = g } else { stats[Int(s.trainID)].fn += 1 }
        }
        for (p, s) in predSegments where predArea[p] != nil && !predMatched.contains(p) {
            var ignored = predOnVoid[p, default: 0]
            if let c = crowd[s.trainID] { ignored += pairs[Int64(c) << 32 | Int64(UInt32(bitPattern: p)), default: 0] }
            if Double(ignored) / Double(predArea[p]!) > 0.5 { continue }
            stats[Int(s.trainID)].fp += 1
        }
    }

    public mutating func merge(_ other: PanopticQuality) {
        for c in stats.indices {
            stats[c].iou += other.stats[c].iou
            stats[c].tp += other.stats[c].tp
            stats[c].fp += other.stats[c].fp
            stats[c].fn += other.stats[c].fn
        }
        frames += other.frames
    }

    /// Mean over the classes counted; `things` nil = all, true = thing classes, false = stuff.
    public func average(things: Bool? = nil) -> Average {
        var pq = 0.0, sq = 0.0, rq = 0.0, n = 0
        for (c, s) in stats.enumerated() where s.counted {
            if let things, classes.isThing(UInt8(c)) != things { continue }
            pq += s.pq
            sq += s.sq
            rq += s.rq
            n += 1
        }
        return n > 0 ? Average(pq: pq / Double(n), sq: sq / Double(n), rq: rq / Double(n), n: n) : Average(pq: 0, sq: 0, rq: 0, n: 0)
    }

    /// Ground-truth segments of a Cityscapes `instanceIds` map: id ≥ 1000 is instance id % 1000 of label id
    /// / 1000; a smaller id is the label id, a crowd region when that class has instances; labels that are
    /// not evaluated are void. Returns the ids (0 = void) and their segments.
    public static func cityscapesGroundTruth(_ instanceIDs: UnsafeBufferPointer<UInt16>,
                                             classes: PanopticClasses) -> (ids: [Int32], segments: [Int32: Segment]) {
        var trainOfLabel = [Int](repeating: -1, count: 256)
        for t in 0..<classes.classCount { trainOfLabel[classes.labelID[t]] = t }
        var segments = [Int32: Segment]()
        var ids = [Int32](repeating: 0, count: instanceIDs.count)
        var last: UInt16 = 0, lastID: Int32 = 0, first = true
        for i in 0..<instanceIDs.count {
            let v = instanceIDs[i]
            if first || v != last {
                first = false
                last = v
                let label = v >= 1000 ? Int(v) / 1000 : Int(v)
                let t = label < 256 ? trainOfLabel[label] : -1
                if t < 0 {
                    lastID = 0
                } else {
                    lastID = Int32(v)
                    if segments[lastID] == nil {
                        segments[lastID] = Segment(trainID: UInt8(t), isCrowd: v < 1000 && classes.isThing(UInt8(t)))
                    }
                }
            }
            ids[i] = lastID
        }
        return (ids, segments)
    }
}
