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

    private let fpnDim: Int
    private let ppmBins: [Int]
    private let stem: [Conv2d]
    private let stemMaxPool: Bool
    private let stages: [(blocks: [(conv1: Conv2d, conv2: Conv2d, downsample: Conv2d?)], isFeature: Bool)]
    private let ppmStages: [Conv2d]
    private let ppmBottleneck: Conv2d
    private let fpnIn: [Conv2d]
    private let fpnOut: [Conv2d]
    private let fam: [(downH: Conv2d, downL: Conv2d, flowMake: Conv2d)]
    private let convLast: Conv2d
    private let classifier: Conv2d

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
        let topology = SFNetTopology(config)
        try file.validate(expected: topology.expectedTensors)
        try self.init(config: config, topology: topology) { try file.floats($0) }
    }

    /// The tensor names and shapes a model file with `config` must contain, in network order.
    public static func expectedTensors(for config: SFNetConfig) -> [(name: String, shape: [Int])] {
        SFNetTopology(config).expectedTensors
    }

    /// A model from named tensors (state-dict names, unfused); `weights(name)` returns the values.
    public convenience init(config: SFNetConfig, weights: (String) throws -> [Float]) throws {
        try self.init(config: config, topology: SFNetTopology(config), weights: weights)
    }

    /// A model with deterministic pseudo-random weights (benchmarks; the outputs mean nothing).
    public static func random(config: SFNetConfig, seed: UInt64 = 1) -> SFNetModel {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> Float {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Float(state >> 40) / Float(1 << 24)   // [0, 1)
        }
        var shapes: [String: [Int]] = [:]
        for t in SFNetTopology(config).expectedTensors { shapes[t.name] = t.shape }
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

    private init(config: SFNetConfig, topology t: SFNetTopology, weights: (String) throws -> [Float]) throws {
        func make(_ s: ConvSpec) throws -> Conv2d {
            var bn: BatchNormParameters? = nil
            if let b = s.batchNorm {
                bn = BatchNormParameters(gamma: try weights("\(b).weight"), beta: try weights("\(b).bias"),
                                         mean: try weights("\(b).running_mean"), variance: try weights("\(b).running_var"))
            }
            return Conv2d(name: s.name, inChannels: s.inChannels, outChannels: s.outChannels, kernelSize: s.kernel,
                          stride: s.stride, padding: s.padding, dilation: s.dilation, weight: try weights("\(s.name).weight"),
                          bias: s.hasBias ? try weights("\(s.name).bias") : nil, batchNorm: bn, relu: s.relu)
        }
        self.config = config
        fpnDim = t.fpnDim
        ppmBins = t.ppmBins
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
        convLast = try make(t.convLast)
        classifier = try make(t.classifier)
    }

    // MARK: - Inference (through an InferenceSession)

    public func makeSession(pool: WorkerPool) -> InferenceSession { InferenceSession(model: self, pool: pool) }

    func forward(input: Tensor, outputHeight: Int, outputWidth: Int, _ ws: Workspace) -> Tensor {
        let logits = networkLogits(input, ws)
        let out = Tensor(channels: config.numClasses, height: outputHeight, width: outputWidth)
        Resize.bilinear(logits, into: out, alignCorners: true, context: ws.context, name: "upsample_logits")
        ws.arena.release(logits)
        return out
    }

    /// The upsample and the argmax are one fused pass: full-size logits are never stored.
    func predictLabels(input: Tensor, outputHeight: Int, outputWidth: Int, into labels: UnsafeMutableBufferPointer<UInt8>,
                       _ ws: Workspace) {
        let logits = networkLogits(input, ws)
        Resize.bilinearArgmax(logits, height: outputHeight, width: outputWidth, alignCorners: true,
                              labels: labels.baseAddress!, context: ws.context)
        ws.arena.release(logits)
    }

    func lowResolutionLogits(input: Tensor, _ ws: Workspace) -> Tensor {
        let logits = networkLogits(input, ws)
        let out = Tensor(channels: logits.channels, height: logits.height, width: logits.width)
        out.data.update(from: logits.data, count: logits.count)
        ws.arena.release(logits)
        return out
    }

    // MARK: - The network


    /// Backbone + head; returns the arena-owned logits at the fusion resolution.
    private func networkLogits(_ input: Tensor, _ ws: Workspace) -> Tensor {
        precondition(input.channels == 3 && input.height > 0 && input.width > 0, "input must be 3×H×W, got \(input.shape)")
        ws.arena.beginPass(key: [input.height, input.width])
        let features = backbone(input, ws)
        return head(features, ws)
    }

    /// Returns the features for the head; the last one is a channel slice of the PPM concat buffer
    /// (its producer writes there directly), so `features.last.storage` is that buffer.
    private func backbone(_ input: Tensor, _ ws: Workspace) -> [Tensor] {
        let context = ws.context, arena = ws.arena
        func acquire(_ c: Int, _ h: Int, _ w: Int) -> Tensor { arena.acquire(channels: c, height: h, width: w) }
        var x = input
        var xOwned = false
        for conv in stem {
            let (h, w) = conv.outputSize(height: x.height, width: x.width)
            let y = acquire(conv.outChannels, h, w)
            conv.run(x, into: y, context: context)
            if xOwned { arena.release(x) }
            x = y; xOwned = true
        }
        if stemMaxPool {
            let (h, w) = Pooling.maxPoolOutputSize(height: x.height, width: x.width)
            let y = acquire(x.channels, h, w)
            Pooling.maxPool(x, into: y, context: context, name: "layer0.3")
            arena.release(x)
            x = y
        }
        var features: [Tensor] = []
        for (s, stage) in stages.enumerated() {
            for (b, block) in stage.blocks.enumerated() {
                let isLast = s == stages.count - 1 && b == stage.blocks.count - 1
                let (h, w) = block.conv1.outputSize(height: x.height, width: x.width)
                var dest: Tensor? = nil
                if isLast {
                    // The top feature goes straight into the PPM concat: [bin1, bin2, bin3, bin6, C_top].
                    let c = block.conv2.outChannels
                    let cat = acquire(ppmBins.count * fpnDim + c, h, w)
                    dest = cat.channelSlice(ppmBins.count * fpnDim..<(ppmBins.count * fpnDim + c))
                }
                let y = basicBlock(block, x, into: dest, ws)
                let keep = features.contains { $0.storage === x.storage }
                if xOwned && !keep { arena.release(x) }
                x = y; xOwned = true
            }
            if stage.isFeature { features.append(x) }
        }
        return features
    }

    private func basicBlock(_ block: (conv1: Conv2d, conv2: Conv2d, downsample: Conv2d?), _ x: Tensor, into dest: Tensor?,
                            _ ws: Workspace) -> Tensor {
        let context = ws.context, arena = ws.arena
        func acquire(_ c: Int, _ h: Int, _ w: Int) -> Tensor { arena.acquire(channels: c, height: h, width: w) }
        let (h, w) = block.conv1.outputSize(height: x.height, width: x.width)
        let c = block.conv1.outChannels
        let t = acquire(c, h, w)
        block.conv1.run(x, into: t, context: context)
        var shortcut = x
        if let down = block.downsample {
            shortcut = acquire(c, h, w)
            down.run(x, into: shortcut, context: context)
        }
        let y = dest ?? acquire(c, h, w)
        block.conv2.run(t, into: y, residual: shortcut, context: context)
        arena.release(t)
        if block.downsample != nil { arena.release(shortcut) }
        return y
    }

    private func head(_ features: [Tensor], _ ws: Workspace) -> Tensor {
        let context = ws.context, arena = ws.arena
        func acquire(_ c: Int, _ h: Int, _ w: Int) -> Tensor { arena.acquire(channels: c, height: h, width: w) }
        let f = fpnDim
        let top = features.last!
        let ppmCat = Tensor(storage: top.storage, offset: 0, channels: ppmBins.count * f + top.channels,
                            height: top.height, width: top.width)
        for (k, bins) in ppmBins.enumerated() {
            let pooled = acquire(top.channels, bins, bins)
            Pooling.adaptiveAveragePool(top, into: pooled, context: context, name: "head.ppm.stages.\(k).0")
            let y = acquire(f, bins, bins)
            ppmStages[k].run(pooled, into: y, context: context)
            Resize.bilinear(y, into: ppmCat.channelSlice(k * f..<(k + 1) * f), alignCorners: true, context: context,
                            name: "head.ppm.resize.\(k)")
            arena.release(pooled)
            arena.release(y)
        }
        let p5 = acquire(f, top.height, top.width)
        ppmBottleneck.run(ppmCat, into: p5, context: context)
        arena.release(ppmCat)

        let levels = features.count
        let base = features[0]
        let fused = acquire(levels * f, base.height, base.width)   // [P2, up(P3), up(P4), up(P5)]
        var pyramid = [Tensor?](repeating: nil, count: levels)
        var current = p5
        for i in (0..<(levels - 1)).reversed() {
            let (h, w) = (features[i].height, features[i].width)
            let lat = acquire(f, h, w)
            fpnIn[i].run(features[i], into: lat, context: context)
            arena.release(features[i])
            // FAM: flow from [up(down_h(coarse)), down_l(lat)], then lat + warp(coarse, flow) in one pass.
            let module = fam[i]
            let cat = acquire(f, h, w)
            let dh = acquire(f / 2, current.height, current.width)
            module.downH.run(current, into: dh, context: context)
            Resize.bilinear(dh, into: cat.channelSlice(0..<f / 2), alignCorners: true, context: context,
                            name: "head.fpn_out_align.\(i).resize")
            arena.release(dh)
            module.downL.run(lat, into: cat.channelSlice(f / 2..<f), context: context)
            let flow = acquire(2, h, w)
            module.flowMake.run(cat, into: flow, context: context)
            arena.release(cat)
            let sum = acquire(f, h, w)
            FlowWarp.warpAdd(high: current, flow: flow, lat: lat, into: sum, alignCorners: config.warpAlignCorners,
                             context: context, name: "head.fpn_out_align.\(i).warp")
            arena.release(flow)
            arena.release(lat)
            if current.storage !== p5.storage { arena.release(current) }
            let out = i == 0 ? fused.channelSlice(0..<f) : acquire(f, h, w)
            fpnOut[i].run(sum, into: out, context: context)
            if i > 0 { pyramid[i] = out }
            current = sum
        }
        arena.release(current)
        pyramid[levels - 1] = p5
        for j in 1..<levels {
            Resize.bilinear(pyramid[j]!, into: fused.channelSlice(j * f..<(j + 1) * f), alignCorners: true,
                            context: context, name: "head.fuse.resize.\(j)")
            arena.release(pyramid[j]!)
        }
        let hidden = acquire(f, base.height, base.width)
        convLast.run(fused, into: hidden, context: context)
        arena.release(fused)
        let logits = acquire(config.numClasses, base.height, base.width)
        classifier.run(hidden, into: logits, context: context)
        arena.release(hidden)
        return logits
    }
}
