import Testing
@testable import SegPanoptic

private func frame(_ row: String, _ classes: [UInt8]) -> PanopticMap {
    let segments = row.map { Int32(String($0))! }
    return PanopticMap(width: segments.count, height: 1, segments: segments, segmentClasses: classes,
                       labels: segments.map { $0 == 0 ? 0 : classes[Int($0) - 1] })
}

@Suite("Instance tracking")
struct TrackingTests {
    @Test("ids follow mask overlap, not segment numbers; lost ids are never given again")
    func followsOverlap() {
        let tracker = InstanceTracker(minIoU: 0.3)
        #expect(tracker.update(frame("1111002222", [car, car])) == [1, 2])
        // Both moved one pixel; the numbering is swapped.
        #expect(tracker.update(frame("0222200111", [car, car])) == [2, 1])
        #expect(tracker.update(frame("0000000000", [])) == [])
        #expect(tracker.update(frame("1111000000", [car])) == [3])
    }

    @Test("the class must match")
    func classMustMatch() {
        let tracker = InstanceTracker()
        #expect(tracker.update(frame("1111", [car])) == [1])
        #expect(tracker.update(frame("1111", [truck])) == [2])
    }

    @Test("greedy by IoU: the better overlap keeps the id, the other needs the threshold")
    func greedy() {
        let tracker = InstanceTracker(minIoU: 0.4)
        #expect(tracker.update(frame("111111", [car])) == [1])
        // IoU 4/6 and 2/6: the second is below 0.4 and gets a new id.
        #expect(tracker.update(frame("111122", [car, car])) == [1, 2])
    }
}

@Suite("Panoptic encoding")
struct EncodingTests {
    @Test("Cityscapes ids: stuff = label id, things = label id × 1000 + k; ignore and noise are void")
    func ids() {
        let map = PanopticMap(width: 5, height: 2, segments: [0, 0, 1, 1, 0, 0, 0, 1, 0, 2],
                              segmentClasses: [car, car], labels: [0, 0, 13, 13, 255, 2, 2, 13, 11, 13])
        let (segments, ids) = PanopticEncoding.encode(map, classes: .cityscapes, instanceIDs: [7, 9])
        #expect(ids == [7, 7, 26000, 26000, 0, 11, 11, 26000, 0, 26001])
        #expect(segments == [
            PanopticSegment(id: 7, categoryID: 7, trainID: 0, area: 2, bbox: [0, 0, 2, 1], isThing: false, instanceID: nil),
            PanopticSegment(id: 11, categoryID: 11, trainID: 2, area: 2, bbox: [0, 1, 2, 1], isThing: false, instanceID: nil),
            PanopticSegment(id: 26000, categoryID: 26, trainID: 13, area: 3, bbox: [2, 0, 2, 2], isThing: true, instanceID: 7),
            PanopticSegment(id: 26001, categoryID: 26, trainID: 13, area: 1, bbox: [4, 1, 1, 1], isThing: true, instanceID: 9),
        ])
        // 26000 = 0x6590: R = 0x90, G = 0x65, B = 0.
        #expect(Array(PanopticEncoding.rgb([26000, 7])) == [0x90, 0x65, 0, 7, 0, 0])
        #expect(PanopticEncoding.instanceCounts(map, classes: .cityscapes) == ["car": 2])
    }

    @Test("a stuff class below --min-stuff-area is void in the panoptic output; its labels, and things, stay")
    func smallStuffIsVoid() {
        // Road (0) on 5 pixels, sidewalk (1) on 2, building (2) on 1 plus a car segment (13) of 1 pixel.
        var options = PanopticOptions()
        options.minSegmentArea = 1
        options.minStuffArea = 3
        let labels: [UInt8] = [0, 0, 0, 0, 0, 1, 1, 2, 13, 255]
        let result = labels.withUnsafeBufferPointer {
            PanopticSegmenter(options: options, track: false).segment(labels: $0, width: 10, height: 1)
        }
        #expect(result.map.voidStuffClasses == [1, 2])
        #expect(result.map.labels == labels, "the semantic labels keep the small regions")
        let (segments, ids) = PanopticEncoding.encode(result.map, classes: .cityscapes)
        #expect(ids == [7, 7, 7, 7, 7, 0, 0, 0, 26000, 0])
        #expect(segments.map(\.id) == [7, 26000], "the car (1 pixel) is a thing: the stuff threshold leaves it")
        // At 0 (the default) every stuff region is a segment.
        options.minStuffArea = 0
        let all = labels.withUnsafeBufferPointer {
            PanopticSegmenter(options: options, track: false).segment(labels: $0, width: 10, height: 1)
        }
        #expect(all.map.voidStuffClasses.isEmpty)
        #expect(PanopticEncoding.encode(all.map, classes: .cityscapes).segments.map(\.id) == [7, 8, 11, 26000])
    }
}

