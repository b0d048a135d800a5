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

/// A BasicBlock: relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut).
struct BlockSpec {
    let conv1: ConvSpec, conv2: ConvSpec
    let downsample: ConvSpec?
}

struct StageSpec {
    let name: String
    let blocks: [BlockSpec]
    /// Its output is one of the features handed to the head.
    let isFeature: Bool
}

/// The whole SFNet as a list of convolutions with state-dict names (tools/sfnet/model.py).
struct SFNetTopology {
    let stem: [ConvSpec]
    /// R18 ends its stem with a 3×3/s2 max-pool.
    let stemMaxPool: Bool
    let stages: [StageSpec]
    let fpnDim: Int
    let ppmStages: [ConvSpec]
    let ppmBins = [1, 2, 3, 6]
    let ppmBottleneck: ConvSpec
    let fpnIn: [ConvSpec]
    let fpnOut: [ConvSpec]
    /// (down_h, down_l, flow_make) per level.
    let fam: [(downH: ConvSpec, downL: ConvSpec, flowMake: ConvSpec)]
    let convLast: ConvSpec
    let classifier: ConvSpec

    var allConvs: [ConvSpec] {
        stem + stages.flatMap { $0.blocks.flatMap { [$0.conv1, $0.conv2] + ($0.downsample.map { [$0] } ?? []) } }
            + ppmStages + [ppmBottleneck] + fpnIn + fpnOut + fam.flatMap { [$0.downH, $0.downL, $0.flowMake] }
            + [convLast, classifier]
    }

    /// Exactly the tensors a model file for this config must hold.
    var expectedTensors: [(name: String, shape: [Int])] { allConvs.flatMap(\.expectedTensors) }

