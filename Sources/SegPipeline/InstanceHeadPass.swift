import SegEngine
import SegPanoptic
import SFNet

extension InferenceSession {
    /// Train ids into `labels` (as `predictLabels`) and, when `instances` is true, the instance head's output
    /// from the same pass, ready for `PanopticSegmenter` (the model must then have the head).
    public func predictLabels(input: NetworkInput, outputHeight: Int, outputWidth: Int,
                              into labels: UnsafeMutableBufferPointer<UInt8>, instances: Bool) -> InstanceHeadOutput? {
        guard instances, let layout = config.instanceHead else {
            precondition(!instances, "the model has no instance head")
            predictLabels(input: input, outputHeight: outputHeight, outputWidth: outputWidth, into: labels)
            return nil
        }
        let t = predictLabelsAndInstances(input: input, outputHeight: outputHeight, outputWidth: outputWidth, into: labels)
        return InstanceHeadOutput(width: t.width, height: t.height, thingClasses: layout.thingClasses.map { UInt8($0) },
                                  values: t.toArray())
    }

    /// The same from the fp32 tensor.
    public func predictLabels(input: Tensor, outputHeight: Int, outputWidth: Int, into labels: UnsafeMutableBufferPointer<UInt8>,
                              instances: Bool) -> InstanceHeadOutput? {
        predictLabels(input: .tensor(input), outputHeight: outputHeight, outputWidth: outputWidth, into: labels,
                      instances: instances)
    }
}
