/// The backbones (tools/sfnet/model.py): R18 (deep stem + max-pool, dilated layer3/4) and DFNet1/DFNet2
/// (two stride-2 stem convs), stages of basic blocks. Parameters in state-dict order.
struct Backbone {
    let stem: [ConvSpec]
    /// R18 ends its stem with a 3×3/s2 max-pool.
    let stemMaxPool: Bool
    let stages: [StageSpec]
    /// Channels of the features handed to the head (the stages with `isFeature`), shallow to deep.
    let featureChannels: [Int]

    init(_ config: SFNetConfig) {
        let d = config.widthDivisor
        switch config.arch {
        case .r18:
            stem = [
                ConvSpec(name: "layer0.0.0", inChannels: 3, outChannels: 64 / d, kernel: 3, stride: 2, padding: 1, batchNorm: "layer0.0.1", relu: true),
                ConvSpec(name: "layer0.0.3", inChannels: 64 / d, outChannels: 64 / d, kernel: 3, padding: 1, batchNorm: "layer0.0.4", relu: true),
                ConvSpec(name: "layer0.0.6", inChannels: 64 / d, outChannels: 128 / d, kernel: 3, padding: 1, batchNorm: "layer0.1", relu: true),
            ]
            stemMaxPool = true
            stages = [
                StageSpec("layer1", 128 / d, 64 / d, 2, 1, feature: true),
                StageSpec("layer2", 64 / d, 128 / d, 2, 2, feature: true),
                StageSpec("layer3", 128 / d, 256 / d, 2, 2, dilation: 2, feature: true),
                StageSpec("layer4", 256 / d, 512 / d, 2, 2, dilation: 4, feature: true),
            ]
        case .df1, .df2:
            stem = [
                ConvSpec(name: "backbone.stage1.0", inChannels: 3, outChannels: 32 / d, kernel: 3, stride: 2, padding: 1, batchNorm: "backbone.stage1.1", relu: true),
                ConvSpec(name: "backbone.stage1.3", inChannels: 32 / d, outChannels: 64 / d, kernel: 3, stride: 2, padding: 1, batchNorm: "backbone.stage1.4", relu: true),
            ]
            stemMaxPool = false
            if config.arch == .df1 {
                stages = [
                    StageSpec("backbone.stage2", 64 / d, 64 / d, 3, 2, feature: false),
                    StageSpec("backbone.stage3", 64 / d, 128 / d, 3, 2, feature: true),
                    StageSpec("backbone.stage4", 128 / d, 256 / d, 3, 2, feature: true),
                    StageSpec("backbone.stage5", 256 / d, 512 / d, 1, 1, feature: true),
                ]
            } else {
                stages = [
                    StageSpec("backbone.stage2_1", 64 / d, 64 / d, 2, 2, feature: false),
                    StageSpec("backbone.stage2_2", 64 / d, 128 / d, 1, 1, feature: true),
                    StageSpec("backbone.stage3_1", 128 / d, 128 / d, 10, 2, feature: false),
                    StageSpec("backbone.stage3_2", 128 / d, 256 / d, 1, 1, feature: true),
                    StageSpec("backbone.stage4_1", 256 / d, 256 / d, 4, 2, feature: false),
                    StageSpec("backbone.stage4_2", 256 / d, 512 / d, 2, 1, feature: true),
                ]
            }
        }
        featureChannels = stages.filter(\.isFeature).map { $0.blocks.last!.conv2.outChannels }
    }

    var parameters: [ConvSpec] { stem + stages.flatMap { $0.blocks.flatMap(\.parameters) } }
}

/// A BasicBlock: relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut).
struct BlockSpec {
    let conv1: ConvSpec, conv2: ConvSpec
    let downsample: ConvSpec?

    var parameters: [ConvSpec] { [conv1, conv2] + (downsample.map { [$0] } ?? []) }
}

struct StageSpec {
    let name: String
    let blocks: [BlockSpec]
    /// Its output is one of the features handed to the head.
    let isFeature: Bool

    init(_ name: String, _ cin: Int, _ cout: Int, _ count: Int, _ stride: Int, dilation: Int = 1, feature: Bool) {
        self.name = name
        isFeature = feature
        blocks = (0..<count).map { b in
            let p = "\(name).\(b)", inC = b == 0 ? cin : cout, s = b == 0 ? stride : 1
            return BlockSpec(
                conv1: ConvSpec(name: "\(p).conv1", inChannels: inC, outChannels: cout, kernel: 3, stride: s, padding: 1,
                                batchNorm: "\(p).bn1", relu: true),
                conv2: ConvSpec(name: "\(p).conv2", inChannels: cout, outChannels: cout, kernel: 3, padding: dilation,
                                dilation: dilation, batchNorm: "\(p).bn2", relu: true),
                downsample: s != 1 || inC != cout
                    ? ConvSpec(name: "\(p).downsample.0", inChannels: inC, outChannels: cout, kernel: 1, stride: s,
                               batchNorm: "\(p).downsample.1") : nil)
        }
    }
}

extension Graph {
    /// Stem, optional max-pool, stages; returns the features handed to the head. The last block writes
    /// into the value `top` makes (called just before that block, so a concat declared there lives from then).
    mutating func backbone(_ b: Backbone, _ input: Int, top: (inout Graph) -> Int) -> [Int] {
        var x = input
        for s in b.stem { x = conv(s, x) }
        if b.stemMaxPool { x = maxPool("layer0.3", x) }
        var features: [Int] = []
        for (si, stage) in b.stages.enumerated() {
            for (bi, block) in stage.blocks.enumerated() {
                let isLast = si == b.stages.count - 1 && bi == stage.blocks.count - 1
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
}
