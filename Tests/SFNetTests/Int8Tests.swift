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

/// int8 against fp32 on synthetic 64×96 frames (one per seed): the mean label agreement, and the relative L2
/// error of the low-resolution logits over all of them.
func int8AgreementWithFP32(_ int8: InferenceSession, _ fp32: InferenceSession, seeds: Range<Int>) -> (labels: Double, relativeL2: Float) {
    var agree = 0.0, err2: Float = 0, ref2: Float = 0
    for seed in seeds {
        let x = syntheticFrame(height: 64, width: 96, seed: seed)
        agree += argmaxAgreement(int8.predictLabels(input: x), fp32.predictLabels(input: x)) / Double(seeds.count)
        let av = int8.lowResolutionLogits(input: x).toArray(), bv = fp32.lowResolutionLogits(input: x).toArray()
        for i in av.indices { err2 += (av[i] - bv[i]) * (av[i] - bv[i]); ref2 += bv[i] * bv[i] }
    }
    return (agree, (err2 / ref2).squareRoot())
}

/// Every int8 ISA this CPU has gives the scalar kernels' logits on `x`, bit for bit (leaves `int8.isa` nil).
func expectEveryISAIdentical(_ int8: InferenceSession, _ x: Tensor, _ what: String) {
    int8.isa = SEG_ISA_SCALAR
    let reference = int8.lowResolutionLogits(input: x).toArray()
    for isa in [SEG_ISA_AVX2, SEG_ISA_AVX512VNNI] where seg_isa_supported(isa) != 0 {
        int8.isa = isa
        #expect(int8.lowResolutionLogits(input: x).toArray() == reference, "\(what) \(String(cString: seg_isa_name(isa)))")
    }
    int8.isa = nil
}

/// A fixture model whose classifier bias is shifted so every class has the same mean logit over a few
/// synthetic frames: random-weight fixtures otherwise predict one class almost everywhere, which would
/// make argmax agreement meaningless. Cached per fixture.
nonisolated(unsafe) private var balancedCache: [String: [UInt8]] = [:]
private let balancedLock = NSLock()
func balancedFixture(_ name: String) throws -> SafetensorsFile {
    balancedLock.lock(); defer { balancedLock.unlock() }
    if let bytes = balancedCache[name] { return try SafetensorsFile(bytes: bytes) }
    let src = try SafetensorsFile(contentsOf: try fixtureURL(name))
    let model = try SFNetModel(file: src).session(threads: 2)
    let nc = model.config.numClasses
    var mean = [Float](repeating: 0, count: nc)
    for seed in 0..<3 {
        let l = model.lowResolutionLogits(input: syntheticFrame(height: 64, width: 96, seed: 300 + seed))
        for c in 0..<nc { for p in 0..<l.planeSize { mean[c] += l[c, p / l.width, p % l.width] / Float(3 * l.planeSize) } }
    }
    var w = SafetensorsWriter(metadata: src.metadata)
    for n in src.names {
        var v = try src.floats(n)
        if n == "head.conv_last.1.bias" { for c in 0..<nc { v[c] -= mean[c] } }
        w.add(n, shape: src.entries[n]!.shape, floats: v)
    }
    let bytes = Array(try w.serialized())
    balancedCache[name] = bytes
    return try SafetensorsFile(bytes: bytes)
}

/// Quantizes a (balanced) fixture model on `frames` synthetic frames.
func quantizedFixture(_ name: String, method: CalibrationMethod = .percentile, fp32Layers: Set<String>? = nil,
                      frames: Int = 3, size: (Int, Int) = (64, 96)) throws -> (fp32: InferenceSession, int8: InferenceSession, bytes: Data) {
    let file = try balancedFixture(name)
    let q = try SFNetQuantizer(file: file, pool: testPool(2))
    let inputs = (0..<frames).map { syntheticFrame(height: size.0, width: size.1, seed: 100 + $0) }
    for x in inputs { q.observe(x) }
    q.beginHistograms()
    for x in inputs { q.observe(x) }
    let bytes = try q.int8File(method: method, fp32Layers: fp32Layers).serialized()
    let int8 = try SFNetInt8Model(file: try SafetensorsFile(bytes: Array(bytes))).session(threads: 2)
    return (try SFNetModel(file: file).session(threads: 2), int8, bytes)
}

