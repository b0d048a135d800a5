/// FBNet's Dual Feature Modulator (head.dfm, `decoder_blocks` "dfm"; tools/sfnet/blocks_fbnet.py, docs/blocks.md)
/// on P5, the PPM output every decoder level starts from: the spatial sensor (1×1 conv to one channel, with bias),
/// the channel sensor (global average pool, then its fc as a 1×1 conv with bias), both fp32 logits, and
/// P5 + (P5·σ(spatial))·σ(channel) in one node. The BwBCE classifier is training-only and not in model files.
struct FeatureModulator {
    let spatial: ConvSpec, channel: ConvSpec

    init(dim f: Int) {
        spatial = ConvSpec(name: "head.dfm.spatial", inChannels: f, outChannels: 1, kernel: 1, hasBias: true)
        channel = ConvSpec(name: "head.dfm.channel", inChannels: f, outChannels: f, kernel: 1, hasBias: true)
    }

    /// State-dict order (PyTorch registers spatial, then channel).
    var parameters: [ConvSpec] { [spatial, channel] }

    static let name = "head.dfm"
}

extension Graph {
    /// The modulated feature, a value of its own int8 group (`head.dfm`).
    mutating func featureModulator(_ m: FeatureModulator, _ x: Int) -> Int {
        let pooled = adaptiveAveragePool("head.dfm.pool", x, bins: 1)
        let channelLogits = conv(m.channel, pooled, float: true)
        let spatialLogits = conv(m.spatial, x, float: true)
        return modulate(FeatureModulator.name, x, spatial: spatialLogits, channel: channelLogits, group: FeatureModulator.name)
    }
}
