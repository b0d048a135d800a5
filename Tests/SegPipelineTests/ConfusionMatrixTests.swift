import Testing
@testable import SegPipeline

@Suite("Per-class IoU")
struct ConfusionMatrixTests {
    /// IoU straight from the definition, per class with pixel sets: an independent oracle.
    func naiveIoU(_ pred: [UInt8], _ gt: [UInt8], classes: Int) -> [Double?] {
        (0..<classes).map { c in
            var inter = 0, union = 0
            for i in pred.indices where gt[i] != 255 {
                let inP = Int(pred[i]) == c, inG = Int(gt[i]) == c
                if inP && inG { inter += 1 }
                if inP || inG { union += 1 }
            }
            return union == 0 ? nil : Double(inter) / Double(union)
        }
    }

    @Test("accumulated over frames, ignoring 255, equal to the definition")
    func matchesDefinition() throws {
        var rng = SplitMix(seed: 7)
        var matrix = ConfusionMatrix(classCount: 5)
        var allPred: [UInt8] = [], allGT: [UInt8] = []
        for _ in 0..<3 {
            let gt = (0..<997).map { _ -> UInt8 in rng.next() % 7 == 0 ? 255 : UInt8(rng.next() % 4) }  // class 4 absent
            let pred = gt.map { g -> UInt8 in rng.next() % 3 == 0 ? UInt8(rng.next() % 4) : (g == 255 ? 0 : g) }
            try pred.withUnsafeBufferPointer { p in try gt.withUnsafeBufferPointer { try matrix.add(prediction: p, groundTruth: $0) } }
            allPred += pred
            allGT += gt
        }
        let expected = naiveIoU(allPred, allGT, classes: 5)
        let got = matrix.intersectionOverUnion
        #expect(got[4] == nil)
        for c in 0..<4 { #expect(abs(got[c]! - expected[c]!) < 1e-12) }
        #expect(abs(matrix.meanIoU - expected.compactMap { $0 }.reduce(0, +) / 4) < 1e-12)
        #expect(matrix.presentInGroundTruth == [true, true, true, true, false])
    }

    @Test("labels beyond the class count are reported, not dropped")
    func rejectsBadLabels() {
        var matrix = ConfusionMatrix(classCount: 3)
        let pred: [UInt8] = [0, 1, 2], gt: [UInt8] = [0, 7, 1]
        #expect(throws: EvaluationError.labelOutOfRange(7)) {
            try pred.withUnsafeBufferPointer { p in try gt.withUnsafeBufferPointer { try matrix.add(prediction: p, groundTruth: $0) } }
        }
    }
}

/// A tiny deterministic generator for test data.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
