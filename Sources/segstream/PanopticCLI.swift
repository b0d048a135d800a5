import ArgumentParser
import Foundation
import SegPanoptic
import SegPipeline
import SFNet

/// `--panoptic` and its options, shared by run, infer and eval (issue #14; docs/panoptic.md).
struct PanopticCLIOptions: ParsableArguments {
    @Flag(name: .long, help: "Panoptic segmentation: instances from the model's instance head (or connected components of the thing classes), fused with the semantic labels (docs/panoptic.md).")
    var panoptic = false

    @Option(name: .long, help: "Instance source: head (the model's instance head) or components (connected components of the thing classes) (default: head when the model has one, else components).")
    var instances: InstanceSource?

    @Option(name: .long, help: "Instance head: heatmap probability a centre needs (default 0.3).")
    var centreThreshold: Double = 0.3

    @Option(name: .long, help: "Instance head: what decides an instance's class: centre (its heatmap's class), labels (its pixels' most frequent semantic class) or components (the head only splits the connected components of each semantic class) (default centre).")
    var instanceClass: InstanceClassRule = .centre

    @Option(name: .long, help: "Write the COCO/Cityscapes panoptic PNG and JSON per frame or image into this directory (implies --panoptic).")
    var panopticOut: String?

    @Option(name: .long, help: "Smallest instance, in pixels at the output's size; smaller isolated thing regions are noise (default 256, chosen on generated validation scenes at 512×1024).")
    var minInstanceArea: Int = PanopticOptions().minSegmentArea

    @Option(name: .long, help: "Smallest stuff region, in pixels at the output's size: a stuff class on fewer pixels of a frame is void in the panoptic output (its semantic labels stay); 0 keeps every region (default 1024, chosen on generated validation scenes at 512×1024).")
    var minStuffArea: Int = PanopticOptions().minStuffArea

    @Option(name: .long, help: "Instance regions: class (one per thing class) or category (one per human/vehicle region, its majority class) (default class).")
    var instanceGrouping: ConnectedComponents.Grouping = .class

    @Flag(name: .long, help: "Use the connected components as the panoptic segments without the fusion (a baseline).")
    var noFusion = false

    @Option(name: .long, help: "Mask IoU with the previous frame an instance needs to keep its id (default 0.1; run only).")
    var trackIou: Double = 0.1

    var enabled: Bool { panoptic || panopticOut != nil }

    func validate() throws {
        if minInstanceArea < 1 { throw ValidationError("--min-instance-area must be at least 1") }
        if minStuffArea < 0 { throw ValidationError("--min-stuff-area must be at least 0") }
        if !(trackIou > 0 && trackIou <= 1) { throw ValidationError("--track-iou must be in (0, 1]") }
        if !(centreThreshold > 0 && centreThreshold < 1) { throw ValidationError("--centre-threshold must be in (0, 1)") }
    }

    /// The settings, or nil when panoptic output is off; the model must predict Cityscapes' 19 classes.
    func options(for config: SFNetConfig) throws -> PanopticOptions? {
        guard enabled else { return nil }
        guard config.numClasses == 19 else {
            throw CLIError("--panoptic needs a model of Cityscapes' 19 classes (this one has \(config.numClasses))", .usage)
        }
        let source = instances ?? (config.instanceHead != nil ? .head : .components)
        if source == .head {
            guard let layout = config.instanceHead else {
                throw CLIError("--instances head needs a model with an instance head (this one has none; use --instances components)", .usage)
            }
            let cityscapes = PanopticClasses.cityscapes
            guard layout.thingClasses.allSatisfy({ cityscapes.isThing(UInt8($0)) }) else {
                throw CLIError("the model's instance head has a heatmap for a class that is not a Cityscapes thing class", .dataError)
            }
        }
        var options = PanopticOptions()
        options.source = source
        options.centreThreshold = centreThreshold
        options.instanceClass = instanceClass
        options.minSegmentArea = minInstanceArea
        options.minStuffArea = minStuffArea
        options.grouping = instanceGrouping
        options.fuse = !noFusion
        options.trackIoU = trackIou
        return options
    }
}

extension ConnectedComponents.Grouping: ExpressibleByArgument {}
extension InstanceSource: ExpressibleByArgument {}
extension InstanceClassRule: ExpressibleByArgument {}
