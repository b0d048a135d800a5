import CSegKernels
import Foundation
import SegEngine

/// An int8 SFNet (docs/int8.md): u8 NHWC activations with per-tensor params, s8 per-channel weights
/// with BN folded, int32 accumulation, and requantization, bias, residual and ReLU fused into each conv.
/// Concats are producers writing channel slices of one buffer (shared params); resizes and the FAM warp
/// run on u8 and keep their input's params (the warp fuses the `lat +` add). The flow convs and the
/// classifier write fp32 (flow in pixels, logits); the fused upsample + argmax reads the NHWC logits directly.
///
/// Same surface and ownership rules as `SFNetModel`: immutable, run through sessions (one per stream) whose
/// layers fan out to the pool's workers, which split output rows; steady-state frames allocate nothing.
public final class SFNetInt8Model: SegmentationModel, SessionRunner {
    public let config: SFNetConfig
    public var precision: ModelPrecision { .int8 }
    /// The convs that run in fp32 (the file's `int8_fp32_layers`).
    public let fp32Layers: Set<String>

    /// A conv of the int8 graph: int8 (u8 in, u8 or fp32 out), or fp32 (dequantized or fp32 input,
    /// fp32 CHW out, quantized to `output` when the consumer is int8).
    enum Layer: Sendable {
        case int8(QConv2d)
        case depthwise(QDepthwiseConv2d)
        case fp32(Conv2d, input: QuantParams?, output: QuantParams?)
    }

    /// The convs that run int8, in graph order (tests and tools inspect them, e.g. `allowsWinograd`).
    public var int8Convs: [QConv2d] { layers.compactMap { if case .int8(let c)? = $0 { return c } else { return nil } } }

    private let inputParams: QuantParams?
    /// The network (`Graph.sfnet`), the layer of every conv node (by node index), the params of every u8
    /// value and of every concat.
    private let graph: Graph
    private let layers: [Layer?]
    private let valueParams: [QuantParams?]
    private let concatParams: [QuantParams?]
    /// The boundary gates' tables (by node index; nil for other nodes).
    private let gateTables: [[Float]?]

    /// Loads an int8 model file (docs/int8.md). Throws `ModelFileError`; never loads partially.
    public convenience init(contentsOf url: URL) throws {
        try self.init(file: try SafetensorsFile(contentsOf: url))
    }

