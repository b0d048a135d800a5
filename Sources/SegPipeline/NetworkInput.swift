import SegEngine
import SegMedia
import SFNet

/// Decoded frames → the network's input, by `InputRule`: the one preprocessing path of every command
/// (`run`'s preprocess stage, `infer`, `eval`, `quantize`'s calibration, `profile`).
///
/// The frame is scaled to the rule's size as packed RGB24 (`FrameConverter.networkRGB24`: swscale bilinear)
/// and normalised by `InputRule.normalize`. Keeps its converter and scratch between frames. Single owner.
public final class NetworkInputBuilder {
    public let rule: InputRule
    private let converter = FrameConverter(quality: .bilinear)
    private var scratch: [UInt8] = []

    public init(rule: InputRule) { self.rule = rule }

    /// The network size the rule gives this frame.
    public func networkSize(for frame: VideoFrame) -> NetworkSize {
        rule.networkSize(frameWidth: frame.width, frameHeight: frame.height)
    }

    /// Fills `tensor` (3×H×W, H×W the network size the caller chose) from `frame`.
    public func fill(_ tensor: Tensor, from frame: VideoFrame) throws {
        let w = tensor.width, h = tensor.height
        if scratch.count < 3 * w * h { scratch = [UInt8](repeating: 0, count: 3 * w * h) }
        try scratch.withUnsafeMutableBufferPointer { buf in
            try converter.networkRGB24(frame, width: w, height: h, into: buf.baseAddress!, rowStride: 3 * w)
            rule.normalize(rgb24: buf.baseAddress!, width: w, height: h, rowStride: 3 * w, into: tensor)
        }
    }

    /// A new tensor at the rule's size for `frame`.
    public func tensor(from frame: VideoFrame) throws -> Tensor {
        let size = networkSize(for: frame)
        let tensor = Tensor(channels: 3, height: size.height, width: size.width)
        try fill(tensor, from: frame)
        return tensor
    }
}
