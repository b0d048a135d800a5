// Panoptic timing and tracking measurements on real label maps (release builds; bench/panoptic.sh):
//   SegPanopticBench time LABELS.mkv [--frames N] [--repeat R]
//       one core: connected components, the fusion (with components as the instance source, and with
//       misaligned instance masks, which exercises deletion and region growing), tracking, encoding; at the
//       clip's size and at twice it (nearest neighbour), median milliseconds per frame.
//   SegPanopticBench idswitch INSTANCES.mkv LABELS(.mkv|DIR of NNNNNN.png) [--min-area A] [--iou T] [--grouping class|category]
//       identity switches per 100 frames of components + fusion + tracking against a clip's ground-truth
//       instance ids (IDSwitchCounter says how a switch is counted).
import Foundation
import SegMedia
import SegPanoptic

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("SegPanopticBench: \(message)\n".utf8))
    exit(64)
}

func option(_ name: String, _ args: [String], default value: String) -> String {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return value }
    return args[i + 1]
}

/// Every frame of a gray8 video or every `*.png` of a directory (sorted), as label maps.
func readLabels(_ path: String, limit: Int = .max) throws -> [(width: Int, height: Int, values: [UInt8])] {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".png") }.sorted()
        return try names.prefix(limit).map { name in
            let image = try ImageIO.readLabelMap((path as NSString).appendingPathComponent(name))
            return (image.width, image.height, image.pixels)
        }
    }
    let source = try VideoSource(path)
    var frames: [(Int, Int, [UInt8])] = []
    while frames.count < limit, let frame = try source.nextFrame() { frames.append((frame.width, frame.height, try frame.gray8Values())) }
    return frames
}

func readInstances(_ path: String) throws -> [(width: Int, height: Int, values: [UInt16])] {
    let source = try VideoSource(path)
    var frames: [(Int, Int, [UInt16])] = []
    while let frame = try source.nextFrame() { frames.append((frame.width, frame.height, try frame.gray16Values())) }
    return frames
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }

func upscale2(_ v: [UInt8], width: Int, height: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 4 * v.count)
    for y in 0..<2 * height { for x in 0..<2 * width { out[y * 2 * width + x] = v[(y / 2) * width + x / 2] } }
    return out
}

/// The instance map moved `dx` pixels right: masks misaligned with the semantic boundaries.
func shifted(_ m: InstanceMap, dx: Int) -> InstanceMap {
    var ids = [Int32](repeating: 0, count: m.ids.count)
    for y in 0..<m.height { for x in dx..<m.width { ids[y * m.width + x] = m.ids[y * m.width + x - dx] } }
    return InstanceMap(width: m.width, height: m.height, ids: ids, classes: m.classes)
}

func time(_ args: [String]) throws {
    guard let path = args.first else { fail("time LABELS.mkv") }
    let frames = Int(option("--frames", args, default: "20"))!
    let repeats = Int(option("--repeat", args, default: "5"))!
    let classes = PanopticClasses.cityscapes
    let area = 64
    for scale in [1, 2] {
        var t: [String: [Double]] = [:]
        var segments = 0
        for f in try readLabels(path, limit: frames) {
            let (w, h) = (f.width * scale, f.height * scale)
            let labels = scale == 1 ? f.values : upscale2(f.values, width: f.width, height: f.height)
            let tracker = InstanceTracker()
            labels.withUnsafeBufferPointer { l in
                for _ in 0..<repeats {
                    var s = now()
                    func lap(_ name: String) { let e = now(); t[name, default: []].append((e - s) * 1000); s = e }
                    let cc = ConnectedComponents.instances(semantic: l, width: w, height: h, classes: classes, minArea: area)
                    lap("components")
                    let fused = PanopticFusion.fuse(semantic: l, instances: cc, classes: classes, minSegmentArea: area)
                    lap("fusion")
                    let ids = tracker.update(fused)
                    lap("tracking")
                    _ = PanopticEncoding.encode(fused, classes: classes, instanceIDs: ids)
                    lap("encode")
                    let moved = shifted(ConnectedComponents.instances(semantic: l, width: w, height: h, classes: classes), dx: 8 * scale)
                    s = now()
                    let refused = PanopticFusion.fuse(semantic: l, instances: moved, classes: classes, minSegmentArea: area)
                    lap("fusion_misaligned")
                    segments = max(segments, fused.segmentCount + refused.segmentCount)
                }
            }
        }
        let line = ["components", "fusion", "fusion_misaligned", "tracking", "encode"]
            .map { String(format: "%@ %.2f", $0, median(t[$0] ?? [])) }.joined(separator: ", ")
        print("\(scale == 1 ? "clip size" : "2x"): median ms per frame over \(t["fusion"]!.count) runs: \(line) (\(segments) segments at most)")
    }
}

