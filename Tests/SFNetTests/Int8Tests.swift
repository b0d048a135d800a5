import CSegKernels
import Foundation
import SegEngine
import SFNet
import Testing

/// Street-like smooth test frames: a normalised 3×h×w image from a few low-frequency waves and edges.
func syntheticFrame(height: Int, width: Int, seed: Int) -> Tensor {
    let t = Tensor(channels: 3, height: height, width: width)
    let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
    let s = Float(seed)
    for c in 0..<3 {
        for y in 0..<height {
            for x in 0..<width {
                let u = Float(x) / Float(width), v = Float(y) / Float(height)
                var r = 0.5 + 0.3 * sin(6.3 * (u * (1 + 0.3 * s) + 0.2 * Float(c)) + s) * cos(4.1 * v + 0.7 * s)
                if (u + 0.37 * s).truncatingRemainder(dividingBy: 0.31) < 0.1 && v > 0.4 { r = 0.15 + 0.1 * Float(c) }
                r += 0.05 * sin(Float(x * 7 + y * 13 + c * 5 + seed * 3))
                t[c, y, x] = (min(max(r, 0), 1) - mean[c]) / std[c]
            }
        }
    }
    return t
}

func argmaxAgreement(_ a: [UInt8], _ b: [UInt8]) -> Double {
    Double(zip(a, b).filter { $0 == $1 }.count) / Double(a.count)
}

/// Quantizes a fixture model on `frames` synthetic frames.
func quantizedFixture(_ name: String, method: CalibrationMethod = .percentile, fp32Layers: Set<String>? = nil,
                      frames: Int = 3, size: (Int, Int) = (64, 96)) throws -> (fp32: SFNetModel, int8: SFNetInt8Model, bytes: Data) {
    let file = try SafetensorsFile(contentsOf: try fixtureURL(name))
    let q = try SFNetQuantizer(file: file, threads: 2)
    let inputs = (0..<frames).map { syntheticFrame(height: size.0, width: size.1, seed: 100 + $0) }
    for x in inputs { q.observe(x) }
    q.beginHistograms()
    for x in inputs { q.observe(x) }
    let bytes = try q.int8File(method: method, fp32Layers: fp32Layers).serialized()
    let int8 = try SFNetInt8Model(file: try SafetensorsFile(bytes: Array(bytes)), threads: 2)
    return (try SFNetModel(file: file, threads: 2), int8, bytes)
}

@Suite struct Int8LayerTests {
    /// One quantized conv against the fp32 conv on the same (dequantized) input with the unquantized
    /// weights. Per output element the error is bounded by the scales: weight rounding contributes at most
    /// Σ_k |x_k|·s_w[c]/2, bias rounding s_x·s_w[c]/2, output rounding s_y/2 (plus 1e-3·s_y of float slack).
    @Test(arguments: [(1, 1, false, false), (3, 1, true, false), (3, 2, true, true), (3, 1, false, true)])
    func convWithinScaleBound(_ c: (k: Int, stride: Int, relu: Bool, residual: Bool)) throws {
        let cin = 19, cout = 21, h = 9, w = 11, k = c.k, pad = k / 2
        var rng = SystemRandomNumberGenerator()
        var seed: UInt64 = 12345 + UInt64(k * 10 + c.stride)
        func next() -> Float { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Float(seed >> 40) / Float(1 << 24) }
        _ = rng
        let weight = (0..<(cout * cin * k * k)).map { _ in (next() * 2 - 1) * 0.3 }
        let bias = (0..<cout).map { _ in (next() * 2 - 1) * 0.5 }
        var wq = [Int8](repeating: 0, count: weight.count), ws = [Float](repeating: 0, count: cout)
        seg_qu8_quantize_weights(cout, cin * k * k, weight, &wq, &ws)
        let xp = QuantParams(scale: 0.02, zeroPoint: 37), yp = QuantParams(scale: 0.05, zeroPoint: c.relu ? 0 : 120)
        let rp = QuantParams(scale: 0.03, zeroPoint: 90)
        let x = QTensor(channels: cin, height: h, width: w, params: xp)
        for i in 0..<(h * w * x.pixelStride) { x.data[i] = UInt8(truncatingIfNeeded: Int(next() * 256)) }
        let qconv = QConv2d(name: "t", inChannels: cin, outChannels: cout, kernelSize: k, stride: c.stride, padding: pad,
                            weight: wq, weightScale: ws, bias: bias, input: xp, output: yp, relu: c.relu)
        let (ho, wo) = qconv.outputSize(height: h, width: w)
        let r = QTensor(channels: cout, height: ho, width: wo, params: rp)
        for i in 0..<(ho * wo * r.pixelStride) { r.data[i] = UInt8(truncatingIfNeeded: Int(next() * 256)) }
        let y = QTensor(channels: cout, height: ho, width: wo, params: yp)
        let ctx = ExecutionContext(threads: 2)
        qconv.run(x, into: y, residual: c.residual ? r : nil, context: ctx)

        let fconv = Conv2d(name: "f", inChannels: cin, outChannels: cout, kernelSize: k, stride: c.stride, padding: pad,
                           weight: weight, bias: bias, relu: c.relu)
        let xf = Tensor(channels: cin, height: h, width: w, values: x.dequantized())
        let rf = Tensor(channels: cout, height: ho, width: wo, values: r.dequantized())
        let yf = Tensor(channels: cout, height: ho, width: wo)
        fconv.run(xf, into: yf, residual: c.residual ? rf : nil, context: ctx)
        // Σ|x| over each output's receptive field, from an all-ones conv on |x|.
        let ones = Conv2d(name: "a", inChannels: cin, outChannels: 1, kernelSize: k, stride: c.stride, padding: pad,
                          weight: [Float](repeating: 1, count: cin * k * k))
        let absx = Tensor(channels: cin, height: h, width: w, values: xf.toArray().map(abs))
        let sumAbs = Tensor(channels: 1, height: ho, width: wo)
        ones.run(absx, into: sumAbs, context: ctx)
        let got = y.dequantized(), want = yf.toArray()
        let lo = yp.range.lowerBound, hi = yp.range.upperBound
        var worst: Float = 0
        for o in 0..<cout {
            for p in 0..<(ho * wo) {
                let bound = sumAbs.data[p] * ws[o] / 2 + xp.scale * ws[o] / 2 + yp.scale * 0.501
                let expected = min(max(want[o * ho * wo + p], lo), hi)
                worst = max(worst, abs(got[o * ho * wo + p] - expected) / bound)
            }
        }
        #expect(worst <= 1, "worst error is \(worst)× the scale bound")
    }
}

@Suite struct Int8NetworkTests {
    @Test(arguments: ["df1_w16_ac0", "r18_w16", "df2_w16"])
    func argmaxAgreesWithFP32(_ name: String) throws {
        let (fp32, int8, _) = try quantizedFixture(name)
        var total = 0.0
        for seed in 0..<2 {
            let x = syntheticFrame(height: 64, width: 96, seed: 200 + seed)
            total += argmaxAgreement(int8.predictLabels(input: x), fp32.predictLabels(input: x))
        }
        let agreement = total / 2
        print("int8 \(name): argmax agreement \(agreement)")
        #expect(agreement >= 0.90, "\(name): \(agreement)")
    }
}
