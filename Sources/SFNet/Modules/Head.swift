/// The SFNet head (head.*): PPM on the top feature, then top-down per level fpn_in (1×1), FAM and fpn_out
/// (3×3), the fuse concat [P2, up(P3), …, up(P5)], conv_last (3×3) and the classifier (1×1, fp32 logits).
/// Parameters in the state dict's order: ppm, fpn_in, fpn_out, fpn_out_align, conv_last, the optional
/// instance head on conv_last.0's output (`InstanceHead`), then the optional decoder blocks (`DecoderBlocks`):
/// FBNet's modulator on P5 (`FeatureModulator`), IFBFNet's balanced fusion at every FAM (`BalancedFusion`),
/// SeENet's `SeEM` on every lateral and `BAM` into one more fuse slice.
struct Head {
    let ppm: PPM
    let fpnIn: [ConvSpec]
    let fpnOut: [ConvSpec]
    let fam: [FAM]
    let convLast: ConvSpec
    let classifier: ConvSpec
    let instanceHead: InstanceHead?
    let modulator: FeatureModulator?
    let fusion: [BalancedFusion]?
    let seem: [SeEM]?
    let bam: BAM?
    let dim: Int

    init(featureChannels c: [Int], dim f: Int, classes: Int, instanceHead layout: InstanceHeadLayout? = nil,
         blocks: DecoderBlocks = .none) {
        dim = f
        ppm = PPM(inChannels: c.last!, dim: f)
        let levels = c.count - 1
        fpnIn = (0..<levels).map {
            ConvSpec(name: "head.fpn_in.\($0).0", inChannels: c[$0], outChannels: f, kernel: 1, hasBias: true,
                     batchNorm: "head.fpn_in.\($0).1", relu: true)
        }
        fpnOut = (0..<levels).map {
            ConvSpec(name: "head.fpn_out.\($0).0.0", inChannels: f, outChannels: f, kernel: 3, padding: 1,
                     batchNorm: "head.fpn_out.\($0).0.1", relu: true)
        }
        fam = (0..<levels).map { FAM(level: $0, dim: f) }
        bam = blocks.boundaryAttention ? BAM(fusedChannels: c.count * f, shallowChannels: c[0], dim: f) : nil
        seem = blocks.semanticEnhancement.map { v in (0..<levels).map { SeEM(level: $0, dim: f, variant: v) } }
        convLast = ConvSpec(name: "head.conv_last.0.0", inChannels: (c.count + (bam == nil ? 0 : 1)) * f, outChannels: f, kernel: 3, padding: 1,
                            batchNorm: "head.conv_last.0.1", relu: true)
        classifier = ConvSpec(name: "head.conv_last.1", inChannels: f, outChannels: classes, kernel: 1, hasBias: true)
        instanceHead = layout.map { InstanceHead(dim: f, layout: $0) }
        modulator = blocks.featureModulator ? FeatureModulator(dim: f) : nil
        fusion = blocks.balancedFusion ? (0..<levels).map { BalancedFusion(level: $0, dim: f) } : nil
    }

    var parameters: [ConvSpec] {
        ppm.parameters + fpnIn + fpnOut + fam.flatMap(\.parameters) + [convLast, classifier] + (instanceHead?.parameters ?? [])
            + (modulator?.parameters ?? []) + (fusion?.flatMap(\.parameters) ?? [])
            + (seem?.flatMap(\.parameters) ?? []) + (bam?.parameters ?? [])
    }
}

extension Graph {
    /// From the backbone's features (the last one the PPM's top, inside concat `ppmCat`) to the logits at
    /// the fusion resolution, and the instance head's output there (nil without one).
    mutating func head(_ h: Head, features: [Int], ppmCat: Int) -> (logits: Int, instances: Int?) {
        let f = h.dim, levels = features.count
        var p5 = ppm(h.ppm, ppmCat, top: features.last!)
        if let m = h.modulator { p5 = featureModulator(m, p5) }
        let fused = addConcat(SFNetInt8Plan.fuseConcat, channels: (levels + (h.bam == nil ? 0 : 1)) * f, like: features[0])
        var pyramid = [Int?](repeating: nil, count: levels)
        var current = p5
        for i in (0..<(levels - 1)).reversed() {
            let lat = h.seem.map { seem($0[i], lateral: h.fpnIn[i], feature: features[i]) } ?? conv(h.fpnIn[i], features[i])
            let sum = fam(h.fam[i], coarse: current, lat: lat, fusion: h.fusion?[i])
            let out = conv(h.fpnOut[i], sum, into: i == 0 ? slice(fused, 0..<f) : nil)
            if i > 0 { pyramid[i] = out }
            current = sum
        }
        pyramid[levels - 1] = p5
        for j in 1..<levels {
            _ = resize("head.fuse.resize.\(j)", pyramid[j]!, into: slice(fused, (j * f)..<((j + 1) * f)))
        }
        if let b = h.bam {
            bam(b, fused: slice(fused, 0..<(levels * f)), shallow: features[0], into: slice(fused, (levels * f)..<((levels + 1) * f)))
        }
        let hidden = conv(h.convLast, whole(fused))
        let logits = conv(h.classifier, hidden, float: true)
        return (logits, h.instanceHead.map { instanceHead($0, hidden) })
    }
}
