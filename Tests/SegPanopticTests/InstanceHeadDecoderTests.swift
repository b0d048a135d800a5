import Testing
@testable import SegPanoptic

/// The instance head's decoding on hand-made heatmaps and offsets whose results were worked out by hand.
@Suite("Instance head decoding")
struct InstanceHeadDecoderTests {
    /// A head output of `width`×`height` cells: heatmap logits −5 except at `peaks` (class, x, y, logit), and
    /// the offset of each cell from `offset(x, y)`.
    static func head(width: Int, height: Int, peaks: [(UInt8, Int, Int, Float)],
                     offset: (Int, Int) -> (Float, Float)) -> InstanceHeadOutput {
        let things: [UInt8] = Array(11...18), plane = width * height
        var v = [Float](repeating: -5, count: (things.count + 2) * plane)
        for (cls, x, y, s) in peaks { v[things.firstIndex(of: cls)! * plane + y * width + x] = s }
        for y in 0..<height {
            for x in 0..<width {
                let (dx, dy) = offset(x, y)
                v[8 * plane + y * width + x] = dx
                v[9 * plane + y * width + x] = dy
            }
        }
        return InstanceHeadOutput(width: width, height: height, thingClasses: things, values: v)
    }

    static func decode(_ semantic: [String], _ head: InstanceHeadOutput, threshold: Float = 0,
                       topK: Int = 100, minArea: Int = 0, classFrom: InstanceClassRule = .centre) -> (rows: [String], classes: [UInt8]) {
        let s = Draw.semantic(semantic)
        let map = s.labels.withUnsafeBufferPointer {
            InstanceHeadDecoder.instances(semantic: $0, width: s.width, height: s.height, head: head, classes: .cityscapes,
                                          threshold: threshold, topK: topK, minArea: minArea, classFrom: classFrom)
        }
        return (Draw.rows(map.ids, width: s.width), map.classes)
    }

    @Test("two centres split one connected car region where the offsets point")
    func twoCentres() {
        // Offsets of the left half point at (1, 0), of the right half at (6, 0).
        let h = Self.head(width: 8, height: 2, peaks: [(car, 1, 0, 3), (car, 6, 0, 2)]) { x, y in
            x < 4 ? (Float(1 - x), Float(-y)) : (Float(6 - x), Float(-y))
        }
        let r = Self.decode(["cccccccc", "cccccccc"], h)
        #expect(r.rows == ["11112222", "11112222"])
        #expect(r.classes == [car, car])
        // The same region as one connected component would be one instance.
        #expect(Draw.components(["cccccccc", "cccccccc"]).count == 1)
    }

    @Test("an instance's class is its centre's: car pixels voting for a truck centre become a truck")
    func objectLevelClass() {
        let h = Self.head(width: 8, height: 1, peaks: [(truck, 6, 0, 4), (car, 1, 0, 3)]) { x, _ in
            x < 3 ? (Float(1 - x), 0) : (Float(6 - x), 0)
        }
        let r = Self.decode(["cccccccc"], h)
        // Centres in score order: the truck first.
        #expect(r.rows == ["22211111"])
        #expect(r.classes == [truck, car])
    }

    @Test("class rules: the centre's, the pixels' majority, or the head only splitting each class's components")
    func classRules() {
        // One truck centre gathers 5 car pixels and 2 truck pixels; a car centre the rest.
        let h = Self.head(width: 10, height: 1, peaks: [(truck, 2, 0, 4), (car, 8, 0, 3)]) { x, _ in
            x < 7 ? (Float(2 - x), 0) : (Float(8 - x), 0)
        }
        let semantic = ["ccttccc.cc"]
        #expect(Self.decode(semantic, h).rows == ["1111111022"])
        #expect(Self.decode(semantic, h).classes == [truck, car])
        #expect(Self.decode(semantic, h, classFrom: .labels).classes == [car, car])
        // Components: the truck centre's pixels are three regions of one class each (car, truck, car).
        let split = Self.decode(semantic, h, classFrom: .components)
        #expect(split.rows == ["1122333044"])
        #expect(split.classes == [car, truck, car, car])
        #expect(Self.decode(semantic, h, minArea: 3, classFrom: .components).rows == ["0000111000"])
    }