@Suite struct Int8LayerTests {
    /// One quantized conv against the fp32 conv on the same (dequantized) input with the unquantized
    /// weights. Per output element the error is bounded by the scales: weight rounding contributes at most
    /// Σ_k |x_k|·s_w[c]/2, bias rounding s_x·s_w[c]/2, output rounding s_y/2 (plus 1e-3·s_y of float slack).
    @Test(arguments: [(1, 1, false, false), (3, 1, true, false), (3, 2, true, true), (3, 1, false, true)])
    func convWithinScaleBound(_ c: (k: Int, stride: Int, relu: Bool, residual: Bool)) throws {
        let cin = 19, cout = 21, h = 9, w = 11, k = c.k, pad = k / 2
        var seed: UInt64 = 12345 + UInt64(k * 10 + c.stride)
        func next() -> Float { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Float(seed >> 40) / Float(1 << 24) }
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
    /// Whole narrow networks (random weights, balanced classes) against fp32 on unseen frames.
    /// Thresholds: the int8 logits stay within 6 % relative L2 of fp32 (measured 1–4 %: ~25 layers each
    /// adding about half an output step of rounding); random narrow models have many near-ties, so
    /// overall label agreement is only required to be ≥ 85 % (measured 89–99 %), but every pixel
    /// whose low-resolution fp32 top-2 margin exceeds 5 % of the logit range must agree (98 %).
    @Test(arguments: ["df1_w16_ac0", "r18_w16", "df2_w16", "df1_w16_seem_bam", "r18_w16_seem_fs", "df2_w16_seem_fs_bam"])
    func argmaxAgreesWithFP32(_ name: String) throws {
        let (fp32, int8, _) = try quantizedFixture(name)
        var agree = 0.0, confident = 0, confidentAgree = 0, err2: Float = 0, ref2: Float = 0
        for seed in 0..<2 {
            let x = syntheticFrame(height: 64, width: 96, seed: 200 + seed)
            let reference = fp32.predictLabels(input: x)
            // The labels must not be trivially one class, or agreement would mean nothing.
            var counts = [Int](repeating: 0, count: 256)
            for l in reference { counts[Int(l)] += 1 }
            #expect(counts.filter { $0 > 0 }.count >= 3 && counts.max()! < reference.count * 8 / 10, "\(name): \(counts.filter { $0 > 0 })")
            agree += argmaxAgreement(int8.predictLabels(input: x), reference) / 2
            let a = int8.lowResolutionLogits(input: x), b = fp32.lowResolutionLogits(input: x)
            let av = a.toArray(), bv = b.toArray()
            for i in av.indices { err2 += (av[i] - bv[i]) * (av[i] - bv[i]); ref2 += bv[i] * bv[i] }
            let range = maxAbs(bv), hw = b.planeSize
            for p in 0..<hw {
                let col = (0..<b.channels).map { bv[$0 * hw + p] }, qcol = (0..<b.channels).map { av[$0 * hw + p] }
                let sorted = col.sorted(by: >)
                guard sorted[0] - sorted[1] > 0.05 * range else { continue }
                confident += 1
                if col.firstIndex(of: sorted[0]) == qcol.firstIndex(of: qcol.max()!) { confidentAgree += 1 }
            }
        }
        let rel = (err2 / ref2).squareRoot()
        print("int8 \(name): label agreement \(agree), confident \(confidentAgree)/\(confident), relative L2 logit error \(rel)")
        #expect(rel <= 0.06)
        #expect(agree >= 0.85)
        #expect(confident >= 10 && Double(confidentAgree) >= 0.98 * Double(confident))
    }
}

@Suite struct Int8FileTests {
    /// The df1 fixture quantized once (minmax, no fp32 layers), as file bytes.
    static let df1: Data = try! quantizedFixture("df1_w16_ac0", method: .minmax, frames: 2).bytes