    public init(file: SafetensorsFile) throws {
        let config = try SFNetConfig(metadata: file.metadata)
        guard config.precision == .int8 else {
            throw ModelFileError.invalidMetadata(key: "precision", value: config.precision.rawValue,
                                                 reason: "not an int8 model (make one with `segstream quantize`)")
        }
        var fp32: Set<String> = []
        if let s = file.metadata["int8_fp32_layers"] {
            guard let a = (try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String] else {
                throw ModelFileError.invalidMetadata(key: "int8_fp32_layers", value: s, reason: "expected a JSON array of layer names")
            }
            fp32 = Set(a)
        }
        let graph = Graph.sfnet(config)
        let plan = try SFNetInt8Plan(graph: graph, fp32Layers: fp32)
        try plan.validate(file)

        // Values: everything is read and checked before anything is built.
        func floats(_ name: String) throws -> [Float] {
            let v = try file.floats(name)
            guard v.allSatisfy(\.isFinite) else { throw ModelFileError.invalidValue(name: name, reason: "holds a non-finite value") }
            return v
        }
        var act: [String: QuantParams] = [:]
        for g in plan.groups {
            let s = try floats("act.\(g).scale")[0]
            guard s > 0 else { throw ModelFileError.invalidValue(name: "act.\(g).scale", reason: "must be positive, got \(s)") }
            act[g] = QuantParams(scale: s, zeroPoint: file.rawBytes("act.\(g).zero_point")![0])
        }
        func make(_ s: ConvSpec) throws -> Layer {
            let (input, output) = plan.io[s.name]!
            let inParams = input.map { act[$0]! }, outParams = output.map { act[$0]! }
            let bias = try floats("\(s.name).bias")
            if fp32.contains(s.name) {
                let conv = Conv2d(name: s.name, inChannels: s.inChannels, outChannels: s.outChannels, kernelSize: s.kernel,
                                  stride: s.stride, padding: s.padding, dilation: s.dilation, weight: try floats("\(s.name).weight"),
                                  bias: bias, relu: s.relu)
                return .fp32(conv, input: inParams, output: outParams)
            }
            let raw = file.rawBytes("\(s.name).weight_q")!
            let q = raw.map { Int8(bitPattern: $0) }
            guard !q.contains(-128) else {
                throw ModelFileError.invalidValue(name: "\(s.name).weight_q", reason: "weights must lie in [-127, 127]")
            }
            let scale = try floats("\(s.name).weight_scale")
            guard scale.allSatisfy({ $0 > 0 }) else {
                throw ModelFileError.invalidValue(name: "\(s.name).weight_scale", reason: "scales must be positive")
            }
            guard let inParams else { preconditionFailure("int8 conv \(s.name) without input params") }
            if s.isDepthwise {
                guard let outParams, s.groups == s.inChannels, s.groups == s.outChannels, s.stride == 1 else {
                    preconditionFailure("\(s.name): a depthwise conv with u8 output and stride 1 expected")
                }
                return .depthwise(QDepthwiseConv2d(name: s.name, channels: s.outChannels, kernelSize: s.kernel, padding: s.padding,
                                                   dilation: s.dilation, weight: q, weightScale: scale, bias: bias,
                                                   input: inParams, output: outParams, relu: s.relu))
            }
            return .int8(QConv2d(name: s.name, inChannels: s.inChannels, outChannels: s.outChannels, kernelSize: s.kernel,
                                 stride: s.stride, padding: s.padding, dilation: s.dilation, weight: q, weightScale: scale,
                                 bias: bias, input: inParams, output: outParams, relu: s.relu))
        }
        self.config = config
        self.fp32Layers = fp32
        inputParams = act["input"]
        self.graph = graph
        layers = try graph.convLayers(make)
        let groups = graph.quantizationGroups()
        let valueParams = groups.map { $0.flatMap { act[$0] } }
        self.valueParams = valueParams
        concatParams = graph.concats.map { act[$0.name] }
        gateTables = graph.nodes.map { node in
            guard case .boundaryGate = node.op else { return nil }
            return QOps.gateTable(attention: valueParams[node.inputs[0]]!, feature: valueParams[node.inputs[1]]!,
                                  output: valueParams[node.output]!)
        }
    }

    // MARK: - Inference (same contract as SFNetModel, through an InferenceSession)

    public func makeSession(pool: WorkerPool) -> InferenceSession { InferenceSession(model: self, pool: pool) }

    func forward(input: NetworkInput, outputHeight: Int, outputWidth: Int, _ ws: Workspace) -> Tensor {
        let logits = networkLogits(input, ws)
        let out = Tensor(channels: config.numClasses, height: outputHeight, width: outputWidth)
        Resize.bilinear(logits, into: out, alignCorners: true, context: ws.context, name: "upsample_logits")
        ws.arena.release(logits)
        return out
    }

    func predictLabels(input: NetworkInput, outputHeight: Int, outputWidth: Int, into labels: UnsafeMutableBufferPointer<UInt8>,
                       _ ws: Workspace) {
        upsampleArgmax(networkLogitsNHWC(input, ws), outputHeight: outputHeight, outputWidth: outputWidth, into: labels, ws)
    }

    /// The fused upsample + argmax of NHWC logits into `labels`.
    private func upsampleArgmax(_ nhwc: Tensor, outputHeight: Int, outputWidth: Int,
                                into labels: UnsafeMutableBufferPointer<UInt8>, _ ws: Workspace) {
        let context = ws.context
        // Reads the classifier's NHWC output directly; bit-identical to Resize.bilinearArgmax on the CHW
        // transpose (docs/int8.md, "Output stage").
        let nc = config.numClasses
        let workers = min(context.threads, outputHeight)
        let bytes = QOps.upsampleArgmaxScratchBytes(channels: nc, width: nhwc.width, outWidth: outputWidth)
        if ws.upsampleScratch.capacity * 4 < workers * bytes {
            ws.upsampleScratch = TensorStorage(capacity: (workers * bytes + 3) / 4)
        }
        QOps.upsampleArgmax(nhwc.data, channels: nc, stride: nc, height: nhwc.height, width: nhwc.width,
                            outHeight: outputHeight, outWidth: outputWidth, alignCorners: true,
                            labels: labels.baseAddress!, scratch: UnsafeMutableRawPointer(ws.upsampleScratch.pointer),
                            context: context, isa: context.isa)
    }

