import Foundation
import SegEngine

/// What the CLI and the pipeline need of a segmentation network, whatever its arithmetic: fp32
/// (`SFNetModel`) or int8 (`SFNetInt8Model`). Single owner: one thread at a time (each model fans out
/// internally to its `threads` workers).
public protocol SegmentationModel: AnyObject {
    var config: SFNetConfig { get }
    var threads: Int { get }
    /// The arithmetic this model runs in.
    var precision: ModelPrecision { get }
    /// fp32 logits, numClasses×height×width: the network's low-resolution logits resized (bilinear,
    /// align_corners=True, as the reference) straight to that size, usually the input's.
    func forward(input: Tensor, outputHeight: Int, outputWidth: Int) -> Tensor
    /// Train ids (argmax of the logits resized to outputHeight×outputWidth, fused: the full-size logits
    /// are never stored), row-major, into `labels` (at least outputHeight·outputWidth bytes).
    func predictLabels(input: Tensor, outputHeight: Int, outputWidth: Int, into labels: UnsafeMutableBufferPointer<UInt8>)
    /// One labels pass, with each layer's time and MACs in order.
    func profile(input: Tensor) -> [LayerTiming]
    /// Bytes of activation memory held for reuse.
    var activationBytes: Int { get }
}

extension SegmentationModel {
    /// Logits at the input's size, as the PyTorch reference returns them.
    public func forward(input: Tensor) -> Tensor {
        forward(input: input, outputHeight: input.height, outputWidth: input.width)
    }

    /// Train ids at the input's size, into `labels`.
    public func predictLabels(input: Tensor, into labels: UnsafeMutableBufferPointer<UInt8>) {
        predictLabels(input: input, outputHeight: input.height, outputWidth: input.width, into: labels)
    }

    /// Train ids in a fresh array, at the input's size or the one given (the buffer-filling form is the one
    /// the pipeline uses).
    public func predictLabels(input: Tensor, outputHeight: Int? = nil, outputWidth: Int? = nil) -> [UInt8] {
        let height = outputHeight ?? input.height, width = outputWidth ?? input.width
        var labels = [UInt8](repeating: 0, count: height * width)
        labels.withUnsafeMutableBufferPointer {
            predictLabels(input: input, outputHeight: height, outputWidth: width, into: $0)
        }
        return labels
    }
}

extension SFNetModel {
    public var precision: ModelPrecision { .fp32 }
}

/// Asking a model file for a precision it cannot give.
public struct PrecisionMismatch: Error, CustomStringConvertible, Equatable {
    public let file: ModelPrecision, requested: ModelPrecision
    public init(file: ModelPrecision, requested: ModelPrecision) { self.file = file; self.requested = requested }
    public var description: String {
        switch (file, requested) {
        case (.fp32, .int8):
            return "this is an fp32 model; make an int8 one with `segstream quantize --model FILE --calibrate FRAMES... -o OUT.safetensors`"
        default:
            return "this is an int8 model and it keeps no fp32 weights; run it as int8 (the default) or use the fp32 model it was quantized from"
        }
    }
}

/// Loads a model file (docs/model-format.md, docs/int8.md) as the engine its `precision` metadata names,
/// or as `precision` when given (an fp32 file cannot run as int8 without `segstream quantize`; int8 files
/// keep no fp32 weights, so they run only as int8). Throws `ModelFileError` or `PrecisionMismatch`.
public func loadSegmentationModel(contentsOf url: URL, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                                  precision: ModelPrecision? = nil) throws -> any SegmentationModel {
    let file = try SafetensorsFile(contentsOf: url)
    let config = try SFNetConfig(metadata: file.metadata)
    let wanted = precision ?? config.precision
    guard wanted == config.precision else { throw PrecisionMismatch(file: config.precision, requested: wanted) }
    switch config.precision {
    case .fp32: return try SFNetModel(file: file, threads: threads)
    case .int8: return try SFNetInt8Model(file: file, threads: threads)
    }
}
