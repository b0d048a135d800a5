import Foundation
import SegEngine

/// How the int8 engine lays SFNet onto u8 activations (docs/int8.md): which activation (quantization
/// group) every convolution reads and writes, and so which tensors an int8 file holds.
///
/// Groups: a conv output normally has its own params, named after the conv. Tensors that meet in a
/// concatenation share one group, so the concat is just producers writing channel slices:
/// `head.ppm.concat` (the PPM branches and the top backbone feature), `head.fpn_out_align.<i>.concat`
/// (FAM down_h/down_l), `head.fuse.concat` (P5 and every fpn_out). The FAM sum `lat + warp(f)` is
/// `head.fpn_out_align.<i>.sum`. `input` is the normalised image. Pools and resizes keep their input's group.
struct SFNetInt8Plan {
    let graph: Graph
    let fp32Layers: Set<String>
    /// Conv name → the group it reads (nil: the fp32 network input) and writes (nil: fp32 output).
    private(set) var io: [String: (input: String?, output: String?)] = [:]
    /// Every group the file must hold params for, in network order.
    private(set) var groups: [String] = []
    /// fp32 model layer name (its activation observer) → the group that activation belongs to.
    private(set) var observed: [String: String] = [:]

    static let ppmConcat = "head.ppm.concat", fuseConcat = "head.fuse.concat"
    static func famConcat(_ i: Int) -> String { "head.fpn_out_align.\(i).concat" }
    static func famSum(_ i: Int) -> String { "head.fpn_out_align.\(i).sum" }
    /// The fp32 model's name for the FAM warp-add output of level i.
    static func warpLayer(_ i: Int) -> String { "head.fpn_out_align.\(i).warp" }

    /// Convs that may stay fp32: those reading the fp32 input (the first conv, 3 channels) or writing an fp32
    /// value (the flow convs: pixel offsets; the classifier: logits). Everything else is int8.
    static func fp32Candidates(_ graph: Graph) -> [String] {
        let candidates = Set(graph.convs.compactMap { c -> String? in
            let node = graph.nodes[c.node]
            return node.inputs[0] == graph.input || graph.values[node.output].isFloat ? c.spec.name : nil
        })
        return graph.parameters.map(\.name).filter(candidates.contains)   // state-dict order
    }

    /// The default: which convs stay fp32 (docs/int8.md has the measurements behind it).
    static func defaultFP32Layers(_ graph: Graph) -> Set<String> { [] }

    init(graph: Graph, fp32Layers: Set<String>) throws {
        self.graph = graph
        self.fp32Layers = fp32Layers
        let allowed = Set(Self.fp32Candidates(graph))
        if let bad = fp32Layers.sorted().first(where: { !allowed.contains($0) }) {
            throw ModelFileError.invalidMetadata(key: "int8_fp32_layers", value: bad,
                                                 reason: "only \(Self.fp32Candidates(graph).joined(separator: ", ")) can stay fp32")
        }
        var seen = Set<String>()
        func group(_ g: String) { if seen.insert(g).inserted { groups.append(g) } }
        // The graph's nodes in execution order: every conv reads its input's group and writes its output's
        // (nil: fp32); a FAM warp-add starts its sum group.
        let groupOf = graph.quantizationGroups()
        for node in graph.nodes {
            switch node.op {
            case .conv(let s):
                let x = node.inputs[0]
                let input = x == graph.input && fp32Layers.contains(s.name) ? nil : groupOf[x]
                let output = groupOf[node.output]
                if let input { group(input) }
                if let output { group(output); observed[s.name] = output }
                io[s.name] = (input, output)
            case .warpAdd, .modulate, .balancedSum, .boundaryGate:
                let sum = groupOf[node.output]!
                group(sum)
                observed[node.name] = sum
            case .maxPool, .adaptiveAveragePool, .resize, .warp:
                break
            }
        }
    }

    /// Exactly the tensors an int8 file for this plan holds (docs/int8.md), in network order.
    var expectedTensors: [(name: String, dtype: String, shape: [Int])] {
        var out: [(String, String, [Int])] = []
        for s in graph.parameters {
            let w = s.weightShape
            if fp32Layers.contains(s.name) {
                out.append(("\(s.name).weight", "F32", w))
            } else {
                out.append(("\(s.name).weight_q", "I8", w))
                out.append(("\(s.name).weight_scale", "F32", [s.outChannels]))
            }
            out.append(("\(s.name).bias", "F32", [s.outChannels]))
        }
        for g in groups {
            out.append(("act.\(g).scale", "F32", [1]))
            out.append(("act.\(g).zero_point", "U8", [1]))
        }
        return out
    }

    /// Checks presence, dtype and shape of every expected tensor and that there is nothing else.
    func validate(_ file: SafetensorsFile) throws {
        for (name, dtype, shape) in expectedTensors {
            guard let e = file.entries[name] else { throw ModelFileError.missingTensor(name) }
            guard e.dtype == dtype else { throw ModelFileError.wrongDType(name: name, dtype: e.dtype, expected: dtype) }
            guard e.shape == shape else { throw ModelFileError.shapeMismatch(name: name, shape: e.shape, expected: shape) }
        }
        let known = Set(expectedTensors.map(\.name))
        if let extra = file.names.first(where: { !known.contains($0) }) { throw ModelFileError.unexpectedTensor(extra) }
    }

    /// The params of the normalised input: the exact range (0 − mean)/std … (1 − mean)/std over channels.
    static func inputParams(_ config: SFNetConfig) -> QuantParams {
        let lo = (0..<3).map { -config.mean[$0] / config.std[$0] }.min()!
        let hi = (0..<3).map { (1 - config.mean[$0]) / config.std[$0] }.max()!
        return QuantParams(min: lo, max: hi)
    }

    /// BN folded into a conv in fp32 (the same arithmetic as `Conv2d`): w' = w·s, b' = (b − mean)·s + β,
    /// s = γ/√(var + eps). Returns (weights OIHW, bias).
    static func fold(_ s: ConvSpec, _ weights: (String) throws -> [Float]) throws -> (weight: [Float], bias: [Float]) {
        var w = try weights("\(s.name).weight")
        let own = s.hasBias ? try weights("\(s.name).bias") : [Float](repeating: 0, count: s.outChannels)
        guard let bn = s.batchNorm else { return (w, own) }
        let gamma = try weights("\(bn).weight"), beta = try weights("\(bn).bias")
        let mean = try weights("\(bn).running_mean"), variance = try weights("\(bn).running_var")
        let k = s.weightShape.dropFirst().reduce(1, *)
        var b = [Float](repeating: 0, count: s.outChannels)
        for o in 0..<s.outChannels {
            let scale = gamma[o] / (variance[o] + Float(1e-5)).squareRoot()
            for i in 0..<k { w[o * k + i] *= scale }
            b[o] = (own[o] - mean[o]) * scale + beta[o]
        }
        return (w, b)
    }
}
