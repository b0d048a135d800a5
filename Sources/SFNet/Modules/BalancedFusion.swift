/// IFBFNet's inter-level balanced fusion at FAM level i (head.ifbf.<i>, `decoder_blocks` "ifbf";
/// tools/sfnet/blocks_fbnet.py, docs/blocks.md): in place of lat + warp(coarse), 2σ(a_h)·warp(coarse) + 2σ(a_l)·lat
/// with a = fc([avgpool(warp(coarse)), avgpool(lat)]). The fc (2C → 2C) is stored split by input half: fc_h reads
/// the pooled high-level feature (with the bias), fc_l the pooled low-level one; both write fp32 logits.
struct BalancedFusion {
    let level: Int
    let fcHigh: ConvSpec, fcLow: ConvSpec

    init(level i: Int, dim f: Int) {
        level = i
        fcHigh = ConvSpec(name: "head.ifbf.\(i).fc_h", inChannels: f, outChannels: 2 * f, kernel: 1, hasBias: true)
        fcLow = ConvSpec(name: "head.ifbf.\(i).fc_l", inChannels: f, outChannels: 2 * f, kernel: 1)
    }

    var parameters: [ConvSpec] { [fcHigh, fcLow] }
}

extension Graph {
    /// The fused feature from the warped high-level value and lat, a value of `group` (the FAM's sum group, so the
    /// int8 file keeps the group names it has without the block).
    mutating func balancedFusion(_ m: BalancedFusion, warped: Int, lat: Int, group: String) -> Int {
        let p = "head.ifbf.\(m.level)"
        let logitsHigh = conv(m.fcHigh, adaptiveAveragePool("\(p).pool_h", warped, bins: 1), float: true)
        let logitsLow = conv(m.fcLow, adaptiveAveragePool("\(p).pool_l", lat, bins: 1), float: true)
        return balancedSum(p, high: warped, low: lat, logitsHigh: logitsHigh, logitsLow: logitsLow, group: group)
    }
}
