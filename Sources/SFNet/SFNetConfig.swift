import Foundation
import SegEngine

/// The SFNet variants of the reference (see shared/sfnet-reference.md).
public enum SFNetArch: String, Sendable, CaseIterable {
    /// Deep-stem ResNet-18, variant D (dilated layer3/4), four pyramid levels, fpn_dim 128.
    case r18
    /// DFNet v1 backbone, three levels, fpn_dim 64, fused at /16.
    case df1
    /// DFNet v2 backbone, three levels, fpn_dim 64, fused at /8.
    case df2
}

/// The arithmetic a model file is meant for (`precision` in `__metadata__`).
public enum ModelPrecision: String, Sendable, CaseIterable {
    case fp32, int8
}

/// The instance head's output layout (`instance_head` in `__metadata__`, tools/convert_checkpoint.py): one
/// centre-heatmap logit channel per thing class (train ids, in this order), then the offset (dx, dy) from
/// each cell to its instance's centre, in cells of the head's map.
public struct InstanceHeadLayout: Sendable, Equatable {
    public let thingClasses: [Int]
    public init(thingClasses: [Int]) { self.thingClasses = thingClasses }
    public var channels: Int { thingClasses.count + 2 }
    /// Person, rider, car, truck, bus, train, motorcycle, bicycle (Cityscapes train ids 11–18).
    public static let cityscapes = InstanceHeadLayout(thingClasses: Array(11...18))
}

/// What a model file says about its network and its data (docs/model-format.md, `__metadata__`).
public struct SFNetConfig: Sendable, Equatable {
    public var arch: SFNetArch
    public var numClasses: Int
    /// 1 for real models; 2/4/8/16 divide every channel count (narrow test models).
    public var widthDivisor: Int
    public var classNames: [String]
    /// One RGB triple per class.
    public var palette: [[UInt8]]
    /// Per-channel RGB normalisation in 0–1 units: input = (rgb/255 − mean)/std.
    public var mean: [Float]
    public var std: [Float]
    /// grid_sample's corner convention in the FAM warp.
    public var warpAlignCorners: Bool
    public var source: String
    /// The file's precision (fp32 files may store f16/bf16; int8 files hold quantized weights, docs/int8.md).
    public var precision: ModelPrecision
    /// How much frames are enlarged before the network by default (`network_scale`): the scale of street
    /// scenes the model was trained for. 1 for Cityscapes checkpoints; the bundled model was trained on
    /// 512×1024 scenes enlarged 1.25–2.5× and is run at 1.75× (DF1's logits are at /16, so thin objects need it).
    public var networkScale: Double
    /// The instance head, when the file has one (nil: semantic segmentation only).
    public var instanceHead: InstanceHeadLayout?
    /// Optional decoder blocks (issue #15); `.none` for the reference SFNet.
    public var decoderBlocks: DecoderBlocks

    public static let cityscapesClassNames = [
        "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
        "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
    ]
    public static let cityscapesPalette: [[UInt8]] = [
        [128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153],
        [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60],
        [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32],
    ]
    public static let imagenetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imagenetStd: [Float] = [0.229, 0.224, 0.225]

    /// A config with the documented defaults; class names and palette default to Cityscapes for 19
    /// classes, otherwise to "class<i>" and a grey ramp.
    public init(arch: SFNetArch, numClasses: Int = 19, widthDivisor: Int = 1, classNames: [String]? = nil,
                palette: [[UInt8]]? = nil, mean: [Float] = SFNetConfig.imagenetMean, std: [Float] = SFNetConfig.imagenetStd,
                warpAlignCorners: Bool = true, source: String = "", precision: ModelPrecision = .fp32,
                networkScale: Double = 1, instanceHead: InstanceHeadLayout? = nil, decoderBlocks: DecoderBlocks = .none) {
        precondition(numClasses >= 1 && [1, 2, 4, 8, 16].contains(widthDivisor))
        precondition(Self.networkScaleRange.contains(networkScale))
        self.arch = arch
        self.numClasses = numClasses
        self.widthDivisor = widthDivisor
        self.classNames = classNames ?? (numClasses == 19 ? Self.cityscapesClassNames : (0..<numClasses).map { "class\($0)" })
        self.palette = palette ?? (numClasses == 19 ? Self.cityscapesPalette
            : (0..<numClasses).map { i in let v = UInt8(i * 255 / max(numClasses - 1, 1)); return [v, v, v] })
        self.mean = mean
        self.std = std
        self.warpAlignCorners = warpAlignCorners
        self.source = source
        self.precision = precision
        self.networkScale = networkScale
        self.instanceHead = instanceHead
        self.decoderBlocks = decoderBlocks
    }

    public static let networkScaleRange = 0.125...8.0

