/// Pyramid pooling (head.ppm): per bin an adaptive average pool, a 1×1 conv + BN, a resize into its slice
/// of the concat [bin1, bin2, bin3, bin6, top]; then the bottleneck (1×1 + BN + ReLU) over the whole concat.
struct PPM {
    let bins = [1, 2, 3, 6]
    let stages: [ConvSpec]
    let bottleneck: ConvSpec
    let dim: Int

    init(inChannels top: Int, dim f: Int) {
        dim = f
        stages = (0..<4).map {
            ConvSpec(name: "head.ppm.stages.\($0).1", inChannels: top, outChannels: f, kernel: 1, batchNorm: "head.ppm.stages.\($0).2")
        }
        bottleneck = ConvSpec(name: "head.ppm.bottleneck.0", inChannels: top + 4 * f, outChannels: f, kernel: 1,
                              batchNorm: "head.ppm.bottleneck.1", relu: true)
    }

    var parameters: [ConvSpec] { stages + [bottleneck] }
    /// Channels of the concat before the top feature.
    var binChannels: Int { bins.count * dim }
}

extension Graph {
    /// The PPM over `top`, a slice of concat `cat` (its last channels); returns the bottleneck's output.
    mutating func ppm(_ m: PPM, _ cat: Int, top: Int) -> Int {
        let f = m.dim
        for (k, bins) in m.bins.enumerated() {
            let pooled = adaptiveAveragePool("head.ppm.stages.\(k).0", top, bins: bins)
            let y = conv(m.stages[k], pooled)
            _ = resize("head.ppm.resize.\(k)", y, into: slice(cat, (k * f)..<((k + 1) * f)))
        }
        return conv(m.bottleneck, whole(cat))
    }
}
