import Foundation  // log, for the threshold's logit

/// The instance head's raw output for one frame (tools/sfnet/model.py, `head.instance_head`): at the
/// network's fusion resolution, one centre-heatmap logit channel per thing class, then the offset (dx, dy)
/// from each cell to its instance's centre, in cells. CHW, row-major.
public struct InstanceHeadOutput: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Train id of each heatmap channel.
    public let thingClasses: [UInt8]
    /// (thingClasses.count + 2) × height × width.
    public let values: [Float]

    public init(width: Int, height: Int, thingClasses: [UInt8], values: [Float]) {
        precondition(width > 0 && height > 0 && values.count == (thingClasses.count + 2) * width * height,
                     "instance head output: (classes + 2) × height × width values")
        self.width = width
        self.height = height
        self.thingClasses = thingClasses
        self.values = values
    }
}

/// A predicted instance centre, in cells of the head's map.
public struct InstanceCentre: Sendable, Equatable {
    public var x: Float
    public var y: Float
    public var trainID: UInt8
    /// The heatmap logit at the peak.
    public var score: Float

    public init(x: Float, y: Float, trainID: UInt8, score: Float) {
        self.x = x
        self.y = y
        self.trainID = trainID
        self.score = score
    }
}

/// What decides the class of an instance from the head.
public enum InstanceClassRule: String, Sendable, CaseIterable {
    /// Its centre's heatmap class.
    case centre
    /// The most frequent semantic class of its pixels (ties: the lower train id).
    case labels
    /// The semantic labels' own: an instance is the pixels of one centre within one 4-connected region of one
    /// semantic class (the head splits the connected components, never merges them), of that class.
    case components
}

/// Instances from the instance head (Panoptic-DeepLab's grouping, CenterNet's peaks), as pure functions:
/// 1. **Centres**: per class, the heatmap cells whose logit is the maximum of their 3×3 neighbourhood (max-pool
///    NMS) and above the threshold, at most `topK` over all classes (highest first); a centre sits at its
///    cell moved by the cell's own offset (the head's sub-cell estimate of the mass centre).
/// 2. **Grouping**: every thing pixel of the semantic map votes for a centre at its position in the head's
///    map plus its offset (bilinear between cells) and joins the nearest centre whose class is of the
///    pixel's semantic category; an instance's class is its centre's (object-level classification, as the
///    fusion needs), or with `.labels` the most frequent semantic class of its pixels (still one class per object). A pixel with no centre of its category stays uncovered (the fusion grows a neighbour
///    into it or makes it an isolated segment).
///
/// Output pixel (x, y) of a W×H map sits at head coordinates (x·(w−1)/(W−1), y·(h−1)/(H−1)): the
/// align_corners=True mapping by which the logits are upsampled (and tools/train_instances.py's targets).
public enum InstanceHeadDecoder {
    /// Probability → the logit threshold the heatmaps are compared with (no sigmoid per cell).
    public static func logit(probability p: Double) -> Float { Float(log(p / (1 - p))) }

    public static func centres(_ head: InstanceHeadOutput, threshold: Float, topK: Int) -> [InstanceCentre] {
        let w = head.width, h = head.height, plane = w * h
        var found: [InstanceCentre] = []
        head.values.withUnsafeBufferPointer { v in
            for (k, cls) in head.thingClasses.enumerated() {
                let heat = v.baseAddress! + k * plane
                for y in 0..<h {
                    for x in 0..<w {
                        let s = heat[y * w + x]
                        guard s > threshold else { continue }
                        var isPeak = true
                        for yy in max(0, y - 1)...min(h - 1, y + 1) where isPeak {
                            for xx in max(0, x - 1)...min(w - 1, x + 1) where heat[yy * w + xx] > s { isPeak = false; break }
                        }
                        guard isPeak else { continue }
                        let n = head.thingClasses.count
                        let dx = v[(n * plane) + y * w + x], dy = v[((n + 1) * plane) + y * w + x]
                        found.append(InstanceCentre(x: Float(x) + dx, y: Float(y) + dy, trainID: cls, score: s))
                    }
                }
            }
        }
        // Highest first; ties by class then position, so the order never depends on the sort.
        found.sort { ($0.score, $1.trainID, $1.y, $1.x) > ($1.score, $0.trainID, $0.y, $0.x) }
        return Array(found.prefix(max(0, topK)))
    }