@Suite("Panoptic quality")
struct QualityTests {
    private func add(_ q: inout PanopticQuality, gt: [UInt16], pred: [Int32], table: [Int32: UInt8]) {
        let (ids, segments) = gt.withUnsafeBufferPointer { PanopticQuality.cityscapesGroundTruth($0, classes: .cityscapes) }
        let predSegments = table.mapValues { PanopticQuality.Segment(trainID: $0) }
        ids.withUnsafeBufferPointer { g in pred.withUnsafeBufferPointer { q.add(groundTruth: g, segments: segments, prediction: $0, segments: predSegments) } }
    }

    @Test("matches, void in the union, crowd and void predictions, FP and FN (worked by hand)")
    func handWorked() {
        var q = PanopticQuality(classes: .cityscapes)
        // Road IoU 4/5; car: 3 shared, 2 predicted on void (left out of the union): 3/4.
        add(&q, gt: [7, 7, 7, 7, 26000, 26000, 26000, 26000, 0, 0],
            pred: [7, 7, 7, 7, 7, 26000, 26000, 26000, 26000, 26000], table: [7: 0, 26000: car])
        // A car on a car crowd region and a person on void are not false positives; a car on road is;
        // the person and the road are missed.
        add(&q, gt: [26, 26, 26, 26, 24000, 24000, 0, 0, 7, 7],
            pred: [26000, 26000, 26000, 26000, 0, 0, 24000, 24000, 26001, 26001], table: [26000: car, 24000: person, 26001: car])
        #expect(q.stats[0] == .init(iou: 0.8, tp: 1, fp: 0, fn: 1))
        #expect(q.stats[Int(car)] == .init(iou: 0.75, tp: 1, fp: 1, fn: 0))
        #expect(q.stats[Int(person)] == .init(iou: 0, tp: 0, fp: 0, fn: 1))
        let all = q.average(), things = q.average(things: true), stuff = q.average(things: false)
        #expect(abs(all.pq - (0.8 / 1.5 + 0.75 / 1.5 + 0) / 3) < 1e-12 && all.n == 3)
        #expect(abs(things.pq - 0.25) < 1e-12 && things.n == 2)
        #expect(abs(stuff.pq - 0.8 / 1.5) < 1e-12 && abs(stuff.sq - 0.8) < 1e-12 && abs(stuff.rq - 1 / 1.5) < 1e-12)
    }

    @Test("IoU must exceed one half")
    func halfIsNoMatch() {
        var q = PanopticQuality(classes: .cityscapes)
        add(&q, gt: [26000, 26000, 7, 7], pred: [26000, 7, 7, 7], table: [26000: car, 7: 0])
        #expect(q.stats[Int(car)] == .init(iou: 0, tp: 0, fp: 1, fn: 1))
    }
}

@Suite("Identity switches")
struct IDSwitchTests {
    @Test("a switch is a matched ground-truth instance whose id differs from its last match")
    func counting() {
        var counter = IDSwitchCounter()
        let gt: [UInt16] = [26000, 26000, 0, 0]
        let (ids, segments) = gt.withUnsafeBufferPointer { PanopticQuality.cityscapesGroundTruth($0, classes: .cityscapes) }
        func step(_ row: String, _ classes: [UInt8], _ instanceIDs: [Int]) {
            ids.withUnsafeBufferPointer { counter.add(groundTruth: $0, segments: segments,
                                                     prediction: PanopticResult(map: frame(row, classes), instanceIDs: instanceIDs)) }
        }
        step("1100", [car], [5])
        step("1100", [car], [6])   // switch (consecutive)
        step("0000", [], [])       // unmatched: no count, no reset
        step("1100", [car], [6])   // same as its last match
        step("1000", [car], [7])   // IoU 1/2: not matched
        step("1100", [truck], [8]) // another class: not matched
        step("1100", [car], [9])   // switch after a gap: not consecutive
        #expect(counter.frames == 7 && counter.switches == 2 && counter.consecutiveSwitches == 1)
        #expect(counter.matches == 4 && counter.groundTruthInstances == 7)
    }
}
