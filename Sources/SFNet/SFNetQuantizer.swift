import CSegKernels
import Foundation
import SegEngine

/// Post-training quantization of an fp32 SFNet file into an int8 one (docs/int8.md).
///
/// Calibration runs the fp32 model over the frames twice: the first pass records every activation
/// group's min/max, the second fills fixed-range histograms (`ActivationCalibrator`); the ranges are then
/// chosen by `CalibrationMethod`. Weights: BN folded in fp32, then s8 per output channel (max-abs).
///
///     let q = try SFNetQuantizer(file: fp32File)
///     for f in frames { q.observe(f) }
///     q.beginHistograms()
///     for f in frames { q.observe(f) }
///     try q.int8File(method: .mse).write(to: url)
public final class SFNetQuantizer {
    public let config: SFNetConfig
    public let calibrator = ActivationCalibrator()
    /// Frames seen in the current pass.
    public private(set) var frames = 0
    private let file: SafetensorsFile
    private let model: SFNetModel
    private let session: InferenceSession
    private let graph: Graph
    private let observedGroups: [String: String]

    public init(file: SafetensorsFile, pool: WorkerPool = .shared) throws {
        model = try SFNetModel(file: file)   // validates the fp32 file
        session = model.makeSession(pool: pool)
        self.file = file
        config = model.config
        graph = Graph.sfnet(config)
        observedGroups = try SFNetInt8Plan(graph: graph, fp32Layers: []).observed
    }

    /// The convs that may be kept fp32 in an int8 file (`fp32Layers:`), and the default choice.
    public var fp32LayerCandidates: [String] { SFNetInt8Plan.fp32Candidates(graph) }
    public var defaultFP32Layers: Set<String> { SFNetInt8Plan.defaultFP32Layers(graph) }

    /// Runs the fp32 network on one normalised frame (3×H×W) and records its activations.
    public func observe(_ input: Tensor) {
        session.observeActivations(input: input) { name, t in
            if let g = observedGroups[name] { calibrator.observe(g, t) }
        }
        frames += 1
    }

    /// Ends the min/max pass: feed the same frames again to fill the histograms.
    public func beginHistograms() {
        calibrator.beginHistograms()
        frames = 0
    }

    /// The int8 model file: metadata `precision: int8`, `int8_fp32_layers`, `int8_calibration`; the
    /// tensors of `SFNetInt8Plan.expectedTensors`.
    public func int8File(method: CalibrationMethod, percentile: Double = 99.99, fp32Layers: Set<String>? = nil,
                         note: String = "") throws -> SafetensorsWriter {
        let fp32 = fp32Layers ?? defaultFP32Layers
        let plan = try SFNetInt8Plan(graph: graph, fp32Layers: fp32)
        var config = self.config
        config.precision = .int8
        var meta = config.metadata
        meta["int8_fp32_layers"] = Self.json(fp32.sorted())
        var calibration: [String: Any] = ["method": method.rawValue, "frames": frames]
        if method == .percentile { calibration["percentile"] = percentile }
        if !note.isEmpty { calibration["note"] = note }
        meta["int8_calibration"] = Self.json(calibration)
        var w = SafetensorsWriter(metadata: meta)
        for s in graph.parameters {
            let (weight, bias) = try SFNetInt8Plan.fold(s) { try self.file.floats($0) }
            let shape = s.weightShape
            if fp32.contains(s.name) {
                w.add("\(s.name).weight", shape: shape, floats: weight)
            } else {
                let k = shape.dropFirst().reduce(1, *)
                var q = [Int8](repeating: 0, count: weight.count)
                var scale = [Float](repeating: 0, count: s.outChannels)
                seg_qu8_quantize_weights(s.outChannels, k, weight, &q, &scale)
                w.add("\(s.name).weight_q", dtype: "I8", shape: shape, bytes: q.map { UInt8(bitPattern: $0) })
                w.add("\(s.name).weight_scale", shape: [s.outChannels], floats: scale)
            }
            w.add("\(s.name).bias", shape: [s.outChannels], floats: bias)
        }
        for g in plan.groups {
            let p: QuantParams
            if g == "input" {
                p = SFNetInt8Plan.inputParams(config)
            } else {
                guard let c = calibrator.params(g, method: method, percentile: percentile) else {
                    throw QuantizationError.notCalibrated(g)
                }
                p = c
            }
            w.add("act.\(g).scale", shape: [1], floats: [p.scale])
            w.add("act.\(g).zero_point", shape: [1], uint8: [p.zeroPoint])
        }
        return w
    }

    private static func json(_ v: Any) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: v, options: [.sortedKeys]), as: UTF8.self)
    }
}

public enum QuantizationError: Error, CustomStringConvertible {
    case notCalibrated(String)
    public var description: String {
        switch self {
        case .notCalibrated(let g): return "activation \(g) was never observed: calibrate on at least one frame"
        }
    }
}