    /// Loads `Self.df1` after `edit` rewrites its entries; returns the error message or nil.
    func load(metadata: (inout [String: String]) -> Void = { _ in },
              edit: (String, String, [Int], [UInt8]) -> [(String, String, [Int], [UInt8])]) throws -> String? {
        let src = try SafetensorsFile(bytes: Array(Self.df1))
        var meta = src.metadata
        metadata(&meta)
        var w = SafetensorsWriter(metadata: meta)
        for name in src.names {
            let e = src.entries[name]!
            for (n, dtype, shape, bytes) in edit(name, e.dtype, e.shape, Array(src.rawBytes(name)!)) { w.add(n, dtype: dtype, shape: shape, bytes: bytes) }
        }
        do { _ = try SFNetInt8Model(file: try SafetensorsFile(bytes: Array(try w.serialized()))).session(threads: 1); return nil }
        catch { return "\(error)" }
    }

    @Test func intactFileLoads() throws {
        #expect(try load { [($0, $1, $2, $3)] } == nil)
    }

    @Test func loaderErrorsNameTheTensor() throws {
        #expect(try load { $0 == "head.fpn_in.1.0.weight_q" ? [] : [($0, $1, $2, $3)] } == "missing head.fpn_in.1.0.weight_q")
        #expect(try load { $0 == "act.head.fuse.concat.zero_point" ? [] : [($0, $1, $2, $3)] } == "missing act.head.fuse.concat.zero_point")
        #expect(try load { n, d, s, b in
            n == "backbone.stage2.0.conv1.weight_q" ? [(n, "U8", s, b)] : [(n, d, s, b)]
        } == "backbone.stage2.0.conv1.weight_q has dtype U8, expected I8")
        #expect(try load { n, d, s, b in
            n == "act.input.scale" ? [(n, "F16", s, [0, 60])] : [(n, d, s, b)]
        } == "act.input.scale has dtype F16, expected F32")
        #expect(try load { n, d, s, b in
            n == "head.conv_last.1.bias" ? [(n, d, [1, 7], b)] : [(n, d, s, b)]
        } == "head.conv_last.1.bias has shape [1,7], expected [7]")
        #expect(try load { n, d, s, b in
            [(n, d, s, b)] + (n == "act.input.scale" ? [("layer0.0.0.weight", "F32", [1], [0, 0, 0, 0])] : [])
        } == "unexpected tensor layer0.0.0.weight")
        // An fp32 weight where the file says int8 (or the reverse) is a missing/unexpected tensor.
        #expect(try load(metadata: { $0["int8_fp32_layers"] = #"["head.conv_last.1"]"# }) { [($0, $1, $2, $3)] }
                == "missing head.conv_last.1.weight")
        #expect(try load(metadata: { $0["int8_fp32_layers"] = #"["backbone.stage2.0.conv1"]"# }) { [($0, $1, $2, $3)] }?
                .hasPrefix("__metadata__ int8_fp32_layers = backbone.stage2.0.conv1: only") == true)
    }

    @Test func loaderChecksValues() throws {
        let zero: [UInt8] = [0, 0, 0, 0]
        #expect(try load { n, d, s, b in n == "act.head.fuse.concat.scale" ? [(n, d, s, zero)] : [(n, d, s, b)] }
                == "act.head.fuse.concat.scale: must be positive, got 0.0")
        #expect(try load { n, d, s, b in
            n == "head.conv_last.1.weight_q" ? [(n, d, s, [0x80] + b.dropFirst())] : [(n, d, s, b)]
        } == "head.conv_last.1.weight_q: weights must lie in [-127, 127]")
        let nan = Float.nan.bitPattern
        #expect(try load { n, d, s, b in
            n == "head.conv_last.1.bias" ? [(n, d, s, withUnsafeBytes(of: nan) { Array($0) } + b.dropFirst(4))] : [(n, d, s, b)]
        } == "head.conv_last.1.bias: holds a non-finite value")
    }

    @Test func precisionSelectsTheEngine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segstream-int8-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("df1-int8.safetensors")
        try Self.df1.write(to: url)
        let int8 = try loadSegmentationModel(contentsOf: url)
        #expect(int8 is SFNetInt8Model && int8.precision == .int8 && int8.config.precision == .int8)
        #expect(int8.config.arch == .df1 && int8.config.numClasses == 7 && !int8.config.warpAlignCorners)
        #expect(throws: PrecisionMismatch(file: .int8, requested: .fp32)) { try loadSegmentationModel(contentsOf: url, precision: .fp32) }
        let fp32URL = try fixtureURL("df1_w16_ac0")
        #expect(try loadSegmentationModel(contentsOf: fp32URL) is SFNetModel)
        #expect(throws: PrecisionMismatch(file: .fp32, requested: .int8)) { try loadSegmentationModel(contentsOf: fp32URL, precision: .int8) }
        #expect("\(PrecisionMismatch(file: .fp32, requested: .int8))".contains("segstream quantize"))
        // The fp32 engine refuses an int8 file by name.
        #expect(throws: ModelFileError.self) { try SFNetModel(contentsOf: url) }
    }

    @Test func quantizeRoundTrip() throws {
        // Writing and re-reading gives the same model; metadata is carried over.
        let (_, int8, bytes) = try quantizedFixture("r18_w16", method: .mse, frames: 2)
        let reread = try SFNetInt8Model(file: try SafetensorsFile(bytes: Array(bytes))).session(threads: 1)
        let x = syntheticFrame(height: 48, width: 80, seed: 7)
        #expect(reread.forward(input: x).toArray() == int8.forward(input: x).toArray())
        let meta = try SafetensorsFile(bytes: Array(bytes)).metadata
        #expect(meta["precision"] == "int8" && meta["arch"] == "r18" && meta["width_divisor"] == "16")
        #expect(meta["int8_calibration"]?.contains(#""method":"mse""#) == true)
        #expect(meta["int8_fp32_layers"] == "[]")
    }
}

