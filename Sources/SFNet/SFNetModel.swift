import Foundation
import SegEngine

/// An fp32 SFNet ready to run: BN folded into the convolutions, activations reused across frames.
///
/// Input: a normalised RGB image as a 3×H×W `Tensor` (CHW). Any H, W ≥ 1 works; the network runs at
/// the exact size, as PyTorch does (stride-2 convs round up, every resize names its target size).
///
/// Immutable once made: run it through sessions (`makeSession()`, one per stream), which hold the
/// activations and scratch; any number of sessions may run one model concurrently.
public final class SFNetModel: SegmentationModel, SessionRunner {
    public let config: SFNetConfig

    /// A conv of the graph: dense, or depthwise (`ConvSpec.groups`).
    enum Layer: Sendable {
        case dense(Conv2d)
        case depthwise(DepthwiseConv2d)
    }

    /// The network (`Graph.sfnet`), and the conv of every conv node (by node index).
    private let graph: Graph
    private let layers: [Layer?]

    /// Loads a segstream model file (docs/model-format.md). Throws `ModelFileError`; never loads partially.
    public convenience init(contentsOf url: URL) throws {
        let file = try SafetensorsFile(contentsOf: url)
        try self.init(file: file)
    }

    public convenience init(file: SafetensorsFile) throws {
        let config = try SFNetConfig(metadata: file.metadata)
        guard config.precision == .fp32 else {
            throw ModelFileError.invalidMetadata(key: "precision", value: config.precision.rawValue,
                                                 reason: "an int8 model needs the int8 engine (SFNetInt8Model)")
        }
        let graph = Graph.sfnet(config)
        try file.validate(expected: graph.expectedTensors)
        try self.init(config: config, graph: graph) { try file.floats($0) }
    }

    /// The tensor names and shapes a model file with `config` must contain, in network order.
    public static func expectedTensors(for config: SFNetConfig) -> [(name: String, shape: [Int])] {
        Graph.sfnet(config).expectedTensors
    }

    /// A model from named tensors (state-dict names, unfused); `weights(name)` returns the values.
    public convenience init(config: SFNetConfig, weights: (String) throws -> [Float]) throws {
        try self.init(config: config, graph: Graph.sfnet(config), weights: weights)
    }

    /// A model with deterministic pseudo-random weights (benchmarks; the outputs mean nothing).
    public static func random(config: SFNetConfig, seed: UInt64 = 1) -> SFNetModel {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> Float {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Float(state >> 40) / Float(1 << 24)   // [0, 1)
        }
        var shapes: [String: [Int]] = [:]
        for t in Graph.sfnet(config).expectedTensors { shapes[t.name] = t.shape }
        return try! SFNetModel(config: config) { name in
            let shape = shapes[name]!
            let n = shape.reduce(1, *)
            if name.hasSuffix("running_var") { return (0..<n).map { _ in 0.5 + next() } }
            if name.hasSuffix(".weight") && shape.count == 4 {
                let scale = (6 / Float(shape[1] * shape[2] * shape[3])).squareRoot()   // He-uniform keeps activations sane
                return (0..<n).map { _ in (next() * 2 - 1) * scale }
            }
            if name.hasSuffix(".weight") { return (0..<n).map { _ in 0.5 + next() } }   // BN gamma
            return (0..<n).map { _ in (next() - 0.5) * 0.2 }
        }
    }

    private init(config: SFNetConfig, graph: Graph, weights: (String) throws -> [Float]) throws {
        func make(_ s: ConvSpec) throws -> Layer {
            var bn: BatchNormParameters? = nil
            if let b = s.batchNorm {
                bn = BatchNormParameters(gamma: try weights("\(b).weight"), beta: try weights("\(b).bias"),
                                         mean: try weights("\(b).running_mean"), variance: try weights("\(b).running_var"))
            }
            if s.isDepthwise {
                precondition(s.groups == s.inChannels && s.groups == s.outChannels && s.stride == 1, "\(s.name): not depthwise")
                return .depthwise(DepthwiseConv2d(name: s.name, channels: s.outChannels, kernelSize: s.kernel, padding: s.padding,
                                                  dilation: s.dilation, weight: try weights("\(s.name).weight"),
                                                  bias: s.hasBias ? try weights("\(s.name).bias") : nil, batchNorm: bn, relu: s.relu))
            }
            return .dense(Conv2d(name: s.name, inChannels: s.inChannels, outChannels: s.outChannels, kernelSize: s.kernel,
                          stride: s.stride, padding: s.padding, dilation: s.dilation, weight: try weights("\(s.name).weight"),
                          bias: s.hasBias ? try weights("\(s.name).bias") : nil, batchNorm: bn, relu: s.relu))
        }
        self.config = config
        self.graph = graph
        layers = try graph.convLayers(make)
    }

    // MARK: - Inference (through an InferenceSession)

    public func makeSession(pool: WorkerPool) -> InferenceSession { InferenceSession(model: self, pool: pool) }

    func forward(input: NetworkInput, outputHeight: Int, outputWidth: Int, _ ws: Workspace) -> Tensor {
        let logits = networkLogits(input, ws)
        let out = Tensor(channels: config.numClasses, height: outputHeight, width: outputWidth)
        Resize.bilinear(logits, into: out, alignCorners: true, context: ws.context, name: "upsample_logits")
        return out
    }

