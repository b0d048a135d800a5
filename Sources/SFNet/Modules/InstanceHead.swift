/// The instance head (head.instance_head.*, tools/sfnet/model.py; issue #14): on the fused decoder feature
/// (conv_last.0's output, at the classifier's resolution) two 3×3 convs + BN + ReLU, then a 1×1 conv with
/// bias to one centre-heatmap logit per thing class and the offset (dx, dy) from each cell to its instance's
/// centre, in cells (`InstanceHeadLayout`). Its output is fp32, like the logits.
struct InstanceHead {
    let hidden: [ConvSpec]
    let output: ConvSpec

    init(dim f: Int, layout: InstanceHeadLayout) {
        hidden = (0..<2).map {
            ConvSpec(name: "head.instance_head.\($0).0", inChannels: f, outChannels: f, kernel: 3, padding: 1,
                     batchNorm: "head.instance_head.\($0).1", relu: true)
        }
        output = ConvSpec(name: "head.instance_head.2", inChannels: f, outChannels: layout.channels, kernel: 1, hasBias: true)
    }

    var parameters: [ConvSpec] { hidden + [output] }
}

extension Graph {
    /// The head's fp32 output (heatmap logits, then dx, dy) from the fused decoder feature.
    mutating func instanceHead(_ h: InstanceHead, _ feature: Int) -> Int {
        let x = h.hidden.reduce(feature) { conv($1, $0) }
        return conv(h.output, x, float: true)
    }
}