func idswitch(_ args: [String]) throws {
    guard args.count >= 2 else { fail("idswitch INSTANCES.mkv LABELS") }
    var options = PanopticOptions()
    options.minSegmentArea = Int(option("--min-area", args, default: String(PanopticOptions().minSegmentArea)))!
    options.trackIoU = Double(option("--iou", args, default: "0.1"))!
    options.grouping = ConnectedComponents.Grouping(rawValue: option("--grouping", args, default: "class"))!
    let truth = try readInstances(args[0])
    let labels = try readLabels(args[1])
    guard truth.count == labels.count else { fail("\(truth.count) ground-truth frames but \(labels.count) label maps") }
    let segmenter = PanopticSegmenter(options: options, track: true)
    var counter = IDSwitchCounter()
    var quality = PanopticQuality(classes: options.classes)
    var segmentMilliseconds: [Double] = []
    for (g, l) in zip(truth, labels) {
        guard g.width == l.width, g.height == l.height else { fail("sizes differ") }
        let started = now()
        let result = l.values.withUnsafeBufferPointer { segmenter.segment(labels: $0, width: l.width, height: l.height) }
        segmentMilliseconds.append((now() - started) * 1000)
        let (gtIDs, gtSegments) = g.values.withUnsafeBufferPointer {
            PanopticQuality.cityscapesGroundTruth($0, classes: options.classes)
        }
        gtIDs.withUnsafeBufferPointer { counter.add(groundTruth: $0, segments: gtSegments, prediction: result) }
        let (segments, ids) = PanopticEncoding.encode(result.map, classes: options.classes)
        var table = [Int32: PanopticQuality.Segment]()
        for s in segments { table[Int32(s.id)] = .init(trainID: s.trainID) }
        gtIDs.withUnsafeBufferPointer { gt in
            ids.withUnsafeBufferPointer { quality.add(groundTruth: gt, segments: gtSegments, prediction: $0, segments: table) }
        }
    }
    print(String(format: "%d frames: %d id switches (%.2f per 100 frames; %d between consecutive matched frames, %.2f per 100), %d of %d ground-truth instance-frames matched; PQ things %.2f",
                 counter.frames, counter.switches, counter.switchesPer100Frames, counter.consecutiveSwitches,
                 Double(counter.consecutiveSwitches) * 100 / Double(max(counter.frames, 1)), counter.matches,
                 counter.groundTruthInstances, quality.average(things: true).pq * 100))
    print(String(format: "components + fusion + tracking, frame after frame: median %.2f ms", median(segmentMilliseconds)))
}

let args = Array(CommandLine.arguments.dropFirst())
do {
    switch args.first {
    case "time": try time(Array(args.dropFirst()))
    case "idswitch": try idswitch(Array(args.dropFirst()))
    default: fail("time LABELS.mkv [--frames N] [--repeat R] | idswitch INSTANCES.mkv LABELS [--min-area A] [--iou T]")
    }
} catch {
    fail("\(error)")
}