    func predictLabelsAndInstances(input: NetworkInput, outputHeight: Int, outputWidth: Int,
                                   into labels: UnsafeMutableBufferPointer<UInt8>, _ ws: Workspace) -> Tensor {
        let (logits, head) = networkOutputsNHWC(input, ws)
        guard let head else { preconditionFailure("the model has no instance head") }
        let instances = Tensor(channels: head.channels, height: head.height, width: head.width)
        ws.context.measure("instance_head_to_chw") { QOps.toCHW(head.data, stride: head.channels, into: instances) }
        upsampleArgmax(logits, outputHeight: outputHeight, outputWidth: outputWidth, into: labels, ws)
        return instances
    }

    /// fp32 logits at the network's fusion resolution, in a fresh tensor.
    func lowResolutionLogits(input: NetworkInput, _ ws: Workspace) -> Tensor {
        let logits = networkLogits(input, ws)
        let out = Tensor(channels: logits.channels, height: logits.height, width: logits.width)
        out.data.update(from: logits.data, count: logits.count)
        ws.arena.release(logits)
        return out
    }

    // MARK: - The network

    /// 4-byte elements of a u8 NHWC tensor (pixels padded to `QTensor.standardStride`).
    private static func u8Elements(_ c: Int, _ h: Int, _ w: Int) -> Int { max(1, (h * w * QTensor.standardStride(c) + 3) / 4) }

    private func fp32View(_ storage: TensorStorage, _ c: Int, _ h: Int, _ w: Int) -> Tensor {
        Tensor(storage: storage, offset: 0, channels: c, height: h, width: w)
    }

    private func u8View(_ storage: TensorStorage, _ c: Int, _ h: Int, _ w: Int, _ params: QuantParams) -> QTensor {
        QTensor(storage: storage, channels: c, height: h, width: w, pixelStride: QTensor.standardStride(c), params: params)
    }

    /// The plan of this size: int8 buffers are padded u8; the first conv needs the quantized input
    /// (int8) or its float output (fp32), other fp32 convs float copies of their input and output.
    private func plan(_ ws: Workspace, height: Int, width: Int) -> GraphPlan {
        ws.plan(height: height, width: width) {
            GraphPlan(graph, height: height, width: width, elements: { s, isFloat in
                isFloat ? s.channels * s.height * s.width : Self.u8Elements(s.channels, s.height, s.width)
            }, scratch: { i, x, y in
                switch graph.nodes[i].op {
                case .modulate: return [QOps.modulateScratch(channels: x.channels, height: x.height, width: x.width)]
                case .balancedSum: return [QOps.balancedSumScratch(channels: x.channels)]
                default: break
                }
                guard let layer = layers[i] else { return [] }
                let onInput = graph.nodes[i].inputs[0] == graph.input
                switch layer {
                case .int8(let conv):
                    return onInput && !conv.quantizesItsInput ? [Self.u8Elements(x.channels, x.height, x.width)] : []
                case .depthwise: return onInput ? [Self.u8Elements(x.channels, x.height, x.width)] : []
                case .fp32: return (onInput ? [] : [x.channels * x.height * x.width]) + [y.channels * y.height * y.width]
                }
            })
        }
    }

    /// Runs an int8-output layer from u8 `x` into `y`.
    private func run(_ ws: Workspace, _ layer: Layer, _ x: QTensor, into y: QTensor, residual: QTensor?, scratch: [Int]) {
        switch layer {
        case .int8(let conv):
            conv.run(x, into: y, residual: residual, context: ws.context, isa: ws.context.isa)
        case .depthwise(let conv):
            precondition(residual == nil, "\(conv.name): no int8 residual on a depthwise conv")
            conv.run(x, into: y, context: ws.context, isa: ws.context.isa)
        case .fp32(let conv, _, _):
            precondition(residual == nil)
            let xf = fp32View(ws.slots[scratch[0]], x.channels, x.height, x.width)
            QOps.dequantize(x, into: xf, context: ws.context, name: "\(conv.name).dequantize")
            let yf = fp32View(ws.slots[scratch[1]], y.channels, y.height, y.width)
            conv.run(xf, into: yf, context: ws.context)
            QOps.quantize(yf, into: y, context: ws.context, name: "\(conv.name).quantize")
        }
    }

