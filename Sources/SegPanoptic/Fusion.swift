/// Semantic and instance segmentation fused into panoptic segments (Costea et al., ITSC 2018, §IV).
///
/// Semantic segmentation splits the pixels into stuff, whose class it decides alone, and things, whose
/// *category* (human, vehicle) it decides; the instance source decides the *class* and the instance:
/// 1. **Matching**: an instance keeps a pixel only where its class is of the pixel's semantic category.
///    Instance pixels on stuff, on ignore or on another category are deleted.
/// 2. **Region growing**: thing pixels left uncovered take the segment (and class) of the closest kept pixel
///    reachable through 4-connected pixels of the same semantic category (breadth-first search from every
///    kept pixel at once; ties go to the earlier neighbour in left, up, right, down order).
/// 3. **Isolated segments**: thing pixels still uncovered form 4-connected regions of one semantic class;
///    a region of at least `minSegmentArea` pixels becomes a new segment of that class, a smaller one is
///    noise (no segment; its pixels keep their semantic class in `labels`).
///
/// Output segments are numbered in order: the input instances that kept pixels (in their order), then the
/// new ones in raster order of their first pixel.
public enum PanopticFusion {
    public static func fuse(semantic: UnsafeBufferPointer<UInt8>, instances: InstanceMap, classes: PanopticClasses,
                            minSegmentArea: Int) -> PanopticMap {
        let width = instances.width, height = instances.height, n = width * height
        precondition(semantic.count == n, "semantic and instance maps differ in size")
        var segments = [Int32](repeating: 0, count: n)
        var labels = Array(semantic)
        var segmentClasses = instances.classes
        var pending = [Int32]()
        var frontier = [Int32]()
        var frontierSource = [Int32]()
        var stack = [Int32]()
        var kept = [Bool](repeating: false, count: instances.count + 1)
        let unassigned: Int32 = -1
        classes.category.withUnsafeBufferPointer { category in
            instances.ids.withUnsafeBufferPointer { ids in
                instances.classes.withUnsafeBufferPointer { instClass in
                    segments.withUnsafeMutableBufferPointer { segBuf in
                        labels.withUnsafeMutableBufferPointer { labBuf in
                            let sem = semantic.baseAddress!, seg = segBuf.baseAddress!, lab = labBuf.baseAddress!
                            let idp = ids.baseAddress!, cat = category.baseAddress!
                            // 1. Matching.
                            kept.withUnsafeMutableBufferPointer { kept in
                                for i in 0..<n {
                                    let c = cat[Int(sem[i])]
                                    if c == 0 { continue }
                                    let k = Int(idp[i])
                                    if k > 0, cat[Int(instClass[k - 1])] == c {
                                        seg[i] = Int32(k)
                                        lab[i] = instClass[k - 1]
                                        kept[k] = true
                                    } else {
                                        seg[i] = unassigned
                                        pending.append(Int32(i))
                                    }
                                }
                            }
                            guard !pending.isEmpty else { return }
                            // 2. Region growing: distance-1 pixels first (chosen before any is written, so
                            // each takes a kept neighbour), then breadth-first from them.
                            for p32 in pending {
                                let p = Int(p32), c = cat[Int(sem[p])], x = p % width
                                var q = -1
                                if x > 0, seg[p - 1] > 0, cat[Int(sem[p - 1])] == c { q = p - 1 }
                                else if p >= width, seg[p - width] > 0, cat[Int(sem[p - width])] == c { q = p - width }
                                else if x + 1 < width, seg[p + 1] > 0, cat[Int(sem[p + 1])] == c { q = p + 1 }
                                else if p + width < n, seg[p + width] > 0, cat[Int(sem[p + width])] == c { q = p + width }
                                if q >= 0 {
                                    frontier.append(p32)
                                    frontierSource.append(Int32(q))
                                }
                            }
                            for (p, q) in zip(frontier, frontierSource) {
                                seg[Int(p)] = seg[Int(q)]
                                lab[Int(p)] = lab[Int(q)]
                            }
                            var head = 0
                            while head < frontier.count {
                                let p = Int(frontier[head])
                                head += 1
                                let c = cat[Int(sem[p])], s = seg[p], l = lab[p], x = p % width
                                @inline(__always) func grow(_ q: Int) {
                                    if seg[q] == unassigned, cat[Int(sem[q])] == c {
                                        seg[q] = s
                                        lab[q] = l
                                        frontier.append(Int32(q))
                                    }
                                }
                                if x > 0 { grow(p - 1) }
                                if p >= width { grow(p - width) }
                                if x + 1 < width { grow(p + 1) }
                                if p + width < n { grow(p + width) }
                            }
                            // 3. Isolated segments: regions of one semantic class among what is left.
                            let noise: Int32 = -2
                            var sawNoise = false
                            for p32 in pending where seg[Int(p32)] == unassigned {
                                let p = Int(p32), cls = sem[p]
                                let label = Int32(segmentClasses.count + 1)
                                let area = FloodFill.fill(from: p, width: width, height: height, stack: &stack,
                                                          label: label, ids: seg, unlabelled: unassigned) { sem[$0] == cls }
                                if area >= minSegmentArea {
                                    segmentClasses.append(cls)
                                } else {
                                    for q in stack.prefix(area) { seg[Int(q)] = noise }
                                    sawNoise = true
                                }
                            }
                            if sawNoise { for p32 in pending where seg[Int(p32)] == noise { seg[Int(p32)] = 0 } }
                        }
                    }
                }
            }
        }
        // Drop input instances that kept no pixel (growing only extends kept ones), renumbering the rest.
        if kept.dropFirst().contains(false) {
            var remap = [Int32](repeating: 0, count: segmentClasses.count + 1)
            var classesKept = [UInt8]()
            for k in 1...segmentClasses.count where k > instances.count || kept[k] {
                classesKept.append(segmentClasses[k - 1])
                remap[k] = Int32(classesKept.count)
            }
            segments.withUnsafeMutableBufferPointer { seg in
                remap.withUnsafeBufferPointer { remap in
                    for i in 0..<n where seg[i] != 0 { seg[i] = remap[Int(seg[i])] }
                }
            }
            segmentClasses = classesKept
        }
        return PanopticMap(width: width, height: height, segments: segments, segmentClasses: segmentClasses, labels: labels)
    }

    /// The instances as segments with no fusion (a baseline): every instance pixel of a thing class is its
    /// segment, labels are the semantic ones.
    public static func unfused(semantic: UnsafeBufferPointer<UInt8>, instances: InstanceMap) -> PanopticMap {
        PanopticMap(width: instances.width, height: instances.height, segments: instances.ids,
                    segmentClasses: instances.classes, labels: Array(semantic))
    }
}
