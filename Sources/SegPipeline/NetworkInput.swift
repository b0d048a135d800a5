import SegEngine
import SegMedia
import SFNet

/// Decoded frames → the network's input, by `InputRule`: the one preprocessing path of every command
/// (`run`'s preprocess stage, `infer`, `eval`, `quantize`'s calibration, `profile`).
///
/// The frame is scaled to the rule's size as RGB planes (`FrameConverter.withNetworkPlanes`: swscale bilinear)
/// and normalised by `InputRule.normalize`. Keeps its converter between frames. Single owner.
public final class NetworkInputBuilder {
    public let rule: InputRule
    private let converter = FrameConverter(quality: .bilinear)

    public init(rule: InputRule) { self.rule = rule }

    /// The network size the rule gives this frame.
    public func networkSize(for frame: VideoFrame) -> NetworkSize {
        rule.networkSize(frameWidth: frame.width, frameHeight: frame.height)
    }

    /// Fills `tensor` (3×H×W, H×W the network size the caller chose) from `frame`.
    public func fill(_ tensor: Tensor, from frame: VideoFrame) throws {
        let w = tensor.width, h = tensor.height
        try converter.withNetworkPlanes(frame, width: w, height: h) { r, g, b, stride in
            rule.normalize(red: r, green: g, blue: b, width: w, height: h, rowStride: stride, into: tensor)
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