    @Test("pixels only join centres of their semantic category, however close another category's is")
    func categoryConstraint() {
        // Every offset points at the car centre (5, 0); the person pixels must still take the person centre.
        let h = Self.head(width: 8, height: 1, peaks: [(car, 5, 0, 3), (person, 0, 0, 1)]) { x, _ in (Float(5 - x), 0) }
        let r = Self.decode(["ppp.cccc"], h)
        #expect(r.rows == ["22201111"])
        #expect(r.classes == [car, person])
        // With no human centre at all, the person pixels stay uncovered (for the fusion to handle).
        let carOnly = Self.head(width: 8, height: 1, peaks: [(car, 5, 0, 3)]) { x, _ in (Float(5 - x), 0) }
        #expect(Self.decode(["ppp.cccc"], carOnly).rows == ["00001111"])
    }

    @Test("peaks: 3×3 max-pool NMS, the threshold, top-k, and the sub-cell offset at the peak")
    func peaks() {
        // Two neighbouring cells above the threshold: only the larger is a centre.
        let nms = Self.head(width: 4, height: 3, peaks: [(car, 1, 1, 2), (car, 2, 1, 3), (bicycle, 3, 2, -1)]) { _, _ in (0.25, -0.5) }
        let c = InstanceHeadDecoder.centres(nms, threshold: 0, topK: 10)
        #expect(c == [InstanceCentre(x: 2.25, y: 0.5, trainID: car, score: 3)])
        // Below the threshold the bicycle is no centre; lowering it admits the bicycle, and top-k keeps the best.
        #expect(InstanceHeadDecoder.centres(nms, threshold: -2, topK: 10).map(\.trainID) == [car, bicycle])
        #expect(InstanceHeadDecoder.centres(nms, threshold: -2, topK: 1).map(\.trainID) == [car])
        #expect(InstanceHeadDecoder.logit(probability: 0.5) == 0)
        #expect(abs(InstanceHeadDecoder.logit(probability: 0.3) - (-0.8473)) < 1e-4)
    }

    @Test("instances below the size threshold and centres that gather no pixel are not instances")
    func minArea() {
        let h = Self.head(width: 8, height: 1, peaks: [(car, 1, 0, 3), (car, 6, 0, 2), (truck, 4, 0, 1)]) { x, _ in
            x < 6 ? (Float(1 - x), 0) : (Float(6 - x), 0)
        }
        // The truck centre gathers nothing; the right car has 2 pixels.
        let all = Self.decode(["cccccccc"], h)
        #expect(all.rows == ["11111122"])
        #expect(all.classes == [car, car])
        let r = Self.decode(["cccccccc"], h, minArea: 3)
        #expect(r.rows == ["11111100"])
        #expect(r.classes == [car])
    }

    @Test("output pixels map onto the head's cells with align_corners=True; offsets are interpolated")
    func coordinateMapping() {
        // Head 2×3 cells over a 3×5 map: pixel (x, y) sits at cell (x/2, y/2). Offsets point at cell (0, 0) or (2, 1).
        let h = Self.head(width: 3, height: 2, peaks: [(person, 0, 0, 2), (rider, 2, 1, 2)]) { x, y in
            x == 0 ? (Float(-x), Float(-y)) : (Float(2 - x), Float(1 - y))
        }
        // Cell column 0 votes (0, 0), columns 1–2 vote (2, 1); pixel x = 1 (cell 0.5) interpolates to a vote
        // equally far from both centres, and a tie goes to the centre listed first (the higher score, then the
        // lower train id: the person).
        let r = Self.decode(["ppppp", "ppppp", "ppppp"], h)
        #expect(r.rows == ["11222", "11222", "11222"])
        #expect(r.classes == [person, rider])
    }

    @Test("the segmenter with the head as instance source: two instances, fused with the semantic labels")
    func segmenterUsesTheHead() {
        let h = Self.head(width: 8, height: 2, peaks: [(car, 1, 0, 3), (car, 6, 0, 2)]) { x, y in
            x < 4 ? (Float(1 - x), Float(-y)) : (Float(6 - x), Float(-y))
        }
        var options = PanopticOptions()
        options.source = .head
        options.minSegmentArea = 1
        options.centreThreshold = 0.5
        let s = Draw.semantic(["cccccccc", "ppcccc.."])
        let result = s.labels.withUnsafeBufferPointer {
            PanopticSegmenter(options: options, track: false).segment(labels: $0, width: s.width, height: s.height, head: h)
        }
        // The person pixels have no human centre: the fusion makes them an isolated segment of their class.
        #expect(Draw.rows(result.map.segments, width: 8) == ["11112222", "33112200"])
        #expect(result.map.segmentClasses == [car, car, person])
        #expect(result.instanceIDs == [1, 2, 3])
    }
}
