/// Flow alignment (head.fpn_out_align.<i>): flow = flow_make([up(down_h(coarse)), down_l(lat)]) (3×3, 2
/// channels, fp32 pixel offsets), then lat + warp(coarse, flow) fused in one node.
struct FAM {
    let level: Int
    let downH: ConvSpec, downL: ConvSpec, flowMake: ConvSpec
    let dim: Int

    init(level i: Int, dim f: Int) {
        let p = "head.fpn_out_align.\(i)"
        level = i
        dim = f
        downH = ConvSpec(name: "\(p).down_h", inChannels: f, outChannels: f / 2, kernel: 1)
        downL = ConvSpec(name: "\(p).down_l", inChannels: f, outChannels: f / 2, kernel: 1)
        flowMake = ConvSpec(name: "\(p).flow_make", inChannels: f, outChannels: 2, kernel: 3, padding: 1)
    }

    var parameters: [ConvSpec] { [downH, downL, flowMake] }
}

extension Graph {
    /// Returns lat + warp(coarse, flow), a value of its own int8 group (`head.fpn_out_align.<i>.sum`); with a
    /// balanced fusion, its weighted sum of the two instead (same group).
    mutating func fam(_ m: FAM, coarse: Int, lat: Int, fusion: BalancedFusion? = nil) -> Int {
        let f = m.dim, i = m.level
        let cat = addConcat(SFNetInt8Plan.famConcat(i), channels: f, like: lat)
        let dh = conv(m.downH, coarse)
        _ = resize("head.fpn_out_align.\(i).resize", dh, into: slice(cat, 0..<(f / 2)))
        _ = conv(m.downL, lat, into: slice(cat, (f / 2)..<f))
        let flow = conv(m.flowMake, whole(cat), float: true)
        if let fusion {
            let warped = warp(SFNetInt8Plan.warpLayer(i), high: coarse, flow: flow)
            return balancedFusion(fusion, warped: warped, lat: lat, group: SFNetInt8Plan.famSum(i))
        }
        return warpAdd(SFNetInt8Plan.warpLayer(i), high: coarse, flow: flow, lat: lat, group: SFNetInt8Plan.famSum(i))
    }
}