@Suite struct Int8EngineTests {
    @Test func everyISAGivesIdenticalOutput() throws {
        let (_, int8, _) = try quantizedFixture("r18_w16", frames: 2)
        let x = syntheticFrame(height: 50, width: 70, seed: 3)
        int8.isa = SEG_ISA_SCALAR
        let reference = int8.lowResolutionLogits(input: x).toArray()
        var tested = 0
        for isa in [SEG_ISA_AVX2, SEG_ISA_AVX512VNNI] where seg_isa_supported(isa) != 0 {
            int8.isa = isa
            #expect(int8.lowResolutionLogits(input: x).toArray() == reference, "\(String(cString: seg_isa_name(isa))) differs from scalar")
            tested += 1
        }
        int8.isa = nil
        #expect(int8.lowResolutionLogits(input: x).toArray() == reference)
        print("int8 ISA equality checked on \(tested) SIMD ISA(s)")
    }

    @Test func labelsEqualTheFP32UpsampleOfTheLogitsInEveryISA() throws {
        // predictLabels runs the fused NHWC upsample + argmax (seg_qu8_upsample_argmax); it must give exactly
        // Resize.bilinearArgmax (the fp32 kernel) of the low-resolution logits, in every ISA.
        let (_, int8, _) = try quantizedFixture("df1_w16_ac0", frames: 1)
        let x = syntheticFrame(height: 61, width: 90, seed: 11)
        for isa in [SEG_ISA_SCALAR, SEG_ISA_AVX2, SEG_ISA_AVX512VNNI] where seg_isa_supported(isa) != 0 {
            int8.isa = isa
            let logits = int8.lowResolutionLogits(input: x)
            var expected = [UInt8](repeating: 0, count: x.height * x.width)
            expected.withUnsafeMutableBufferPointer {
                Resize.bilinearArgmax(logits, height: x.height, width: x.width, alignCorners: true, labels: $0.baseAddress!,
                                      context: ExecutionContext(threads: 1))
            }
            #expect(int8.predictLabels(input: x) == expected, "\(String(cString: seg_isa_name(isa)))")
            // Any output size (infer/eval bring labels to the image's size when network_scale ≠ 1).
            var smaller = [UInt8](repeating: 0, count: 31 * 45)
            smaller.withUnsafeMutableBufferPointer {
                Resize.bilinearArgmax(logits, height: 31, width: 45, alignCorners: true, labels: $0.baseAddress!,
                                      context: ExecutionContext(threads: 1))
            }
            #expect(int8.predictLabels(input: x, outputHeight: 31, outputWidth: 45) == smaller)
        }
        int8.isa = nil
    }

