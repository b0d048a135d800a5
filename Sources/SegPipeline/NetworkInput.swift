import SegEngine
import SegMedia
import SFNet

/// Decoded frames → the network's input, by `InputRule`: the one preprocessing path of every command
/// (`run`'s preprocess stage, `infer`, `eval`, `quantize`'s calibration, `profile`).
///
/// The frame is scaled to the rule's size as RGB planes (`FrameConverter.scaleNetworkPlanes`: swscale bilinear)
/// and normalised by `InputRule.normalize`; `run` keeps the planes (`fill(_: PixelPlanes, …)`) and the engine
/// normalises them with the same kernel where it needs the tensor. Keeps its converter between frames. Single owner.
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

    /// Scales `frame` into `planes` at `size` (the network size the caller chose); `rule.networkInput(planes)`
    /// is then the network input, the same as `fill(_: Tensor, …)` gives once normalised.
    public func fill(_ planes: PixelPlanes, size: NetworkSize, from frame: VideoFrame) throws {
        try converter.scaleNetworkPlanes(frame, width: size.width, height: size.height, into: planes)
    }

    /// A new tensor at the rule's size for `frame`.
    public func tensor(from frame: VideoFrame) throws -> Tensor {
        let size = networkSize(for: frame)
        let tensor = Tensor(channels: 3, height: size.height, width: size.width)
        try fill(tensor, from: frame)
        return tensor
    }
}