    /// Runs an fp32-output layer from u8 `x`: NHWC floats at `y` with `stride` floats per pixel.
    private func runFloatNHWC(_ ws: Workspace, _ layer: Layer, _ x: QTensor, into y: UnsafeMutablePointer<Float>, stride: Int,
                              scratch: [Int]) {
        switch layer {
        case .int8(let conv):
            conv.runFloat(x, into: y, yStride: 4 * stride, context: ws.context, isa: ws.context.isa)
        case .depthwise(let conv):
            preconditionFailure("\(conv.name): a depthwise conv has no fp32 output")
        case .fp32(let conv, _, _):
            let (h, w) = conv.outputSize(height: x.height, width: x.width)
            let xf = fp32View(ws.slots[scratch[0]], x.channels, x.height, x.width)
            QOps.dequantize(x, into: xf, context: ws.context, name: "\(conv.name).dequantize")
            let yf = fp32View(ws.slots[scratch[1]], conv.outChannels, h, w)
            conv.run(xf, into: yf, context: ws.context)
            QOps.toNHWC(yf, into: y, stride: stride)
        }
    }

    /// fp32 CHW logits at the fusion resolution (an arena tensor: outside the graph).
    private func networkLogits(_ input: NetworkInput, _ ws: Workspace) -> Tensor {
        let nhwc = networkLogitsNHWC(input, ws)
        let logits = ws.arena.acquire(channels: nhwc.channels, height: nhwc.height, width: nhwc.width)
        ws.context.measure("logits_to_chw") { QOps.toCHW(nhwc.data, stride: nhwc.channels, into: logits) }
        return logits
    }

    /// fp32 logits at the fusion resolution in NHWC order (C×H×W floats holding [H][W][C], in the session's
    /// slots until the next pass), as the classifier writes them. Runs the graph: every buffer lives in the
    /// slot the plan gave it (`GraphPlan`); a concat is one u8 buffer whose slices its producers write, with
    /// the concat's params.
    private func networkLogitsNHWC(_ input: NetworkInput, _ ws: Workspace) -> Tensor { networkOutputsNHWC(input, ws).logits }

