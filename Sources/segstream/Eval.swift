import ArgumentParser
import Foundation
import SegEngine
import SegMedia
import SegPanoptic
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
            both ground truth and prediction are left out of the mean. With --panoptic, also PQ, SQ and RQ per \
            class, for things and for stuff, against *_gtFine_instanceIds.png (Cityscapes encoding: id ≥ 1000 is \
            class × 1000 + instance, smaller ids are the class, a crowd region for thing classes), computed as \
            cityscapesscripts' panoptic evaluation does, and the mIoU of the fused labels (docs/panoptic.md).
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Dataset root (Cityscapes layout: leftImg8bit/…, gtFine/…).")
    var data: String

    @Option(name: .long, help: "Only this split (leftImg8bit/SPLIT).")
    var split: String?

    @Option(name: .long, help: "Evaluate at most this many frames (sorted by path).")
    var maxFrames: Int?

    @Option(name: .long, help: "Write {\"miou\", \"per_class\", \"frames\"} to this JSON file (with --panoptic also pq, sq, rq, pq_things, pq_stuff in percent, per_class_panoptic, miou_fused).")
    var json: String?

    @OptionGroup(title: "Panoptic") var panoptic: PanopticCLIOptions

    func validate() throws {
        if let maxFrames, maxFrames < 1 { throw ValidationError("--max-frames must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            let pairs = try Self.findPairs(root: data, split: split)
            let selected = maxFrames.map { Array(pairs.prefix($0)) } ?? pairs
            if let dir = panoptic.panopticOut { try OutputDirectory.prepare(dir) }
            let model = try modelOptions.loadSession()
            let names = model.config.classNames
            var matrix = ConfusionMatrix(classCount: model.config.numClasses)
            let segmenter = try panoptic.options(for: model.config).map { PanopticSegmenter(options: $0, track: false) }
            var fusedMatrix = ConfusionMatrix(classCount: model.config.numClasses)
            var quality = PanopticQuality(classes: .cityscapes)
            let builder = NetworkInputBuilder(rule: InputRule(config: model.config))
            for (i, pair) in selected.enumerated() {
                let image = try StillFrame(path: pair.image).frame
                let truth = try ImageIO.readGray8(pair.labels)
                guard truth.width == image.width, truth.height == image.height else {
                    throw CLIError("\(pair.labels) is \(truth.width)x\(truth.height) but its image is \(image.width)x\(image.height)",
                                   .dataError)
                }
                var labels = [UInt8](repeating: 0, count: image.width * image.height)
                let input = try builder.tensor(from: image)
                let head = labels.withUnsafeMutableBufferPointer {
                    model.predictLabels(input: input, outputHeight: image.height, outputWidth: image.width, into: $0,
                                        instances: segmenter?.options.source == .head)
                }
                do {
                    try labels.withUnsafeBufferPointer { p in
                        try truth.pixels.withUnsafeBufferPointer { try matrix.add(prediction: p, groundTruth: $0) }
                    }
                } catch let error as EvaluationError {
                    throw CLIError("\(pair.labels): \(error)", .dataError)
                }
                if let segmenter {
                    let result = labels.withUnsafeBufferPointer {
                        segmenter.segment(labels: $0, width: image.width, height: image.height, head: head)
                    }
                    try result.map.labels.withUnsafeBufferPointer { p in
                        try truth.pixels.withUnsafeBufferPointer { try fusedMatrix.add(prediction: p, groundTruth: $0) }
                    }
                    let instancesPath = pair.labels.replacingOccurrences(of: "_gtFine_labelTrainIds.png", with: "_gtFine_instanceIds.png")
                    guard FileManager.default.fileExists(atPath: instancesPath) else {
                        throw CLIError("no instance ground truth for \(pair.image) (expected \(instancesPath))", .dataError)
                    }
                    let instances = try ImageIO.readGray16(instancesPath)
                    guard instances.width == image.width, instances.height == image.height else {
                        throw CLIError("\(instancesPath) is \(instances.width)x\(instances.height) but its image is \(image.width)x\(image.height)",
                                       .dataError)
                    }
                    let (gtIDs, gtSegments) = instances.values.withUnsafeBufferPointer {
                        PanopticQuality.cityscapesGroundTruth($0, classes: .cityscapes)
                    }
                    let (segments, ids) = PanopticEncoding.encode(result.map, classes: .cityscapes, instanceIDs: result.instanceIDs)
                    var table = [Int32: PanopticQuality.Segment]()
                    for s in segments { table[Int32(s.id)] = PanopticQuality.Segment(trainID: s.trainID) }
                    gtIDs.withUnsafeBufferPointer { g in
                        ids.withUnsafeBufferPointer { quality.add(groundTruth: g, segments: gtSegments, prediction: $0, segments: table) }
                    }
                    if let dir = panoptic.panopticOut {
                        let stem = URL(fileURLWithPath: pair.image).lastPathComponent.replacingOccurrences(of: "_leftImg8bit.png", with: "")
                        try PanopticDirectorySink.write(result, classes: .cityscapes, imageID: stem,
                                                        to: URL(fileURLWithPath: dir).appendingPathComponent(stem + "_panoptic").path)
                    }
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
            func percent(_ v: Double) -> Double { (v * 1e6).rounded() / 1e4 }
            if segmenter != nil {
                print("\nclass              PQ %    SQ %    RQ %     TP     FP     FN")
                for (c, s) in quality.stats.enumerated() {
                    print(names[c].padding(toLength: 16, withPad: " ", startingAt: 0)
                          + (s.counted ? String(format: "%6.2f  %6.2f  %6.2f  %5d  %5d  %5d", s.pq * 100, s.sq * 100, s.rq * 100, s.tp, s.fp, s.fn)
                                       : "     -       -       -      0      0      0"))
                }
                for (title, a) in [("all", quality.average()), ("things", quality.average(things: true)), ("stuff", quality.average(things: false))] {
                    print(String(format: "PQ %@: %.2f %%, SQ %.2f %%, RQ %.2f %% over %d classes", title, a.pq * 100, a.sq * 100, a.rq * 100, a.n))
                }
                print(String(format: "mIoU after the fusion %.2f %% (before %.2f %%)", fusedMatrix.meanIoU * 100, matrix.meanIoU * 100))
            }
            if let json {
                var perClass = [String: Any]()
                for (c, name) in names.enumerated() { perClass[name] = iou[c].map { ($0 * 1e6).rounded() / 1e6 } ?? NSNull() }
                var object: [String: Any] = ["miou": (matrix.meanIoU * 1e6).rounded() / 1e6, "per_class": perClass,
                                             "frames": selected.count, "pixel_accuracy": (matrix.pixelAccuracy * 1e6).rounded() / 1e6]
                if segmenter != nil {
                    let all = quality.average(), things = quality.average(things: true), stuff = quality.average(things: false)
                    object["pq"] = percent(all.pq)
                    object["sq"] = percent(all.sq)
                    object["rq"] = percent(all.rq)
                    object["pq_things"] = percent(things.pq)
                    object["sq_things"] = percent(things.sq)
                    object["rq_things"] = percent(things.rq)
                    object["pq_stuff"] = percent(stuff.pq)
                    object["sq_stuff"] = percent(stuff.sq)
                    object["rq_stuff"] = percent(stuff.rq)
                    object["miou_fused"] = (fusedMatrix.meanIoU * 1e6).rounded() / 1e6
                    var perClassPanoptic = [String: Any]()
                    for (c, s) in quality.stats.enumerated() where s.counted {
                        perClassPanoptic[names[c]] = ["pq": percent(s.pq), "sq": percent(s.sq), "rq": percent(s.rq),
                                                      "tp": s.tp, "fp": s.fp, "fn": s.fn]
                    }
                    object["per_class_panoptic"] = perClassPanoptic
                }
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
