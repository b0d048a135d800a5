import Foundation
import SegEngine
import SegMedia
import SFNet

/// Network inputs for `segstream quantize`'s calibration and validation: frames sampled evenly over images,
/// directories of images and videos, each turned into the network's input by the same `NetworkInputBuilder`
/// as `run`'s preprocess stage, so the int8 ranges are measured on exactly what the network sees in a run.
public enum CalibrationFrames {
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "bmp", "ppm", "pgm", "webp", "tif", "tiff"]

    /// `count` frames sampled evenly over all the inputs' frames (each image is one frame; directories
    /// contribute their images, recursively, in name order), as network inputs by `rule`.
    /// Throws `MediaError` (`noSuchInput` for a missing input or an empty directory).
    public static func load(_ inputs: [String], count: Int, rule: InputRule) throws -> [Tensor] {
        var tensors: [Tensor] = []
        let builder = NetworkInputBuilder(rule: rule)
        try forEachFrame(inputs, count: count) { frame in tensors.append(try builder.tensor(from: frame)) }
        return tensors
    }

    /// Calls `body` with each selected frame, in input order.
    public static func forEachFrame(_ inputs: [String], count: Int, _ body: (VideoFrame) throws -> Void) throws {
        enum Item { case image(String), video(String, Int) }
        var items: [Item] = []
        for input in inputs {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
                throw MediaError(.noSuchInput, "no such input", path: input)
            }
            if isDirectory.boolValue {
                let files = (FileManager.default.enumerator(atPath: input)?.allObjects as? [String] ?? [])
                    .filter { imageExtensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }.sorted()
                if files.isEmpty { throw MediaError(.noSuchInput, "no images in directory", path: input) }
                items += files.map { .image(URL(fileURLWithPath: input).appendingPathComponent($0).path) }
            } else if imageExtensions.contains(URL(fileURLWithPath: input).pathExtension.lowercased()) {
                items.append(.image(input))
            } else {
                items.append(.video(input, try frameCount(input)))
            }
        }
        // Global frame list: (item, frame index within it).
        var total = 0
        for item in items { if case .video(_, let n) = item { total += n } else { total += 1 } }
        guard total > 0 else { throw MediaError(.noSuchInput, "the inputs hold no frames", path: inputs.joined(separator: " ")) }
        let picks = selection(total: total, count: count)
        var base = 0
        for item in items {
            switch item {
            case .image(let path):
                if picks.contains(base) { try body(try StillFrame(path: path).frame) }
                base += 1
            case .video(let path, let frames):
                let wanted = Set(picks.filter { $0 >= base && $0 < base + frames }.map { $0 - base })
                if !wanted.isEmpty {
                    let source = try VideoSource(path)
                    var i = 0
                    while let frame = try source.nextFrame(), i < frames {
                        if wanted.contains(i) { try body(frame) }
                        i += 1
                    }
                }
                base += frames
            }
        }
    }

    /// Which of `total` frames (0-based, decode order) `count` evenly spaced picks take.
    public static func selection(total: Int, count: Int) -> Set<Int> {
        let n = min(count, total)
        return Set((0..<n).map { $0 * total / n + total / (2 * n) }.map { min($0, total - 1) })
    }

    /// Frames in a video: the container's estimate, else counted by decoding.
    static func frameCount(_ path: String) throws -> Int {
        let source = try VideoSource(path)
        if let n = source.info.estimatedFrameCount, n > 0 { return n }
        var n = 0
        while try source.nextFrame() != nil { n += 1 }
        return n
    }
}
