/// One convolution of the network as the state dict describes it: its key prefix, geometry, whether it
/// has its own bias, which BN (key prefix) follows it, and whether a ReLU follows (after BN/residual).
struct ConvSpec {
    let name: String
    let inChannels: Int, outChannels: Int, kernel: Int
    var stride = 1, padding = 0, dilation = 1
    var hasBias = false
    var batchNorm: String? = nil
    var relu = false

    /// The state-dict tensors this conv needs, with shapes.
    var expectedTensors: [(name: String, shape: [Int])] {
        var t: [(String, [Int])] = [("\(name).weight", [outChannels, inChannels, kernel, kernel])]
        if hasBias { t.append(("\(name).bias", [outChannels])) }
        if let bn = batchNorm {
            for p in ["weight", "bias", "running_mean", "running_var"] { t.append(("\(bn).\(p)", [outChannels])) }
        }
        return t
    }
}