    /// Instances over `semantic` (train ids, width × height) from `head`'s centres and offsets. Centres
    /// that gather no pixel, and instances smaller than `minArea` pixels (left uncovered), are not
    /// instances; the rest are numbered in the centres' order.
    public static func instances(semantic: UnsafeBufferPointer<UInt8>, width: Int, height: Int, head: InstanceHeadOutput,
                                 classes: PanopticClasses, threshold: Float, topK: Int = 200, minArea: Int = 0,
                                 classFrom: InstanceClassRule = .centre) -> InstanceMap {
        precondition(semantic.count == width * height, "one label per pixel")
        let found = centres(head, threshold: threshold, topK: topK)
        let hw = head.width, hh = head.height, plane = hw * hh, n = head.thingClasses.count
        let sx = width > 1 ? Float(hw - 1) / Float(width - 1) : 0
        let sy = height > 1 ? Float(hh - 1) / Float(height - 1) : 0
        // Centres by category, so a pixel only looks at its own.
        var byCategory = [[Int]](repeating: [], count: 256)
        for (i, c) in found.enumerated() { byCategory[Int(classes.category[Int(c.trainID)])].append(i) }
        var ids = [Int32](repeating: 0, count: width * height)
        var area = [Int](repeating: 0, count: found.count)
        // Per centre, its pixels' semantic classes (for `.labels`).
        var votes = classFrom == .labels ? [Int](repeating: 0, count: found.count * 256) : []
        head.values.withUnsafeBufferPointer { v in
            let ox = v.baseAddress! + n * plane, oy = v.baseAddress! + (n + 1) * plane
            for y in 0..<height {
                let fy = Float(y) * sy
                let y0 = min(Int(fy), hh - 1), y1 = min(y0 + 1, hh - 1), ty = fy - Float(y0)
                for x in 0..<width {
                    let p = y * width + x
                    let cat = Int(classes.category[Int(semantic[p])])
                    guard cat != 0, !byCategory[cat].isEmpty else { continue }
                    let fx = Float(x) * sx
                    let x0 = min(Int(fx), hw - 1), x1 = min(x0 + 1, hw - 1), tx = fx - Float(x0)
                    func bilinear(_ m: UnsafePointer<Float>) -> Float {
                        let top = m[y0 * hw + x0] + (m[y0 * hw + x1] - m[y0 * hw + x0]) * tx
                        let bottom = m[y1 * hw + x0] + (m[y1 * hw + x1] - m[y1 * hw + x0]) * tx
                        return top + (bottom - top) * ty
                    }
                    let px = fx + bilinear(ox), py = fy + bilinear(oy)
                    var best = -1, bestDistance = Float.infinity
                    for i in byCategory[cat] {
                        let ddx = found[i].x - px, ddy = found[i].y - py, d = ddx * ddx + ddy * ddy
                        if d < bestDistance { best = i; bestDistance = d }
                    }
                    ids[p] = Int32(best + 1)
                    area[best] += 1
                    if classFrom == .labels { votes[best * 256 + Int(semantic[p])] += 1 }
                }
            }
        }
        if classFrom == .components {
            return splitByComponents(semantic: semantic, width: width, height: height, centreOf: ids, minArea: minArea)
        }
        // Renumber the centres that make instances 1, 2, … in their order; the others' pixels are uncovered.
        var number = [Int32](repeating: 0, count: found.count + 1)
        var instanceClasses: [UInt8] = []
        for i in found.indices where area[i] > 0 && area[i] >= minArea {
            if classFrom == .labels {
                let v = votes[(i * 256)..<(i * 256 + 256)]
                instanceClasses.append(UInt8(v.indices.max { v[$0] < v[$1] || (v[$0] == v[$1] && $0 > $1) }! - i * 256))
            } else {
                instanceClasses.append(found[i].trainID)
            }
            number[i + 1] = Int32(instanceClasses.count)
        }
        for p in ids.indices where ids[p] != 0 { ids[p] = number[Int(ids[p])] }
        return InstanceMap(width: width, height: height, ids: ids, classes: instanceClasses)
    }

    /// The 4-connected regions of pixels with one centre and one semantic class, in raster order of their
    /// first pixel, of that class; regions under `minArea` are left uncovered.
    static func splitByComponents(semantic: UnsafeBufferPointer<UInt8>, width: Int, height: Int, centreOf: [Int32],
                                  minArea: Int) -> InstanceMap {
        var ids = [Int32](repeating: 0, count: width * height)
        var instanceClasses: [UInt8] = []
        var stack: [Int32] = []
        var dropped = false
        centreOf.withUnsafeBufferPointer { centre in
            ids.withUnsafeMutableBufferPointer { ids in
                for start in ids.indices where ids[start] == 0 && centre[start] != 0 {
                    let c = centre[start], cls = semantic[start], label = Int32(instanceClasses.count + 1)
                    let area = FloodFill.fill(from: start, width: width, height: height, stack: &stack, label: label,
                                              ids: ids.baseAddress!) { centre[$0] == c && semantic[$0] == cls }
                    if area >= minArea {
                        instanceClasses.append(cls)
                    } else {
                        for p in stack.prefix(area) { ids[Int(p)] = -1 }
                        dropped = true
                    }
                }
                if dropped { for i in ids.indices where ids[i] < 0 { ids[i] = 0 } }
            }
        }
        return InstanceMap(width: width, height: height, ids: ids, classes: instanceClasses)
    }
}
