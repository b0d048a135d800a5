import Testing
@testable import SegPanoptic

/// Every rule of the fusion on hand-drawn maps whose results were worked out by hand.
@Suite("Panoptic fusion")
struct FusionTests {
    @Test("an instance keeps the pixels of its category and gives them its class")
    func sameCategoryTakesInstanceClass() {
        let map = Draw.fuse(["cctt.", "cctt."], ["11110", "11110"], classes: [car], minArea: 1)
        #expect(Draw.rows(map.segments, width: 5) == ["11110", "11110"])
        #expect(map.segmentClasses == [car])
        #expect(Draw.rows(labels: map.labels, width: 5) == ["cccc.", "cccc."])
    }

    @Test("instance pixels on another category or on stuff are deleted; the rest is an isolated segment")
    func categoryMismatch() {
        let map = Draw.fuse(["ppcc.", "ppcc."], ["11111", "11111"], classes: [car], minArea: 4)
        #expect(Draw.rows(map.segments, width: 5) == ["22110", "22110"])
        #expect(map.segmentClasses == [car, person])
        #expect(Draw.rows(labels: map.labels, width: 5) == ["ppcc.", "ppcc."])
    }

    @Test("an isolated region below the size threshold is noise: no segment, its semantic class kept")
    func threshold() {
        let below = Draw.fuse(["ppcc.", "ppcc."], ["11111", "11111"], classes: [car], minArea: 5)
        #expect(Draw.rows(below.segments, width: 5) == ["00110", "00110"])
        #expect(below.segmentClasses == [car])
        #expect(Draw.rows(labels: below.labels, width: 5) == ["ppcc.", "ppcc."])
        // Exactly at the threshold: a segment.
        let at = Draw.fuse(["tt..", "...."], ["0000", "0000"], classes: [], minArea: 2)
        #expect(Draw.rows(at.segments, width: 4) == ["1100", "0000"])
        #expect(at.segmentClasses == [truck])
    }

    @Test("uncovered pixels take the closest instance along a same-category path, not across stuff")
    func regionGrowingIsGeodesic() {
        // (0,2) is 2 pixels from instance 1 across the road but 6 along vehicle pixels; 3 from instance 2.
        let map = Draw.fuse(["c.cccc", "c.c...", "ccc..."], ["100002", "000000", "000000"], classes: [car, truck], minArea: 100)
        #expect(Draw.rows(map.segments, width: 6) == ["102222", "102000", "111000"])
        #expect(map.segmentClasses == [car, truck])
        #expect(Draw.rows(labels: map.labels, width: 6) == ["c.tttt", "c.t...", "ccc..."])
    }

    @Test("growing stops at another category; what it cannot reach becomes new segments in raster order")
    func growingStopsAtCategory() {
        let map = Draw.fuse(["ccpcc"], ["10000"], classes: [car], minArea: 1)
        #expect(Draw.rows(map.segments, width: 5) == ["11233"])
        #expect(map.segmentClasses == [car, person, car])
    }

    @Test("riders and persons are one category: a person instance grows over rider pixels")
    func humanCategory() {
        let map = Draw.fuse(["prrk"], ["1000"], classes: [person], minArea: 1)
        #expect(Draw.rows(map.segments, width: 4) == ["1112"])
        #expect(map.segmentClasses == [person, bicycle])
        #expect(Draw.rows(labels: map.labels, width: 4) == ["pppk"])
    }

    @Test("an instance that keeps no pixel is dropped and the rest renumbered; ignore stays ignore")
    func droppedInstance() {
        let map = Draw.fuse([".cx"], ["121"], classes: [car, car], minArea: 1)
        #expect(Draw.rows(map.segments, width: 3) == ["010"])
        #expect(map.segmentClasses == [car])
        #expect(Draw.rows(labels: map.labels, width: 3) == [".cx"])
    }

    @Test("unfused: the instances as they are")
    func unfused() {
        let s = Draw.semantic(["ppcc"])
        let i = Draw.instances(["1111"], classes: [car])
        let map = s.labels.withUnsafeBufferPointer { PanopticFusion.unfused(semantic: $0, instances: i) }
        #expect(map.segments == [1, 1, 1, 1] && map.labels == s.labels)
    }
}

@Suite("Connected components")
struct ComponentTests {
    @Test("4-connectivity: diagonal neighbours are two instances")
    func diagonal() {
        let m = Draw.components(["c.", ".c"])
        #expect(Draw.rows(m.ids, width: 2) == ["10", "02"])
        #expect(m.classes == [car, car])
    }

    @Test("by class, neighbouring classes are separate; by category, one region of its majority class")
    func grouping() {
        let byClass = Draw.components(["cct", "ppr"])
        #expect(Draw.rows(byClass.ids, width: 3) == ["112", "334"])
        #expect(byClass.classes == [car, truck, person, rider])
        let byCategory = Draw.components(["cct", "ppr"], grouping: .category)
        #expect(Draw.rows(byCategory.ids, width: 3) == ["111", "222"])
        #expect(byCategory.classes == [car, person])
        // A tie goes to the lower train id.
        #expect(Draw.components(["tc"], grouping: .category).classes == [car])
    }

    @Test("components below the minimum area are left out")
    func minArea() {
        let m = Draw.components(["cc.p", "cc.."], minArea: 2)
        #expect(Draw.rows(m.ids, width: 4) == ["1100", "1100"])
        #expect(m.classes == [car])
    }
}
