/// SFNet as a graph (tools/sfnet/model.py's forward): backbone (R18 / DFNet1 / DFNet2 stages of basic
/// blocks), PPM, FAM decoder and head, each a function appending its nodes. The convs' specs (state-dict
/// names, shapes, BN) come from `SFNetTopology`; both engines, the int8 plan and the quantizer read this.
extension Graph {
    static func sfnet(_ t: SFNetTopology) -> Graph {
        var g = Graph()
        let input = g.addInput(3)
        // The PPM concat [bin1, bin2, bin3, bin6, C_top]: the last backbone block writes the top feature
        // straight into its last channels.
        let top = t.stages.last!.blocks.last!.conv2.outChannels, offset = t.ppmBins.count * t.fpnDim
        var ppmCat = -1
        let features = g.backbone(t, input) { g in
            ppmCat = g.addConcat(SFNetInt8Plan.ppmConcat, channels: offset + top)
            return g.slice(ppmCat, offset..<(offset + top))
        }
        let p5 = g.ppm(t, ppmCat, top: features.last!)
        g.output = g.famDecoderAndHead(t, features: features, p5: p5)
        return g
    }

    /// Every conv node's layer (by node index; nil for other nodes), each made once by `make` in state-dict
    /// order (`t.allConvs`: the order file errors are found in).
    func convLayers<Layer>(_ t: SFNetTopology, _ make: (ConvSpec) throws -> Layer) rethrows -> [Layer?] {
        var made: [String: Layer] = [:]
        for spec in t.allConvs { made[spec.name] = try make(spec) }
        return nodes.map { node in
            if case .conv(let spec) = node.op { return made[spec.name]! }
            return nil
        }
    }

    /// Stem, optional max-pool, stages; returns the features handed to the head. The last block writes
    /// into the value `top` makes (called just before that block).
    mutating func backbone(_ t: SFNetTopology, _ input: Int, top: (inout Graph) -> Int) -> [Int] {
        var x = input
        for s in t.stem { x = conv(s, x) }
        if t.stemMaxPool { x = maxPool("layer0.3", x) }
        var features: [Int] = []
        for (si, stage) in t.stages.enumerated() {
            for (bi, block) in stage.blocks.enumerated() {
                let isLast = si == t.stages.count - 1 && bi == stage.blocks.count - 1
                x = basicBlock(block, x, into: isLast ? top(&self) : nil)
            }
            if stage.isFeature { features.append(x) }
        }
        return features
    }

    /// relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut).
    mutating func basicBlock(_ b: BlockSpec, _ x: Int, into dest: Int? = nil) -> Int {
        let t = conv(b.conv1, x)
        let shortcut = b.downsample.map { conv($0, x) } ?? x
        return conv(b.conv2, t, residual: shortcut, into: dest)
    }

    /// Pyramid pooling: each bin's pool → 1×1 conv → resize into its slice of the concat, then the
    /// bottleneck over the whole concat.
    mutating func ppm(_ t: SFNetTopology, _ cat: Int, top: Int) -> Int {
        let f = t.fpnDim
        for (k, bins) in t.ppmBins.enumerated() {
            let pooled = adaptiveAveragePool("head.ppm.stages.\(k).0", top, bins: bins)
            let y = conv(t.ppmStages[k], pooled)
            _ = resize("head.ppm.resize.\(k)", y, into: slice(cat, (k * f)..<((k + 1) * f)))
        }
        return conv(t.ppmBottleneck, whole(cat))
    }

    /// The FAM decoder top-down, then the fuse concat [P2, up(P3), up(P4), up(P5)], conv_last and the
    /// classifier. Returns the logits at the fusion resolution.
    mutating func famDecoderAndHead(_ t: SFNetTopology, features: [Int], p5: Int) -> Int {
        let f = t.fpnDim, levels = features.count
        let fused = addConcat(SFNetInt8Plan.fuseConcat, channels: levels * f, like: features[0])
        var pyramid = [Int?](repeating: nil, count: levels)
        var current = p5
        for i in (0..<(levels - 1)).reversed() {
            let lat = conv(t.fpnIn[i], features[i])
            let sum = fam(t, level: i, coarse: current, lat: lat)
            let out = conv(t.fpnOut[i], sum, into: i == 0 ? slice(fused, 0..<f) : nil)
            if i > 0 { pyramid[i] = out }
            current = sum
        }
        pyramid[levels - 1] = p5
        for j in 1..<levels {
            _ = resize("head.fuse.resize.\(j)", pyramid[j]!, into: slice(fused, (j * f)..<((j + 1) * f)))
        }
        let hidden = conv(t.convLast, whole(fused))
        return conv(t.classifier, hidden, float: true)
    }

    /// Flow alignment: flow from [up(down_h(coarse)), down_l(lat)], then lat + warp(coarse, flow).
    mutating func fam(_ t: SFNetTopology, level i: Int, coarse: Int, lat: Int) -> Int {
        let f = t.fpnDim, m = t.fam[i]
        let cat = addConcat(SFNetInt8Plan.famConcat(i), channels: f, like: lat)
        let dh = conv(m.downH, coarse)
        _ = resize("head.fpn_out_align.\(i).resize", dh, into: slice(cat, 0..<(f / 2)))
        _ = conv(m.downL, lat, into: slice(cat, (f / 2)..<f))
        let flow = conv(m.flowMake, whole(cat), float: true)
        return warpAdd(SFNetInt8Plan.warpLayer(i), high: coarse, flow: flow, lat: lat, group: SFNetInt8Plan.famSum(i))
    }
}
