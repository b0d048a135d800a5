/// The training-free instance source: every 4-connected region of one thing class is an instance.
///
/// 4-connectivity, not 8: two objects of one class that touch only at a corner (a car behind another, seen
/// through a diagonal gap of one pixel) stay apart, and it is the neighbourhood the fusion's region growing
/// walks, so a component is exactly a region the fusion could have grown. The cost is that a thin object
/// broken by a one-pixel diagonal step (a bicycle frame) splits in two; the fusion's size threshold turns
/// the small piece into noise.
public enum ConnectedComponents {
    /// What makes one region.
    public enum Grouping: String, Sendable, CaseIterable {
        /// Pixels of one thing class.
        case `class`
        /// Pixels of one thing category (a car partly labelled truck stays one instance); the region's class
        /// is its most frequent one (ties: the lower train id).
        case category
    }

    /// Instances of `semantic` (train ids, row-major, `width` per row): the 4-connected regions of each thing
    /// class (or category) of `classes`, numbered in raster order of their first pixel. Regions smaller than
    /// `minArea` pixels are left out (id 0), for the fusion to grow a neighbour into or to drop as noise.
    public static func instances(semantic: UnsafeBufferPointer<UInt8>, width: Int, height: Int,
                                 classes: PanopticClasses, minArea: Int = 0, grouping: Grouping = .class) -> InstanceMap {
        precondition(semantic.count == width * height, "one label per pixel")
        let n = width * height
        var ids = [Int32](repeating: 0, count: n)
        var instanceClasses = [UInt8]()
        var dropped = false
        var stack = [Int32]()
        classes.category.withUnsafeBufferPointer { category in
            ids.withUnsafeMutableBufferPointer { ids in
                let sem = semantic.baseAddress!
                for start in 0..<n where ids[start] == 0 && category[Int(sem[start])] != 0 {
                    var cls = sem[start]
                    let label = Int32(instanceClasses.count + 1)
                    let area: Int
                    if grouping == .class {
                        area = FloodFill.fill(from: start, width: width, height: height, stack: &stack, label: label,
                                              ids: ids.baseAddress!) { sem[$0] == cls }
                    } else {
                        let c = category[Int(cls)]
                        area = FloodFill.fill(from: start, width: width, height: height, stack: &stack, label: label,
                                              ids: ids.baseAddress!) { category[Int(sem[$0])] == c }
                        var votes = [Int](repeating: 0, count: 256)
                        for p in stack.prefix(area) { votes[Int(sem[Int(p)])] += 1 }
                        cls = UInt8(votes.indices.max { votes[$0] < votes[$1] || (votes[$0] == votes[$1] && $0 > $1) }!)
                    }
                    if area >= minArea {
                        instanceClasses.append(cls)
                    } else {
                        for p in stack.prefix(area) { ids[Int(p)] = -1 }
                        dropped = true
                    }
                }
                if dropped { for i in 0..<n where ids[i] < 0 { ids[i] = 0 } }
            }
        }
        return InstanceMap(width: width, height: height, ids: ids, classes: instanceClasses)
    }
}

enum FloodFill {
    /// Labels the 4-connected region of pixels whose id is `unlabelled` and that satisfy `member`, starting at `start`
    /// (which must qualify), with `label`. Returns its area; `stack[0..<area]` holds its pixels afterwards.
    @inline(__always)
    static func fill(from start: Int, width: Int, height: Int, stack: inout [Int32], label: Int32,
                     ids: UnsafeMutablePointer<Int32>, unlabelled: Int32 = 0, member: (Int) -> Bool) -> Int {
        stack.removeAll(keepingCapacity: true)
        ids[start] = label
        stack.append(Int32(start))
        var head = 0
        while head < stack.count {
            let p = Int(stack[head])
            head += 1
            let x = p % width
            if x > 0, ids[p - 1] == unlabelled, member(p - 1) { ids[p - 1] = label; stack.append(Int32(p - 1)) }
            if x + 1 < width, ids[p + 1] == unlabelled, member(p + 1) { ids[p + 1] = label; stack.append(Int32(p + 1)) }
            if p >= width, ids[p - width] == unlabelled, member(p - width) {
                ids[p - width] = label
                stack.append(Int32(p - width))
            }
            if p + width < width * height, ids[p + width] == unlabelled, member(p + width) {
                ids[p + width] = label
                stack.append(Int32(p + width))
            }
        }
        return stack.count
    }
}
