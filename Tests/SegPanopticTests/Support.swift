@testable import SegPanoptic

/// Tiny hand-drawn maps: one character per pixel, rows of equal length.
/// Semantic: `.` road, `s` sidewalk, `b` building, `p` person, `r` rider, `c` car, `t` truck, `k` bicycle,
/// `x` ignore (255).
enum Draw {
    static let trainIDs: [Character: UInt8] = [".": 0, "s": 1, "b": 2, "p": 11, "r": 12, "c": 13, "t": 14, "k": 18, "x": 255]

    static func semantic(_ rows: [String]) -> (labels: [UInt8], width: Int, height: Int) {
        let width = rows[0].count
        precondition(rows.allSatisfy { $0.count == width })
        return (rows.flatMap { $0.map { trainIDs[$0]! } }, width, rows.count)
    }

    /// Digits 0–9 (0 = no instance); `classes` gives instance k's train id at k − 1.
    static func instances(_ rows: [String], classes: [UInt8]) -> InstanceMap {
        let width = rows[0].count
        let ids = rows.flatMap { $0.map { Int32(String($0))! } }
        return InstanceMap(width: width, height: rows.count, ids: ids, classes: classes)
    }

    /// The segment map as digit rows (segment ids below 10).
    static func rows(_ values: [Int32], width: Int) -> [String] {
        stride(from: 0, to: values.count, by: width).map { start in
            String(values[start..<start + width].map { Character(String($0)) })
        }
    }

    static func rows(labels values: [UInt8], width: Int) -> [String] {
        let inverse = Dictionary(uniqueKeysWithValues: trainIDs.map { ($0.value, $0.key) })
        return stride(from: 0, to: values.count, by: width).map { start in
            String(values[start..<start + width].map { inverse[$0]! })
        }
    }

    static func fuse(_ semantic: [String], _ instances: [String], classes: [UInt8], minArea: Int) -> PanopticMap {
        let s = Self.semantic(semantic)
        let i = Self.instances(instances, classes: classes)
        return s.labels.withUnsafeBufferPointer {
            PanopticFusion.fuse(semantic: $0, instances: i, classes: .cityscapes, minSegmentArea: minArea)
        }
    }

    static func components(_ semantic: [String], minArea: Int = 0,
                           grouping: ConnectedComponents.Grouping = .class) -> InstanceMap {
        let s = Self.semantic(semantic)
        return s.labels.withUnsafeBufferPointer {
            ConnectedComponents.instances(semantic: $0, width: s.width, height: s.height, classes: .cityscapes,
                                          minArea: minArea, grouping: grouping)
        }
    }
}

let car: UInt8 = 13, truck: UInt8 = 14, person: UInt8 = 11, rider: UInt8 = 12, bicycle: UInt8 = 18