    /// The upsample and the argmax are one fused pass: full-size logits are never stored.
    func predictLabels(input: NetworkInput, outputHeight: Int, outputWidth: Int, into labels: UnsafeMutableBufferPointer<UInt8>,
                       _ ws: Workspace) {
        let logits = networkLogits(input, ws)
        Resize.bilinearArgmax(logits, height: outputHeight, width: outputWidth, alignCorners: true,
                              labels: labels.baseAddress!, context: ws.context)
    }

    func predictLabelsAndInstances(input: NetworkInput, outputHeight: Int, outputWidth: Int,
                                   into labels: UnsafeMutableBufferPointer<UInt8>, _ ws: Workspace) -> Tensor {
        let (logits, head) = networkOutputs(input, ws)
        guard let head else { preconditionFailure("the model has no instance head") }
        let instances = Tensor(channels: head.channels, height: head.height, width: head.width)
        instances.data.update(from: head.data, count: head.count)
        Resize.bilinearArgmax(logits, height: outputHeight, width: outputWidth, alignCorners: true,
                              labels: labels.baseAddress!, context: ws.context)
        return instances
    }

    func lowResolutionLogits(input: NetworkInput, _ ws: Workspace) -> Tensor {
        let logits = networkLogits(input, ws)
        let out = Tensor(channels: logits.channels, height: logits.height, width: logits.width)
        out.data.update(from: logits.data, count: logits.count)
        return out
    }

    // MARK: - The network

    /// Runs the graph; returns the logits at the fusion resolution (in the session's slots, valid until the
    /// next pass). Every buffer lives in the slot the plan gave it (`GraphPlan`), from before the first node
    /// that writes it to after the last node that reads it; a concat is one buffer its producers write.
    private func networkLogits(_ input: NetworkInput, _ ws: Workspace) -> Tensor { networkOutputs(input, ws).logits }

    /// The logits and the instance head's output (nil without one), both in the session's slots.
    private func networkOutputs(_ given: NetworkInput, _ ws: Workspace) -> (logits: Tensor, instances: Tensor?) {
        let input = ws.tensor(given)
        precondition(input.channels == 3 && input.height > 0 && input.width > 0, "input must be 3×H×W, got \(input.shape)")
        let context = ws.context
        let plan = ws.plan(height: input.height, width: input.width) {
            GraphPlan(graph, height: input.height, width: input.width, scratch: { i, x, _ in
                switch graph.nodes[i].op {
                case .modulate: [Gates.modulateScratch(channels: x.channels, height: x.height, width: x.width)]
                case .balancedSum: [Gates.balancedSumScratch(channels: x.channels)]
                default: []
                }
            })
        }
        var buffers = [Tensor?](repeating: nil, count: plan.bufferShapes.count)
        func tensor(_ v: Int) -> Tensor { v == graph.input ? input : buffers[plan.bufferOfValue[v]]!.channelSlice(graph.channels(v)) }
        graph.execute(plan, take: { b in
            let s = plan.bufferShapes[b]
            buffers[b] = Tensor(storage: ws.slots[plan.slotOfBuffer[b]], offset: 0, channels: s.channels, height: s.height,
                                width: s.width)
        }, giveBack: { b in
            buffers[b] = nil
        }) { i, node in
            let x = tensor(node.inputs[0]), y = tensor(node.output)
            switch node.op {
            case .conv:
                switch layers[i]! {
                case .dense(let conv): conv.run(x, into: y, residual: node.residual.map(tensor), context: context)
                case .depthwise(let conv): conv.run(x, into: y, residual: node.residual.map(tensor), context: context)
                }
            case .maxPool:
                Pooling.maxPool(x, into: y, context: context, name: node.name)
            case .adaptiveAveragePool:
                Pooling.adaptiveAveragePool(x, into: y, context: context, name: node.name)
            case .resize:
                Resize.bilinear(x, into: y, alignCorners: true, context: context, name: node.name)
            case .warpAdd:
                FlowWarp.warpAdd(high: x, flow: tensor(node.inputs[1]), lat: tensor(node.inputs[2]), into: y,
                                 alignCorners: config.warpAlignCorners, context: context, name: node.name)
            case .warp:
                FlowWarp.warpAdd(high: x, flow: tensor(node.inputs[1]), lat: nil, into: y,
                                 alignCorners: config.warpAlignCorners, context: context, name: node.name)
            case .modulate:
                Gates.modulate(x, spatial: tensor(node.inputs[1]), channel: tensor(node.inputs[2]), into: y,
                               scratch: ws.slots[plan.scratchSlots[i][0]].pointer, context: context, name: node.name)
            case .balancedSum:
                Gates.balancedSum(high: x, low: tensor(node.inputs[1]), logitsHigh: tensor(node.inputs[2]),
                                  logitsLow: tensor(node.inputs[3]), into: y,
                                  scratch: ws.slots[plan.scratchSlots[i][0]].pointer, context: context, name: node.name)
            case .boundaryGate:
                BoundaryGate.apply(attention: x, feature: tensor(node.inputs[1]), into: y, context: context, name: node.name)
            }
        }
        return (tensor(graph.output), graph.instanceOutput.map(tensor))
    }
}