    init(_ config: SFNetConfig) {
        let d = config.widthDivisor
        func stage(_ name: String, _ cin: Int, _ cout: Int, _ blocks: Int, _ stride: Int, dilation: Int = 1,
                   feature: Bool) -> StageSpec {
            var list: [BlockSpec] = []
            for b in 0..<blocks {
                let p = "\(name).\(b)", inC = b == 0 ? cin : cout, s = b == 0 ? stride : 1
                let conv1 = ConvSpec(name: "\(p).conv1", inChannels: inC, outChannels: cout, kernel: 3, stride: s,
                                     padding: 1, batchNorm: "\(p).bn1", relu: true)
                let conv2 = ConvSpec(name: "\(p).conv2", inChannels: cout, outChannels: cout, kernel: 3,
                                     padding: dilation, dilation: dilation, batchNorm: "\(p).bn2", relu: true)
                let down = (s != 1 || inC != cout)
                    ? ConvSpec(name: "\(p).downsample.0", inChannels: inC, outChannels: cout, kernel: 1, stride: s,
                               batchNorm: "\(p).downsample.1") : nil
                list.append(BlockSpec(conv1: conv1, conv2: conv2, downsample: down))
            }
            return StageSpec(name: name, blocks: list, isFeature: feature)
        }
        let fpnInplanes: [Int]
        switch config.arch {
        case .r18:
            stem = [
                ConvSpec(name: "layer0.0.0", inChannels: 3, outChannels: 64 / d, kernel: 3, stride: 2, padding: 1, batchNorm: "layer0.0.1", relu: true),
                ConvSpec(name: "layer0.0.3", inChannels: 64 / d, outChannels: 64 / d, kernel: 3, padding: 1, batchNorm: "layer0.0.4", relu: true),
                ConvSpec(name: "layer0.0.6", inChannels: 64 / d, outChannels: 128 / d, kernel: 3, padding: 1, batchNorm: "layer0.1", relu: true),
            ]
            stemMaxPool = true
            stages = [
                stage("layer1", 128 / d, 64 / d, 2, 1, feature: true),
                stage("layer2", 64 / d, 128 / d, 2, 2, feature: true),
                stage("layer3", 128 / d, 256 / d, 2, 2, dilation: 2, feature: true),
                stage("layer4", 256 / d, 512 / d, 2, 2, dilation: 4, feature: true),
            ]
            fpnInplanes = [64 / d, 128 / d, 256 / d, 512 / d]
            fpnDim = 128 / d
        case .df1, .df2:
            stem = [
                ConvSpec(name: "backbone.stage1.0", inChannels: 3, outChannels: 32 / d, kernel: 3, stride: 2, padding: 1, batchNorm: "backbone.stage1.1", relu: true),
                ConvSpec(name: "backbone.stage1.3", inChannels: 32 / d, outChannels: 64 / d, kernel: 3, stride: 2, padding: 1, batchNorm: "backbone.stage1.4", relu: true),
            ]
            stemMaxPool = false
            if config.arch == .df1 {
                stages = [
                    stage("backbone.stage2", 64 / d, 64 / d, 3, 2, feature: false),
                    stage("backbone.stage3", 64 / d, 128 / d, 3, 2, feature: true),
                    stage("backbone.stage4", 128 / d, 256 / d, 3, 2, feature: true),
                    stage("backbone.stage5", 256 / d, 512 / d, 1, 1, feature: true),
                ]
            } else {
                stages = [
                    stage("backbone.stage2_1", 64 / d, 64 / d, 2, 2, feature: false),
                    stage("backbone.stage2_2", 64 / d, 128 / d, 1, 1, feature: true),
                    stage("backbone.stage3_1", 128 / d, 128 / d, 10, 2, feature: false),
                    stage("backbone.stage3_2", 128 / d, 256 / d, 1, 1, feature: true),
                    stage("backbone.stage4_1", 256 / d, 256 / d, 4, 2, feature: false),
                    stage("backbone.stage4_2", 256 / d, 512 / d, 2, 1, feature: true),
                ]
            }
            fpnInplanes = [128 / d, 256 / d, 512 / d]
            fpnDim = 64 / d
        }
        let f = fpnDim, top = fpnInplanes.last!
        ppmStages = (0..<4).map {
            ConvSpec(name: "head.ppm.stages.\($0).1", inChannels: top, outChannels: f, kernel: 1, batchNorm: "head.ppm.stages.\($0).2")
        }
        ppmBottleneck = ConvSpec(name: "head.ppm.bottleneck.0", inChannels: top + 4 * f, outChannels: f, kernel: 1,
                                 batchNorm: "head.ppm.bottleneck.1", relu: true)
        let levels = fpnInplanes.count - 1
        fpnIn = (0..<levels).map {
            ConvSpec(name: "head.fpn_in.\($0).0", inChannels: fpnInplanes[$0], outChannels: f, kernel: 1, hasBias: true,
                     batchNorm: "head.fpn_in.\($0).1", relu: true)
        }
        fpnOut = (0..<levels).map {
            ConvSpec(name: "head.fpn_out.\($0).0.0", inChannels: f, outChannels: f, kernel: 3, padding: 1,
                     batchNorm: "head.fpn_out.\($0).0.1", relu: true)
        }
        fam = (0..<levels).map {
            let p = "head.fpn_out_align.\($0)"
            return (ConvSpec(name: "\(p).down_h", inChannels: f, outChannels: f / 2, kernel: 1),
                    ConvSpec(name: "\(p).down_l", inChannels: f, outChannels: f / 2, kernel: 1),
                    ConvSpec(name: "\(p).flow_make", inChannels: f, outChannels: 2, kernel: 3, padding: 1))
        }
        convLast = ConvSpec(name: "head.conv_last.0.0", inChannels: fpnInplanes.count * f, outChannels: f, kernel: 3,
                            padding: 1, batchNorm: "head.conv_last.0.1", relu: true)
        classifier = ConvSpec(name: "head.conv_last.1", inChannels: f, outChannels: config.numClasses, kernel: 1, hasBias: true)
    }
}