    /// Parses `__metadata__` per docs/model-format.md.
    public init(metadata m: [String: String]) throws {
        func bad(_ key: String, _ why: String) -> ModelFileError { .invalidMetadata(key: key, value: m[key] ?? "", reason: why) }
        if let f = m["format"], f != "segstream.sfnet" { throw bad("format", "expected segstream.sfnet") }
        if let v = m["format_version"], v != "1" { throw bad("format_version", "this engine reads version 1") }
        var precision = ModelPrecision.fp32
        if let p = m["precision"] {
            guard let v = ModelPrecision(rawValue: p) else { throw bad("precision", "expected fp32 or int8") }
            precision = v
        }
        guard let a = m["arch"] else { throw ModelFileError.missingMetadata(key: "arch") }
        guard let arch = SFNetArch(rawValue: a) else { throw bad("arch", "expected r18, df1 or df2") }
        guard let nc = m["num_classes"] else { throw ModelFileError.missingMetadata(key: "num_classes") }
        guard let numClasses = Int(nc), numClasses >= 1, numClasses <= 256 else { throw bad("num_classes", "expected an integer in 1...256") }
        var divisor = 1
        if let d = m["width_divisor"] {
            guard let v = Int(d), [1, 2, 4, 8, 16].contains(v) else { throw bad("width_divisor", "expected 1, 2, 4, 8 or 16") }
            divisor = v
        }
        func json(_ key: String) throws -> Any? {
            guard let s = m[key] else { return nil }
            guard let v = try? JSONSerialization.jsonObject(with: Data(s.utf8), options: [.fragmentsAllowed]) else { throw bad(key, "not valid JSON") }
            return v
        }
        var names: [String]? = nil
        if let v = try json("class_names") {
            guard let a = v as? [String], a.count == numClasses else { throw bad("class_names", "expected \(numClasses) strings") }
            names = a
        } else if numClasses != 19 { throw ModelFileError.missingMetadata(key: "class_names") }
        var palette: [[UInt8]]? = nil
        if let v = try json("palette") {
            guard let a = v as? [[Any]], a.count == numClasses else { throw bad("palette", "expected \(numClasses) [r,g,b] triples") }
            palette = try a.map { t in
                guard t.count == 3 else { throw bad("palette", "expected [r,g,b] triples") }
                return try t.map { c in
                    guard let n = c as? NSNumber, n.doubleValue == n.doubleValue.rounded(), (0...255).contains(n.intValue) else {
                        throw bad("palette", "components must be integers 0–255")
                    }
                    return UInt8(n.intValue)
                }
            }
        } else if numClasses != 19 { throw ModelFileError.missingMetadata(key: "palette") }
        func triple(_ key: String, _ fallback: [Float]) throws -> [Float] {
            guard let v = try json(key) else { return fallback }
            guard let a = v as? [NSNumber], a.count == 3 else { throw bad(key, "expected 3 numbers") }
            return a.map { $0.floatValue }
        }
        let mean = try triple("mean", Self.imagenetMean)
        let std = try triple("std", Self.imagenetStd)
        guard std.allSatisfy({ $0 > 0 }) else { throw bad("std", "must be positive") }
        var align = true
        if let w = m["warp_align_corners"] {
            guard w == "true" || w == "false" else { throw bad("warp_align_corners", "expected true or false") }
            align = w == "true"
        }
        var networkScale = 1.0
        if let v = m["network_scale"] {
            guard let scale = Double(v), Self.networkScaleRange.contains(scale) else {
                throw bad("network_scale", "expected a number in 0.125...8")
            }
            networkScale = scale
        }
        var instanceHead: InstanceHeadLayout? = nil
        if let v = try json("instance_head") {
            let expected = "expected {\"thing_classes\": [train ids], \"offset\": \"dx,dy\", \"offset_unit\": \"cells\"}"
            guard let o = v as? [String: Any], let things = o["thing_classes"] as? [NSNumber],
                  o["offset"] as? String == "dx,dy", o["offset_unit"] as? String == "cells" else {
                throw bad("instance_head", expected)
            }
            let ids = things.map(\.intValue)
            guard !ids.isEmpty, Set(ids).count == ids.count, ids.allSatisfy({ (0..<numClasses).contains($0) }),
                  zip(ids, things).allSatisfy({ Double($0) == $1.doubleValue }) else {
                throw bad("instance_head", "thing_classes must be distinct train ids below num_classes")
            }
            instanceHead = InstanceHeadLayout(thingClasses: ids)
        }
        let blocks = try m["decoder_blocks"].map { try DecoderBlocks(metadataText: $0) } ?? .none
        self.init(arch: arch, numClasses: numClasses, widthDivisor: divisor, classNames: names, palette: palette,
                  mean: mean, std: std, warpAlignCorners: align, source: m["source"] ?? "", precision: precision,
                  networkScale: networkScale, instanceHead: instanceHead, decoderBlocks: blocks)
    }

    /// The `__metadata__` a file with this config carries.
    public var metadata: [String: String] {
        func encode(_ v: Any) -> String { String(decoding: try! JSONSerialization.data(withJSONObject: v), as: UTF8.self) }
        var m = [
            "format": "segstream.sfnet", "format_version": "1", "arch": arch.rawValue,
            "num_classes": String(numClasses), "width_divisor": String(widthDivisor),
            "class_names": encode(classNames), "palette": encode(palette.map { $0.map(Int.init) }),
            "mean": encode(mean.map(Double.init)), "std": encode(std.map(Double.init)),
            "warp_align_corners": warpAlignCorners ? "true" : "false", "precision": precision.rawValue, "source": source,
            "network_scale": String(networkScale),
        ]
        if let h = instanceHead {
            m["instance_head"] = "{\"thing_classes\": \(encode(h.thingClasses)), \"offset\": \"dx,dy\", \"offset_unit\": \"cells\"}"
        }
        if let b = decoderBlocks.metadataValue { m["decoder_blocks"] = b }
        return m
    }
}
