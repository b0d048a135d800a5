/// Per-class IoU for semantic segmentation, the Cityscapes way: one confusion matrix accumulated over
/// every frame (not a mean of per-frame IoUs), ground-truth pixels with the ignore id skipped, and a class
/// that never occurs in the ground truth nor the prediction left out of the mean.
public struct ConfusionMatrix: Sendable {
    public let classCount: Int
    public let ignoreID: UInt8
    /// Row = ground truth, column = prediction.
    public private(set) var counts: [Int]

    public init(classCount: Int, ignoreID: UInt8 = 255) {
        precondition(classCount > 0 && classCount < 255, "class count must be in 1...254")
        self.classCount = classCount
        self.ignoreID = ignoreID
        counts = Array(repeating: 0, count: classCount * classCount)
    }

    /// Adds one frame. Ground-truth ids ≥ classCount other than the ignore id are data errors and are
    /// reported, not silently dropped. Predictions must be class ids.
    public mutating func add(prediction: UnsafeBufferPointer<UInt8>, groundTruth: UnsafeBufferPointer<UInt8>) throws {
        guard prediction.count == groundTruth.count else {
            throw EvaluationError.sizeMismatch(prediction: prediction.count, groundTruth: groundTruth.count)
        }
        let n = classCount
        let ignore = ignoreID
        try counts.withUnsafeMutableBufferPointer { hist in
            for i in 0..<groundTruth.count {
                let g = Int(groundTruth[i])
                if g == Int(ignore) { continue }
                let p = Int(prediction[i])
                guard g < n else { throw EvaluationError.labelOutOfRange(g) }
                guard p < n else { throw EvaluationError.predictionOutOfRange(p) }
                hist[g * n + p] += 1
            }
        }
    }

    public mutating func merge(_ other: ConfusionMatrix) {
        precondition(other.classCount == classCount)
        for i in counts.indices { counts[i] += other.counts[i] }
    }

    /// IoU per class: TP / (TP + FP + FN); nil where the class is absent from ground truth and prediction.
    public var intersectionOverUnion: [Double?] {
        (0..<classCount).map { c in
            let tp = counts[c * classCount + c]
            var gtTotal = 0
            var predTotal = 0
            for k in 0..<classCount {
                gtTotal += counts[c * classCount + k]
                predTotal += counts[k * classCount + c]
            }
            let union = gtTotal + predTotal - tp
            return union == 0 ? nil : Double(tp) / Double(union)
        }
    }

    /// Classes present in the ground truth.
    public var presentInGroundTruth: [Bool] {
        (0..<classCount).map { c in (0..<classCount).contains { counts[c * classCount + $0] > 0 } }
    }

    /// Mean IoU over the classes that have one.
    public var meanIoU: Double {
        let values = intersectionOverUnion.compactMap { $0 }
        return values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// Pixel accuracy over non-ignored pixels.
    public var pixelAccuracy: Double {
        let total = counts.reduce(0, +)
        let correct = (0..<classCount).reduce(0) { $0 + counts[$1 * classCount + $1] }
        return total == 0 ? 0 : Double(correct) / Double(total)
    }
}

public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    case sizeMismatch(prediction: Int, groundTruth: Int)
    case labelOutOfRange(Int)
    case predictionOutOfRange(Int)

    public var description: String {
        switch self {
        case let .sizeMismatch(p, g): "prediction has \(p) pixels but the ground truth has \(g)"
        case let .labelOutOfRange(v): "ground truth has train id \(v), which is neither a class nor the ignore id 255"
        case let .predictionOutOfRange(v): "prediction has id \(v), beyond the class count"
        }
    }
}
