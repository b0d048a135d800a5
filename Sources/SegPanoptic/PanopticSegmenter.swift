/// How label maps become panoptic segments without a trained instance head.
public struct PanopticOptions: Sendable, Equatable {
    public var classes: PanopticClasses = .cityscapes
    /// The fusion's size threshold (pixels at the map's size): smaller isolated thing regions are noise.
    /// Connected components smaller than this are not instances either (the fusion grows a neighbour into
    /// them or drops them).
    public var minSegmentArea = 64
    /// Fuse (`PanopticFusion.fuse`); false uses the components as segments directly (a baseline).
    public var fuse = true
    /// The training-free instance source's regions.
    public var grouping: ConnectedComponents.Grouping = .class
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

/// Connected components → fusion → (optionally) tracking, for one stream or a set of still images.
/// Single owner: the tracker remembers the previous frame.
public final class PanopticSegmenter {
    public let options: PanopticOptions
    private let tracker: InstanceTracker?

    /// `track`: ids stable across consecutive calls (video); false numbers each frame's segments 1, 2, ….
    public init(options: PanopticOptions = PanopticOptions(), track: Bool) {
        self.options = options
        tracker = track ? InstanceTracker(minIoU: options.trackIoU) : nil
    }

    public func segment(labels: UnsafeBufferPointer<UInt8>, width: Int, height: Int) -> PanopticResult {
        let instances = ConnectedComponents.instances(semantic: labels, width: width, height: height, classes: options.classes,
                                                      minArea: options.minSegmentArea, grouping: options.grouping)
        let map = options.fuse
            ? PanopticFusion.fuse(semantic: labels, instances: instances, classes: options.classes,
                                  minSegmentArea: options.minSegmentArea)
            : PanopticFusion.unfused(semantic: labels, instances: instances)
        let ids = tracker?.update(map) ?? (0..<map.segmentCount).map { $0 + 1 }
        return PanopticResult(map: map, instanceIDs: ids)
    }
}
