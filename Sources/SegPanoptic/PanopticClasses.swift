/// Which train ids are stuff and which are things, and the semantic category of each thing class: the
/// fusion (Costea et al., ITSC 2018, §IV) lets semantic segmentation decide the category of a pixel and the
/// instance source the class within it.
public struct PanopticClasses: Sendable, Equatable {
    /// Category per train id (256 entries): 0 for stuff and ignore, 1… for the thing categories.
    public let category: [UInt8]
    /// Cityscapes label id per train id (256 entries; 0 where none): the `category_id` of the panoptic outputs.
    public let labelID: [Int]
    /// Number of classes the model predicts (train ids 0..<classCount).
    public let classCount: Int
    public let names: [String]

    public init(category: [UInt8], labelID: [Int], classCount: Int, names: [String]) {
        precondition(category.count == 256 && labelID.count == 256, "tables are indexed by a byte")
        self.category = category
        self.labelID = labelID
        self.classCount = classCount
        self.names = names
    }

    public func isThing(_ trainID: UInt8) -> Bool { category[Int(trainID)] != 0 }

    /// Cityscapes' 19 training classes: human = {person, rider}, vehicle = {car, truck, bus, train,
    /// motorcycle, bicycle}; the other eleven are stuff. Label ids are Cityscapes' (`labels.py`).
    public static let cityscapes: PanopticClasses = {
        var category = [UInt8](repeating: 0, count: 256)
        for t in 11...12 { category[t] = 1 }  // human
        for t in 13...18 { category[t] = 2 }  // vehicle
        var labelID = [Int](repeating: 0, count: 256)
        let ids = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]
        for (t, id) in ids.enumerated() { labelID[t] = id }
        let names = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                     "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
                     "bicycle"]
        return PanopticClasses(category: category, labelID: labelID, classCount: 19, names: names)
    }()

    /// The train id of a Cityscapes label id, or nil when that label is not evaluated.
    public func trainID(forLabelID id: Int) -> UInt8? {
        for t in 0..<classCount where labelID[t] == id { return UInt8(t) }
        return nil
    }
}

/// Instances over a label map: a per-pixel instance number (0 = none, 1…count) and the class of each.
public struct InstanceMap: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Row-major, `width` per row; 0 = no instance, k = the k-th instance.
    public var ids: [Int32]
    /// Train id of instance k at index k − 1.
    public var classes: [UInt8]

    public init(width: Int, height: Int, ids: [Int32], classes: [UInt8]) {
        precondition(ids.count == width * height, "one id per pixel")
        self.width = width
        self.height = height
        self.ids = ids
        self.classes = classes
    }

    public var count: Int { classes.count }
}

/// The fused panoptic result of one frame: segments of thing classes over the pixels (stuff pixels are
/// described by `labels` alone), and the fused train ids.
public struct PanopticMap: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Row-major thing segment per pixel: 0 = none (stuff, ignore, or a thing fragment below the size
    /// threshold), k = segment k.
    public var segments: [Int32]
    /// Train id of segment k at index k − 1.
    public var segmentClasses: [UInt8]
    /// Train ids after the fusion: stuff as the semantic map says, thing pixels of a segment its class,
    /// thing pixels of no segment (noise) their semantic class.
    public var labels: [UInt8]
    /// Stuff classes whose region in this frame is smaller than `PanopticOptions.minStuffArea`: void in the
    /// panoptic output (`PanopticEncoding`), while `labels` keeps them.
    public var voidStuffClasses: [UInt8]

    public init(width: Int, height: Int, segments: [Int32], segmentClasses: [UInt8], labels: [UInt8],
                voidStuffClasses: [UInt8] = []) {
        self.width = width
        self.height = height
        self.segments = segments
        self.segmentClasses = segmentClasses
        self.labels = labels
        self.voidStuffClasses = voidStuffClasses
    }

    public var segmentCount: Int { segmentClasses.count }
}
