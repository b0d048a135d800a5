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
        case fp32(Conv2d, input: QuantParams?, output: QuantParams?)

        var name: String {
            switch self { case .int8(let c): return c.name; case .fp32(let c, _, _): return c.name }
        }
        var outChannels: Int {
            switch self { case .int8(let c): return c.outChannels; case .fp32(let c, _, _): return c.outChannels }
        }
        var outputParams: QuantParams? {
            switch self { case .int8(let c): return c.output; case .fp32(_, _, let o): return o }
        }
        func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
            switch self {
            case .int8(let c): return c.outputSize(height: height, width: width)
            case .fp32(let c, _, _): return c.outputSize(height: height, width: width)
            }
        }
    }

    private let fpnDim: Int
    private let ppmBins: [Int]
    private let inputParams: QuantParams?
    private let stem: [Layer]
    private let stemMaxPool: Bool
    private let stages: [(blocks: [(conv1: Layer, conv2: Layer, downsample: Layer?)], isFeature: Bool)]
    private let ppmStages: [Layer]
    private let ppmBottleneck: Layer
    private let fpnIn: [Layer]
    private let fpnOut: [Layer]
    private let fam: [(downH: Layer, downL: Layer, flowMake: Layer)]
    private let famSum: [QuantParams]
    private let convLast: Layer
    private let classifier: Layer

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
        let t = SFNetTopology(config)
        let plan = try SFNetInt8Plan(topology: t, fp32Layers: fp32)
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
            return .int8(QConv2d(name: s.name, inChannels: s.inChannels, outChannels: s.outChannels, kernelSize: s.kernel,
                                 stride: s.stride, padding: s.padding, dilation: s.dilation, weight: q, weightScale: scale,
                                 bias: bias, input: inParams, output: outParams, relu: s.relu))
        }
        self.config = config
        self.fp32Layers = fp32
        fpnDim = t.fpnDim
        ppmBins = t.ppmBins
        inputParams = act["input"]
        stem = try t.stem.map(make)
        stemMaxPool = t.stemMaxPool
        stages = try t.stages.map { st in
            (try st.blocks.map { (try make($0.conv1), try make($0.conv2), try $0.downsample.map(make)) }, st.isFeature)
        }
        ppmStages = try t.ppmStages.map(make)
        ppmBottleneck = try make(t.ppmBottleneck)
        fpnIn = try t.fpnIn.map(make)
        fpnOut = try t.fpnOut.map(make)
        fam = try t.fam.map { (try make($0.downH), try make($0.downL), try make($0.flowMake)) }
        famSum = (0..<t.fam.count).map { act[SFNetInt8Plan.famSum($0)]! }
        convLast = try make(t.convLast)
        classifier = try make(t.classifier)
    }

    // MARK: - Inference (same contract as SFNetModel, through an InferenceSession)

    public func makeSession(pool: WorkerPool) -> InferenceSession { InferenceSession(model: self, pool: pool) }

    func forward(input: Tensor, outputHeight: Int, outputWidth: Int, _ ws: Workspace) -> Tensor {
        let logits = networkLogits(input, ws)
        let out = Tensor(channels: config.numClasses, height: outputHeight, width: outputWidth)
        Resize.bilinear(logits, into: out, alignCorners: true, context: ws.context, name: "upsample_logits")
        ws.arena.release(logits)
        return out
    }

    func predictLabels(input: Tensor, outputHeight: Int, outputWidth: Int, into labels: UnsafeMutableBufferPointer<UInt8>,
                       _ ws: Workspace) {
        let context = ws.context
        let nhwc = networkLogitsNHWC(input, ws)
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
        ws.arena.release(nhwc)
    }

    /// fp32 logits at the network's fusion resolution, in a fresh tensor.
    func lowResolutionLogits(input: Tensor, _ ws: Workspace) -> Tensor {
        let logits = networkLogits(input, ws)
        let out = Tensor(channels: logits.channels, height: logits.height, width: logits.width)
        out.data.update(from: logits.data, count: logits.count)
        ws.arena.release(logits)
        return out
    }

    // MARK: - The network

    private func acquire(_ ws: Workspace, _ c: Int, _ h: Int, _ w: Int) -> Tensor { ws.arena.acquire(channels: c, height: h, width: w) }

    private func acquireQ(_ ws: Workspace, _ c: Int, _ h: Int, _ w: Int, _ params: QuantParams) -> QTensor {
        let stride = QTensor.standardStride(c)
        let t = ws.arena.acquire(channels: 1, height: 1, width: max(1, (h * w * stride + 3) / 4))
        return QTensor(storage: t.storage, channels: c, height: h, width: w, pixelStride: stride, params: params)
    }

    private func release(_ ws: Workspace, _ q: QTensor) { ws.arena.release(storage: q.storage) }

    /// Runs an int8-output layer from u8 `x` into `y`.
    private func run(_ ws: Workspace, _ layer: Layer, _ x: QTensor, into y: QTensor, residual: QTensor? = nil) {
        switch layer {
        case .int8(let conv):
            conv.run(x, into: y, residual: residual, context: ws.context, isa: ws.context.isa)
        case .fp32(let conv, _, _):
            precondition(residual == nil)
            let xf = acquire(ws, x.channels, x.height, x.width)
            QOps.dequantize(x, into: xf, context: ws.context, name: "\(conv.name).dequantize")
            let yf = acquire(ws, y.channels, y.height, y.width)
            conv.run(xf, into: yf, context: ws.context)
            QOps.quantize(yf, into: y, context: ws.context, name: "\(conv.name).quantize")
            ws.arena.release(xf); ws.arena.release(yf)
        }
    }

    /// Runs an fp32-output layer from u8 `x`: NHWC floats at `y` with `stride` floats per pixel.
    private func runFloatNHWC(_ ws: Workspace, _ layer: Layer, _ x: QTensor, into y: UnsafeMutablePointer<Float>, stride: Int) {
        switch layer {
        case .int8(let conv):
            conv.runFloat(x, into: y, yStride: 4 * stride, context: ws.context, isa: ws.context.isa)
        case .fp32(let conv, _, _):
            let (h, w) = conv.outputSize(height: x.height, width: x.width)
            let xf = acquire(ws, x.channels, x.height, x.width)
            QOps.dequantize(x, into: xf, context: ws.context, name: "\(conv.name).dequantize")
            let yf = acquire(ws, conv.outChannels, h, w)
            conv.run(xf, into: yf, context: ws.context)
            QOps.toNHWC(yf, into: y, stride: stride)
            ws.arena.release(xf); ws.arena.release(yf)
        }
    }

    /// fp32 CHW logits at the fusion resolution (an arena tensor).
    private func networkLogits(_ input: Tensor, _ ws: Workspace) -> Tensor {
        let nhwc = networkLogitsNHWC(input, ws)
        let logits = acquire(ws, nhwc.channels, nhwc.height, nhwc.width)
        ws.context.measure("logits_to_chw") { QOps.toCHW(nhwc.data, stride: nhwc.channels, into: logits) }
        ws.arena.release(nhwc)
        return logits
    }

    /// fp32 logits at the fusion resolution in NHWC order (an arena tensor whose C×H×W floats hold
    /// [H][W][C]), as the classifier writes them.
    private func networkLogitsNHWC(_ input: Tensor, _ ws: Workspace) -> Tensor {
        precondition(input.channels == 3 && input.height > 0 && input.width > 0, "input must be 3×H×W, got \(input.shape)")
        ws.arena.beginPass(key: [input.height, input.width])
        let features = backbone(input, ws)
        return head(features, ws)
    }

    private func backbone(_ input: Tensor, _ ws: Workspace) -> [QTensor] {
        let first = stem[0]
        let (h0, w0) = first.outputSize(height: input.height, width: input.width)
        var x = acquireQ(ws, first.outChannels, h0, w0, first.outputParams!)
        switch first {
        case .int8(let conv):
            let xq = acquireQ(ws, 3, input.height, input.width, inputParams!)
            QOps.quantize(input, into: xq, context: ws.context, name: "quantize_input")
            conv.run(xq, into: x, context: ws.context, isa: ws.context.isa)
            release(ws, xq)
        case .fp32(let conv, _, _):
            let yf = acquire(ws, conv.outChannels, h0, w0)
            conv.run(input, into: yf, context: ws.context)
            QOps.quantize(yf, into: x, context: ws.context, name: "\(conv.name).quantize")
            ws.arena.release(yf)
        }
        for layer in stem.dropFirst() {
            let (h, w) = layer.outputSize(height: x.height, width: x.width)
            let y = acquireQ(ws, layer.outChannels, h, w, layer.outputParams!)
            run(ws, layer, x, into: y)
            release(ws, x)
            x = y
        }
        if stemMaxPool {
            let y = acquireQ(ws, x.channels, (x.height - 1) / 2 + 1, (x.width - 1) / 2 + 1, x.params)
            QOps.maxPool(x, into: y, context: ws.context, name: "layer0.3")
            release(ws, x)
            x = y
        }
        var features: [QTensor] = []
        for (s, stage) in stages.enumerated() {
            for (b, block) in stage.blocks.enumerated() {
                let isLast = s == stages.count - 1 && b == stage.blocks.count - 1
                var dest: QTensor? = nil
                if isLast {
                    // The top feature goes straight into the PPM concat: [bin1, bin2, bin3, bin6, C_top].
                    let (h, w) = block.conv1.outputSize(height: x.height, width: x.width)
                    let c = block.conv2.outChannels, off = ppmBins.count * fpnDim
                    let cat = acquireQ(ws, off + c, h, w, block.conv2.outputParams!)
                    dest = cat.channelSlice(off..<(off + c))
                }
                let y = basicBlock(block, x, into: dest, ws)
                if !features.contains(where: { $0.storage === x.storage }) { release(ws, x) }
                x = y
            }
            if stage.isFeature { features.append(x) }
        }
        return features
    }

    private func basicBlock(_ block: (conv1: Layer, conv2: Layer, downsample: Layer?), _ x: QTensor, into dest: QTensor?,
                            _ ws: Workspace) -> QTensor {
        let (h, w) = block.conv1.outputSize(height: x.height, width: x.width)
        let c = block.conv1.outChannels
        let t = acquireQ(ws, c, h, w, block.conv1.outputParams!)
        run(ws, block.conv1, x, into: t)
        var shortcut = x
        if let down = block.downsample {
            shortcut = acquireQ(ws, c, h, w, down.outputParams!)
            run(ws, down, x, into: shortcut)
        }
        let y = dest ?? acquireQ(ws, c, h, w, block.conv2.outputParams!)
        run(ws, block.conv2, t, into: y, residual: shortcut)
        release(ws, t)
        if block.downsample != nil { release(ws, shortcut) }
        return y
    }

    private func head(_ features: [QTensor], _ ws: Workspace) -> Tensor {
        let f = fpnDim
        let top = features.last!
        let ppmCat = QTensor(storage: top.storage, byteOffset: 0, channels: ppmBins.count * f + top.channels,
                             height: top.height, width: top.width, pixelStride: top.pixelStride, params: top.params)
        for (k, bins) in ppmBins.enumerated() {
            let pooled = acquireQ(ws, top.channels, bins, bins, top.params)
            QOps.adaptiveAveragePool(top, into: pooled, context: ws.context, name: "head.ppm.stages.\(k).0")
            let y = acquireQ(ws, f, bins, bins, ppmStages[k].outputParams!)
            run(ws, ppmStages[k], pooled, into: y)
            QOps.resize(y, into: ppmCat.channelSlice(k * f..<(k + 1) * f), alignCorners: true, context: ws.context, isa: ws.context.isa,
                        name: "head.ppm.resize.\(k)")
            release(ws, pooled)
            release(ws, y)
        }
        let p5 = acquireQ(ws, f, top.height, top.width, ppmBottleneck.outputParams!)
        run(ws, ppmBottleneck, ppmCat, into: p5)
        release(ws, ppmCat)

        let levels = features.count
        let base = features[0]
        let fused = acquireQ(ws, levels * f, base.height, base.width, p5.params)   // [P2, up(P3), up(P4), up(P5)]
        var pyramid = [QTensor?](repeating: nil, count: levels)
        var current = p5
        for i in (0..<(levels - 1)).reversed() {
            let (h, w) = (features[i].height, features[i].width)
            let lat = acquireQ(ws, f, h, w, fpnIn[i].outputParams!)
            run(ws, fpnIn[i], features[i], into: lat)
            release(ws, features[i])
            let module = fam[i]
            let cat = acquireQ(ws, f, h, w, module.downL.outputParams!)
            let dh = acquireQ(ws, f / 2, current.height, current.width, module.downH.outputParams!)
            run(ws, module.downH, current, into: dh)
            QOps.resize(dh, into: cat.channelSlice(0..<f / 2), alignCorners: true, context: ws.context, isa: ws.context.isa,
                        name: "head.fpn_out_align.\(i).resize")
            release(ws, dh)
            run(ws, module.downL, lat, into: cat.channelSlice(f / 2..<f))
            let flow = acquire(ws, 2, h, w)   // fp32 NHWC [h][w][2]
            runFloatNHWC(ws, module.flowMake, cat, into: flow.data, stride: 2)
            release(ws, cat)
            let sum = acquireQ(ws, f, h, w, famSum[i])
            QOps.warpAdd(high: current, flow: flow.data, flowStride: 8, lat: lat, into: sum,
                         alignCorners: config.warpAlignCorners, context: ws.context, isa: ws.context.isa,
                         name: "head.fpn_out_align.\(i).warp")
            ws.arena.release(flow)
            release(ws, lat)
            if current.storage !== p5.storage { release(ws, current) }
            let out = i == 0 ? fused.channelSlice(0..<f) : acquireQ(ws, f, h, w, fpnOut[i].outputParams!)
            run(ws, fpnOut[i], sum, into: out)
            if i > 0 { pyramid[i] = out }
            current = sum
        }
        release(ws, current)
        pyramid[levels - 1] = p5
        for j in 1..<levels {
            QOps.resize(pyramid[j]!, into: fused.channelSlice(j * f..<(j + 1) * f), alignCorners: true, context: ws.context,
                        isa: ws.context.isa, name: "head.fuse.resize.\(j)")
            release(ws, pyramid[j]!)
        }
        let hidden = acquireQ(ws, f, base.height, base.width, convLast.outputParams!)
        run(ws, convLast, fused, into: hidden)
        release(ws, fused)
        let nc = config.numClasses
        let nhwc = acquire(ws, nc, base.height, base.width)
        runFloatNHWC(ws, classifier, hidden, into: nhwc.data, stride: nc)
        release(ws, hidden)
        return nhwc
    }
}