    /// The logits and the instance head's output (nil without one), both NHWC in the session's slots.
    private func networkOutputsNHWC(_ input: NetworkInput, _ ws: Workspace) -> (logits: Tensor, instances: Tensor?) {
        if case .tensor(let t) = input { precondition(t.channels == 3, "input must be 3×H×W, got \(t.shape)") }
        precondition(input.height > 0 && input.width > 0, "input must be 3×H×W, got \(input.height)x\(input.width)")
        let context = ws.context, isa = context.isa
        ws.arena.beginPass(key: [input.height, input.width])
        let plan = plan(ws, height: input.height, width: input.width)
        var q = [QTensor?](repeating: nil, count: plan.bufferShapes.count)
        var f = [Tensor?](repeating: nil, count: plan.bufferShapes.count)   // fp32 values, NHWC
        func qt(_ v: Int) -> QTensor { q[plan.bufferOfValue[v]]!.channelSlice(graph.channels(v)) }
        func ft(_ v: Int) -> Tensor { f[plan.bufferOfValue[v]]! }
        graph.execute(plan, take: { b in
            let s = plan.bufferShapes[b]
            let storage = ws.slots[plan.slotOfBuffer[b]]
            if plan.bufferIsFloat[b] { f[b] = fp32View(storage, s.channels, s.height, s.width) }
            else { q[b] = u8View(storage, s.channels, s.height, s.width, bufferParams(plan, b)) }
        }, giveBack: { b in
            if plan.bufferIsFloat[b] { f[b] = nil } else { q[b] = nil }
        }) { i, node in
            let x = node.inputs[0], y = node.output
            let scratch = plan.scratchSlots[i]
            switch node.op {
            case .conv:
                let layer = layers[i]!
                if x == graph.input {
                    runOnInput(ws, layer, input, into: qt(y), scratch: scratch)
                } else if graph.values[y].isFloat {
                    runFloatNHWC(ws, layer, qt(x), into: ft(y).data, stride: graph.values[y].channels, scratch: scratch)
                } else {
                    run(ws, layer, qt(x), into: qt(y), residual: node.residual.map(qt), scratch: scratch)
                }
            case .maxPool:
                QOps.maxPool(qt(x), into: qt(y), context: context, name: node.name)
            case .adaptiveAveragePool:
                QOps.adaptiveAveragePool(qt(x), into: qt(y), context: context, name: node.name)
            case .resize:
                QOps.resize(qt(x), into: qt(y), alignCorners: true, context: context, isa: isa, name: node.name)
            case .warpAdd:
                let flow = node.inputs[1]
                QOps.warpAdd(high: qt(x), flow: ft(flow).data, flowStride: 4 * graph.values[flow].channels,
                             lat: qt(node.inputs[2]), into: qt(y), alignCorners: config.warpAlignCorners, context: context,
                             isa: isa, name: node.name)
            case .warp:
                let flow = node.inputs[1]
                QOps.warpAdd(high: qt(x), flow: ft(flow).data, flowStride: 4 * graph.values[flow].channels, lat: nil,
                             into: qt(y), alignCorners: config.warpAlignCorners, context: context, isa: isa, name: node.name)
            case .modulate:
                QOps.modulate(qt(x), spatial: ft(node.inputs[1]).data, channel: ft(node.inputs[2]).data, into: qt(y),
                              scratch: ws.slots[scratch[0]].pointer, context: context, isa: isa, name: node.name)
            case .balancedSum:
                QOps.balancedSum(high: qt(x), low: qt(node.inputs[1]), logitsHigh: ft(node.inputs[2]).data,
                                 logitsLow: ft(node.inputs[3]).data, into: qt(y), scratch: ws.slots[scratch[0]].pointer,
                                 context: context, isa: isa, name: node.name)
            case .boundaryGate:
                QOps.boundaryGate(attention: qt(x), feature: qt(node.inputs[1]), into: qt(y), table: gateTables[i]!,
                                  context: context, isa: isa, name: node.name)
            }
        }
        return (ft(graph.output), graph.instanceOutput.map(ft))
    }

    /// The params of a u8 buffer: its concat's, or its value's.
    private func bufferParams(_ plan: GraphPlan, _ b: Int) -> QuantParams {
        let v = plan.bufferFirstValue[b]
        return graph.values[v].concat.map { concatParams[$0]! } ?? valueParams[v]!
    }

    /// A conv on the network input into u8 `y`: int8 convs quantize the input first (the stem's first conv in
    /// the same pass, `QConv2d.run(quantizing:)`, from the 8-bit planes when given; others as `quantize_input`),
    /// fp32 ones quantize their output. Every layer but the fused stem reads the fp32 tensor (the planes
    /// normalised into the workspace when that is what the pass got).
    private func runOnInput(_ ws: Workspace, _ layer: Layer, _ input: NetworkInput, into y: QTensor, scratch: [Int]) {
        switch layer {
        case .depthwise(let conv):
            preconditionFailure("\(conv.name): a depthwise conv on the network input")
        case .int8(let conv) where conv.quantizesItsInput:
            switch input {
            case .tensor(let x):
                conv.run(quantizing: x, into: y, context: ws.context, isa: ws.context.isa)
            case .pixels(let planes, let scale, let bias):
                conv.run(quantizing: planes, scale: scale, bias: bias, into: y, context: ws.context, isa: ws.context.isa)
            }
        case .int8(let conv):
            let x = ws.tensor(input)
            let xq = u8View(ws.slots[scratch[0]], x.channels, x.height, x.width, inputParams!)
            QOps.quantize(x, into: xq, context: ws.context, name: "quantize_input")
            conv.run(xq, into: y, context: ws.context, isa: ws.context.isa)
        case .fp32(let conv, _, _):
            let yf = fp32View(ws.slots[scratch[0]], y.channels, y.height, y.width)
            conv.run(ws.tensor(input), into: yf, context: ws.context)
            QOps.quantize(yf, into: y, context: ws.context, name: "\(conv.name).quantize")
        }
    }
}
