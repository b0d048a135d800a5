import ArgumentParser
import Foundation
import SegEngine
import SegMedia
import SegPipeline
import SFNet

/// `segstream eval`: per-class IoU and mIoU on Cityscapes-format ground truth, computed by this engine.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-class IoU and mIoU against Cityscapes-format ground truth.",
        discussion: """
            Finds every *_leftImg8bit.png under --data (searched recursively; with --split, only under \
            leftImg8bit/SPLIT) and its *_gtFine_labelTrainIds.png under the matching gtFine/ path. Each image \
            is fed to the network as `segstream run` feeds a frame (its size times the model's network_scale, \
            rounded to multiples of 32), labels at its own size; train id 255 \
            is ignored. IoU is accumulated over all frames (one confusion matrix), and classes absent from \
            both ground truth and prediction are left out of the mean.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Dataset root (Cityscapes layout: leftImg8bit/…, gtFine/…).")
    var data: String

    @Option(name: .long, help: "Only this split (leftImg8bit/SPLIT).")
    var split: String?

    @Option(name: .long, help: "Evaluate at most this many frames (sorted by path).")
    var maxFrames: Int?

    @Option(name: .long, help: "Write {\"miou\", \"per_class\", \"frames\"} to this JSON file.")
    var json: String?

    func validate() throws {
        if let maxFrames, maxFrames < 1 { throw ValidationError("--max-frames must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            let pairs = try Self.findPairs(root: data, split: split)
            let selected = maxFrames.map { Array(pairs.prefix($0)) } ?? pairs
            let model = try modelOptions.loadSession()
            let names = model.config.classNames
            var matrix = ConfusionMatrix(classCount: model.config.numClasses)
            let builder = NetworkInputBuilder(rule: InputRule(config: model.config))
            for (i, pair) in selected.enumerated() {
                let image = try StillFrame(path: pair.image).frame
                let truth = try ImageIO.readGray8(pair.labels)
                guard truth.width == image.width, truth.height == image.height else {
                    throw CLIError("\(pair.labels) is \(truth.width)x\(truth.height) but its image is \(image.width)x\(image.height)",
                                   .dataError)
                }
                let labels = model.predictLabels(input: try builder.tensor(from: image),
                                                 outputHeight: image.height, outputWidth: image.width)
                do {
                    try labels.withUnsafeBufferPointer { p in
                        try truth.pixels.withUnsafeBufferPointer { try matrix.add(prediction: p, groundTruth: $0) }
                    }
                } catch let error as EvaluationError {
                    throw CLIError("\(pair.labels): \(error)", .dataError)
                }
                if isatty(STDERR_FILENO) != 0 {
                    FileHandle.standardError.write(Data("\r\(i + 1)/\(selected.count) frames\u{1B}[K".utf8))
                }
            }
            if isatty(STDERR_FILENO) != 0 { FileHandle.standardError.write(Data("\n".utf8)) }

            let iou = matrix.intersectionOverUnion
            let present = matrix.presentInGroundTruth
            print("class            IoU %   in ground truth")
            for (c, name) in names.enumerated() {
                let value = iou[c].map { String(format: "%6.2f", $0 * 100) } ?? "     -"
                print(name.padding(toLength: 16, withPad: " ", startingAt: 0) + value + "   " + (present[c] ? "yes" : "no"))
            }
            print(String(format: "mIoU %.2f %% over %d classes, %d frames, pixel accuracy %.2f %%",
                         matrix.meanIoU * 100, iou.compactMap { $0 }.count, selected.count, matrix.pixelAccuracy * 100))
            if let json {
                var perClass = [String: Any]()
                for (c, name) in names.enumerated() { perClass[name] = iou[c].map { ($0 * 1e6).rounded() / 1e6 } ?? NSNull() }
                let object: [String: Any] = ["miou": (matrix.meanIoU * 1e6).rounded() / 1e6, "per_class": perClass,
                                             "frames": selected.count, "pixel_accuracy": (matrix.pixelAccuracy * 1e6).rounded() / 1e6]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                try writeAtomically(data + Data("\n".utf8), to: json)
            }
        }
    }

    /// Image / ground-truth pairs in Cityscapes layout, sorted by image path.
    static func findPairs(root: String, split: String?) throws -> [(image: String, labels: String)] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError("no such dataset directory: \(root)", .noInput)
        }
        let base = URL(fileURLWithPath: root)
        let searchRoot = split.map { base.appendingPathComponent("leftImg8bit").appendingPathComponent($0) } ?? base
        guard let walker = FileManager.default.enumerator(atPath: searchRoot.path) else {
            throw CLIError("cannot read \(searchRoot.path)", .noInput)
        }
        var pairs: [(String, String)] = []
        while let relative = walker.nextObject() as? String {
            guard relative.hasSuffix("_leftImg8bit.png") else { continue }
            let image = searchRoot.appendingPathComponent(relative).path
            let labels = image.replacingOccurrences(of: "/leftImg8bit/", with: "/gtFine/")
                .replacingOccurrences(of: "_leftImg8bit.png", with: "_gtFine_labelTrainIds.png")
            guard FileManager.default.fileExists(atPath: labels) else {
                throw CLIError("no ground truth for \(image) (expected \(labels))", .dataError)
            }
            pairs.append((image, labels))
        }
        guard !pairs.isEmpty else { throw CLIError("no *_leftImg8bit.png images under \(searchRoot.path)", .noInput) }
        return pairs.sorted { $0.0 < $1.0 }
    }
}
