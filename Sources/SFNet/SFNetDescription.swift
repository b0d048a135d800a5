/// SFNet as a graph (tools/sfnet/model.py): the backbone (`Modules/Backbone.swift`) and the head
/// (`Modules/Head.swift`: PPM, FAM decoder, fuse, classifier), each module a struct holding its convs'
/// specs (state-dict names, shapes, BN) and a function appending its nodes. The graph's `parameters`,
/// in state-dict order, are the model files' tensors; both engines, the int8 plan and the quantizer
/// read this description.
extension Graph {
    /// SFNet's modules for `config` (the FPN width: 128 for R18, 64 for DFNet, over the width divisor).
    static func sfnetModules(_ config: SFNetConfig) -> (backbone: Backbone, head: Head) {
        let backbone = Backbone(config)
        return (backbone, Head(featureChannels: backbone.featureChannels,
                               dim: (config.arch == .r18 ? 128 : 64) / config.widthDivisor, classes: config.numClasses,
                               instanceHead: config.instanceHead, blocks: config.decoderBlocks))
    }

    static func sfnet(_ config: SFNetConfig) -> Graph {
        let (backbone, head) = sfnetModules(config)
        var g = Graph()
        g.register(backbone.parameters + head.parameters)
        let input = g.addInput(3)
        // The PPM concat [bin1, bin2, bin3, bin6, top]: the last backbone block writes the top feature
        // straight into its last channels.
        let top = backbone.featureChannels.last!, offset = head.ppm.binChannels
        var ppmCat = -1
        let features = g.backbone(backbone, input) { g in
            ppmCat = g.addConcat(SFNetInt8Plan.ppmConcat, channels: offset + top)
            return g.slice(ppmCat, offset..<(offset + top))
        }
        (g.output, g.instanceOutput) = g.head(head, features: features, ppmCat: ppmCat)
        return g
    }

    /// Every conv node's layer (by node index; nil for other nodes), each made once by `make` in state-dict
    /// order (`parameters`: the order file errors are found in).
    func convLayers<Layer>(_ make: (ConvSpec) throws -> Layer) rethrows -> [Layer?] {
        var made: [String: Layer] = [:]
        for spec in parameters { made[spec.name] = try make(spec) }
        return nodes.map { node in
            if case .conv(let spec) = node.op { return made[spec.name]! }
            return nil
        }
    }

    /// Exactly the tensors a model file for this graph must hold, in state-dict order.
    var expectedTensors: [(name: String, shape: [Int])] { parameters.flatMap(\.expectedTensors) }
}