    @Test func fp32LayersRunAndStayClose() throws {
        // Every fp32 candidate kept in fp32: the mixed path runs and agrees with fp32 at least as well.
        let names = ["backbone.stage1.0", "head.fpn_out_align.0.flow_make", "head.fpn_out_align.1.flow_make", "head.conv_last.1"]
        let (fp32, mixed, _) = try quantizedFixture("df1_w16_ac0", fp32Layers: Set(names), frames: 2)
        #expect((mixed.model as? SFNetInt8Model)?.fp32Layers == Set(names))
        let x = syntheticFrame(height: 64, width: 96, seed: 201)
        #expect(argmaxAgreement(mixed.predictLabels(input: x), fp32.predictLabels(input: x)) >= 0.95)
    }

    @Test func steadyStateAndThreads() throws {
        let (fp32, int8, bytes) = try quantizedFixture("df2_w16", frames: 1)
        let a = syntheticFrame(height: 40, width: 56, seed: 1), b = syntheticFrame(height: 33, width: 47, seed: 2)
        let first = int8.forward(input: a).toArray()
        _ = int8.forward(input: b)
        let bytesHeld = int8.activationBytes
        #expect(int8.forward(input: a).toArray() == first)
        _ = int8.predictLabels(input: b)
        #expect(int8.activationBytes == bytesHeld)
        let single = try SFNetInt8Model(file: try SafetensorsFile(bytes: Array(bytes))).session(threads: 1)
        #expect(single.forward(input: a).toArray() == first)
        // Profiles name the same convs with the same MAC counts as the fp32 model's.
        let timings = int8.profile(input: a)
        let convs = fp32.profile(input: a).filter { $0.macs > 0 }
        #expect(convs.count > 40)
        #expect(timings.filter { $0.macs > 0 }.map { "\($0.name) \($0.macs)" } == convs.map { "\($0.name) \($0.macs)" })
        #expect(timings.last?.name == "upsample_argmax")
    }
}

@Suite struct Int8ConversionTests {
    /// fp32 CHW → u8 NHWC: round half to even, clamp, both the RGBX fast path and the generic one, and a
    /// concat slice's neighbouring channels are never written.
    @Test(arguments: [3, 5, 8, 32])
    func quantizeMatchesReference(_ c: Int) {
        let h = 5, w = 7
        let x = Tensor(channels: c, height: h, width: w, values: (0..<(c * h * w)).map { Float(($0 * 37) % 113) / 9 - 6.25 })
        let params = QuantParams(scale: 0.05, zeroPoint: 120)
        let ctx = ExecutionContext(threads: 2)
        // As a standalone tensor, and as channels [4, 4+c) of a wider buffer.
        let plain = QTensor(channels: c, height: h, width: w, params: params)
        let wide = QTensor(channels: c + 8, height: h, width: w, params: params)
        for i in 0..<(h * w * wide.pixelStride) { wide.data[i] = 0xAB }
        let slice = wide.channelSlice(4..<(4 + c))
        for y in [plain, slice] {
            QOps.quantize(x, into: y, context: ctx)
            for p in 0..<(h * w) {
                for k in 0..<c {
                    let v = (x.data[k * h * w + p] / params.scale).rounded(.toNearestOrEven) + 120
                    #expect(y.data[p * y.pixelStride + k] == UInt8(min(max(v, 0), 255)), "c \(c) pixel \(p) channel \(k)")
                }
            }
        }
        for p in 0..<(h * w) {
            for k in Array(0..<4) + Array((4 + c)..<wide.pixelStride) { #expect(wide.data[p * wide.pixelStride + k] == 0xAB) }
        }
        // Dequantizing gives back x within half a step where x is in range.
        let back = Tensor(channels: c, height: h, width: w)
        QOps.dequantize(plain, into: back, context: ctx)
        for i in 0..<x.count where params.range.contains(x.data[i]) { #expect(abs(back.data[i] - x.data[i]) <= 0.0251) }
    }
}
