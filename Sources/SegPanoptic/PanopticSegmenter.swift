/// Where a frame's instances come from.
public enum InstanceSource: String, Sendable, CaseIterable {
    /// The model's instance head (`InstanceHeadDecoder`): centres and offsets, a class per object.
    case head
    /// Connected components of the thing classes in the semantic labels (training-free).
    case components
}

/// How label maps (and the instance head's output) become panoptic segments.
public struct PanopticOptions: Sendable, Equatable {
    public var classes: PanopticClasses = .cityscapes
    /// The fusion's size threshold (pixels at the map's size): smaller isolated thing regions are noise.
    /// Connected components smaller than this are not instances either (the fusion grows a neighbour into
    /// them or drops them).
    public var minSegmentArea = 256
    /// A stuff class whose region in the frame is smaller than this (pixels at the map's size) is void in the
    /// panoptic output rather than a segment: a few stray pixels of a class are a false positive to PQ (as
    /// Panoptic FPN's and Panoptic-DeepLab's stuff area thresholds). 0 keeps every stuff region. The defaults of
    /// both thresholds were chosen on generated validation scenes at 512×1024 (docs/panoptic.md).
    public var minStuffArea = 1024
    /// Fuse (`PanopticFusion.fuse`); false uses the components as segments directly (a baseline).
    public var fuse = true
    /// The instance source; `.head` needs the instance head's output with every frame.
    public var source: InstanceSource = .components
    /// The training-free instance source's regions.
    public var grouping: ConnectedComponents.Grouping = .class
    /// The instance head's centres: heatmap probability a peak needs, and at most this many per frame.
    public var centreThreshold = 0.3
    public var maxCentres = 200
    /// What decides a head instance's class.
    public var instanceClass: InstanceClassRule = .centre
    /// IoU a segment needs with the previous frame's to keep its id.
    public var trackIoU = 0.1

    public init() {}
}

/// One frame's panoptic result: the fused map and each segment's instance id (stable across frames when
/// tracked, else 1, 2, … in segment order).
public struct PanopticResult: Sendable {
    public var map: PanopticMap
    public var instanceIDs: [Int]

    public init(map: PanopticMap, instanceIDs: [Int]) {
        self.map = map
        self.instanceIDs = instanceIDs
    }
}

/// Instances (connected components or the instance head) → fusion → (optionally) tracking, for one stream
/// or a set of still images.
/// Single owner: the tracker remembers the previous frame.
public final class PanopticSegmenter {
    public let options: PanopticOptions
    private let tracker: InstanceTracker?

    /// `track`: ids stable across consecutive calls (video); false numbers each frame's segments 1, 2, ….
    public init(options: PanopticOptions = PanopticOptions(), track: Bool) {
        self.options = options
        tracker = track ? InstanceTracker(minIoU: options.trackIoU) : nil
    }

    /// `head`: the instance head's output for this frame, required with `options.source == .head`.
    public func segment(labels: UnsafeBufferPointer<UInt8>, width: Int, height: Int,
                        head: InstanceHeadOutput? = nil) -> PanopticResult {
        let instances: InstanceMap
        switch options.source {
        case .head:
            guard let head else { preconditionFailure("instance source .head without the head's output") }
            instances = InstanceHeadDecoder.instances(
                semantic: labels, width: width, height: height, head: head, classes: options.classes,
                threshold: InstanceHeadDecoder.logit(probability: options.centreThreshold), topK: options.maxCentres,
                minArea: options.minSegmentArea, classFrom: options.instanceClass)
        case .components:
            instances = ConnectedComponents.instances(semantic: labels, width: width, height: height, classes: options.classes,
                                                      minArea: options.minSegmentArea, grouping: options.grouping)
        }
        var map = options.fuse
            ? PanopticFusion.fuse(semantic: labels, instances: instances, classes: options.classes,
                                  minSegmentArea: options.minSegmentArea)
            : PanopticFusion.unfused(semantic: labels, instances: instances)
        if options.minStuffArea > 0 {
            map.voidStuffClasses = Self.smallStuffClasses(map, classes: options.classes, minArea: options.minStuffArea)
        }
        let ids = tracker?.update(map) ?? (0..<map.segmentCount).map { $0 + 1 }
        return PanopticResult(map: map, instanceIDs: ids)
    }

    /// Stuff classes present in `map` (pixels of no thing segment) on fewer than `minArea` pixels.
    static func smallStuffClasses(_ map: PanopticMap, classes: PanopticClasses, minArea: Int) -> [UInt8] {
        var area = [Int](repeating: 0, count: 256)
        map.labels.withUnsafeBufferPointer { lab in
            map.segments.withUnsafeBufferPointer { seg in
                for i in 0..<lab.count where seg[i] == 0 { area[Int(lab[i])] += 1 }
            }
        }
        return (0..<classes.classCount).filter { !classes.isThing(UInt8($0)) && area[$0] > 0 && area[$0] < minArea }
            .map { UInt8($0) }
    }
}
