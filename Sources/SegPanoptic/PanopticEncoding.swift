/// One segment of a panoptic output (COCO panoptic `segments_info`).
public struct PanopticSegment: Sendable, Equatable {
    /// The id in the panoptic PNG (R + 256·G + 256²·B): Cityscapes' encoding, the label id for stuff and
    /// label id × 1000 + k for the k-th (0-based) thing segment of that class in this frame.
    public var id: Int
    /// Cityscapes label id (`category_id`).
    public var categoryID: Int
    public var trainID: UInt8
    public var area: Int
    /// x, y, width, height (COCO).
    public var bbox: [Int]
    public var isThing: Bool
    /// The stable instance id (`InstanceTracker`) of a thing segment, nil for stuff or when not tracked.
    public var instanceID: Int?
}

/// The COCO/Cityscapes panoptic format of a `PanopticMap`.
///
/// Ids are Cityscapes' (`gtFine_instanceIds` and cityscapesscripts' `createPanopticImgs`): a stuff segment is
/// its label id, a thing segment label id × 1000 + k, k = 0, 1, … in segment order within the frame, so an
/// output reads like Cityscapes ground truth. The id is unique per frame only; the identity of an instance
/// across frames is `instance_id` in the JSON. Pixels of no segment (ignore, noise, a class's 1001st thing
/// segment, a stuff class of `map.voidStuffClasses`) are 0 (void).
public enum PanopticEncoding {
    /// Segments of `map` (stuff first, by train id; then things, in segment order) and the id of each
    /// pixel, row-major.
    public static func encode(_ map: PanopticMap, classes: PanopticClasses,
                              instanceIDs: [Int]? = nil) -> (segments: [PanopticSegment], ids: [Int32]) {
        let n = map.width * map.height
        let stuffBase = map.segmentCount + 1  // slot of stuff train id t: stuffBase + t
        var slotID = [Int32](repeating: 0, count: stuffBase + 256)
        var perClass = [Int](repeating: 0, count: 256)
        var segments: [PanopticSegment] = []
        for t in 0..<classes.classCount where !classes.isThing(UInt8(t)) && !map.voidStuffClasses.contains(UInt8(t)) {
            slotID[stuffBase + t] = Int32(classes.labelID[t])
        }
        for k in 1..<stuffBase {
            let t = Int(map.segmentClasses[k - 1])
            if perClass[t] < 1000 { slotID[k] = Int32(classes.labelID[t] * 1000 + perClass[t]) }
            perClass[t] += 1
        }
        var ids = [Int32](repeating: 0, count: n)
        var minX = [Int](repeating: Int.max, count: stuffBase + 256), minY = minX
        var maxX = [Int](repeating: -1, count: stuffBase + 256), maxY = maxX
        var area = [Int](repeating: 0, count: stuffBase + 256)
        map.segments.withUnsafeBufferPointer { seg in
            map.labels.withUnsafeBufferPointer { lab in
                ids.withUnsafeMutableBufferPointer { ids in
                    slotID.withUnsafeBufferPointer { slotID in
                        area.withUnsafeMutableBufferPointer { area in
                            minX.withUnsafeMutableBufferPointer { minX in
                                maxX.withUnsafeMutableBufferPointer { maxX in
                                    minY.withUnsafeMutableBufferPointer { minY in
                                        maxY.withUnsafeMutableBufferPointer { maxY in
                                            for y in 0..<map.height {
                                                for x in 0..<map.width {
                                                    let i = y * map.width + x
                                                    let s = Int(seg[i])
                                                    let slot = s > 0 ? s : stuffBase + Int(lab[i])
                                                    let id = slotID[slot]
                                                    ids[i] = id
                                                    if id == 0 { continue }
                                                    area[slot] += 1
                                                    if x < minX[slot] { minX[slot] = x }
                                                    if x > maxX[slot] { maxX[slot] = x }
                                                    if y < minY[slot] { minY[slot] = y }
                                                    maxY[slot] = y
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        func segment(_ slot: Int, train: Int, thing: Bool, instance: Int?) -> PanopticSegment {
            PanopticSegment(id: Int(slotID[slot]), categoryID: classes.labelID[train], trainID: UInt8(train),
                            area: area[slot], bbox: [minX[slot], minY[slot], maxX[slot] - minX[slot] + 1, maxY[slot] - minY[slot] + 1],
                            isThing: thing, instanceID: instance)
        }
        for t in 0..<classes.classCount where area[stuffBase + t] > 0 {
            segments.append(segment(stuffBase + t, train: t, thing: false, instance: nil))
        }
        for k in 1..<stuffBase where area[k] > 0 {
            segments.append(segment(k, train: Int(map.segmentClasses[k - 1]), thing: true, instance: instanceIDs?[k - 1]))
        }
        return (segments, ids)
    }

    /// Panoptic PNG pixels: RGB24 with id = R + 256·G + 256²·B.
    public static func rgb(_ ids: [Int32]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ids.count * 3)
        for (i, id) in ids.enumerated() {
            out[3 * i] = UInt8(id & 0xFF)
            out[3 * i + 1] = UInt8((id >> 8) & 0xFF)
            out[3 * i + 2] = UInt8((id >> 16) & 0xFF)
        }
        return out
    }

    /// `segments_info` as JSON-ready dictionaries (`id`, `category_id`, `area`, `bbox`, `iscrowd`, and
    /// `instance_id` where tracked).
    public static func segmentsInfo(_ segments: [PanopticSegment]) -> [[String: Any]] {
        segments.map { s in
            var d: [String: Any] = ["id": s.id, "category_id": s.categoryID, "area": s.area, "bbox": s.bbox, "iscrowd": 0]
            if let i = s.instanceID { d["instance_id"] = i }
            return d
        }
    }

    /// Thing segments per class name (classes with none are left out).
    public static func instanceCounts(_ map: PanopticMap, classes: PanopticClasses) -> [String: Int] {
        var counts = [String: Int]()
        for c in map.segmentClasses { counts[classes.names[Int(c)], default: 0] += 1 }
        return counts
    }
}
