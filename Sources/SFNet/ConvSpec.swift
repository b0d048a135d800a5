/// One convolution of the network as the state dict describes it: its key prefix, geometry, whether it
/// has its own bias, which BN (key prefix) follows it, and whether a ReLU follows (after BN/residual).
/// `groups` is 1 (dense) or the channel count (depthwise: in = out = groups; the engines run those with
/// `DepthwiseConv2d` / `QDepthwiseConv2d`); nothing else occurs in the network.
struct ConvSpec {
    let name: String
    let inChannels: Int, outChannels: Int, kernel: Int
    var stride = 1, padding = 0, dilation = 1
    var hasBias = false
    var batchNorm: String? = nil
    var relu = false
    var groups = 1

    var isDepthwise: Bool { groups > 1 }
    /// PyTorch's weight shape: [out, in/groups, k, k].
    var weightShape: [Int] { [outChannels, inChannels / groups, kernel, kernel] }

    /// The state-dict tensors this conv needs, with shapes.
    var expectedTensors: [(name: String, shape: [Int])] {
        var t: [(String, [Int])] = [("\(name).weight", weightShape)]
        if hasBias { t.append(("\(name).bias", [outChannels])) }
        if let bn = batchNorm {
            for p in ["weight", "bias", "running_mean", "running_var"] { t.append(("\(bn).\(p)", [outChannels])) }
        }
        return t
    }
}
