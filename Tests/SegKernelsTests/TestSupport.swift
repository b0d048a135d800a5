import CSegKernels
import Foundation

/// SplitMix64: small, fast, reproducible. The seed comes from SEGSTREAM_TEST_SEED when set.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum TestSeed {
    static let value: UInt64 = {
        if let s = ProcessInfo.processInfo.environment["SEGSTREAM_TEST_SEED"], let v = UInt64(s) { return v }
        return UInt64.random(in: 1...UInt64(UInt32.max))
    }()
    /// A generator for one test, derived from the global seed and the test's name.
    static func rng(_ name: String) -> SplitMix {
        var h: UInt64 = 1469598103934665603
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        return SplitMix(seed: value ^ h)
    }
    static var note: String { "reproduce with SEGSTREAM_TEST_SEED=\(value)" }
}

/// ISAs other than scalar that this CPU runs.
let simdISAs: [seg_isa] = [SEG_ISA_AVX2, SEG_ISA_AVX512VNNI].filter { seg_isa_supported($0) != 0 }

func isaName(_ i: seg_isa) -> String { String(cString: seg_isa_name(i)) }

func randomBytes(_ n: Int, _ rng: inout SplitMix) -> [UInt8] {
    var a = [UInt8](repeating: 0, count: n)
    var i = 0
    while i < n {
        var v = rng.next()
        for _ in 0..<8 where i < n { a[i] = UInt8(truncatingIfNeeded: v); v >>= 8; i += 1 }
    }
    return a
}

/// One int8 convolution problem: quantized tensors, packed weights and an indirection table.
struct ConvCase: CustomStringConvertible {
    var cin = 3, cout = 16, kh = 3, kw = 3, stride = 1, dilation = 1, pad = 1
    var inH = 5, inW = 7
    var xStride = 4      // bytes per input pixel (≥ cin4)
    var yStride = 16     // bytes per output pixel (≥ cout, ×4 for f32)
    var residual = false, relu = false, f32 = false, bias = true
    var pixelBegin = 0, pixelEnd = Int.max
    var wRange = 127     // |w| bound (127 exercises the worst saturation case for AVX2)

    var outH: Int { seg_conv_out_size(inH, kh, stride, dilation, pad, pad) }
    var outW: Int { seg_conv_out_size(inW, kw, stride, dilation, pad, pad) }
    var description: String {
        "cin=\(cin) cout=\(cout) k=\(kh)x\(kw) s=\(stride) d=\(dilation) p=\(pad) in=\(inH)x\(inW) out=\(outH)x\(outW) "
            + "xStride=\(xStride) yStride=\(yStride) res=\(residual) relu=\(relu) f32=\(f32) pixels=\(pixelBegin)..<\(min(pixelEnd, outH * outW))"
    }
}

/// Quantized data for a ConvCase, plus helpers that run it.
final class ConvProblem {
    let c: ConvCase
    let x: [UInt8]
    let xBuf: UnsafeMutableBufferPointer<UInt8>  // stable address the indirection table points into
    var w: [Int8]
    var wScale: [Float]
    var bias: [Float]
    var r: [UInt8]
    let xScale: Float = 0.02, xZp: UInt8
    let yScale: Float, yZp: UInt8
    let rScale: Float = 0.03, rZp: UInt8
    let packed: OpaquePointer
    let ind: OpaquePointer

    /// `weights`, `input`, `outputScale` and `outputZeroPoint` replace the random ones (extreme-value cases).
    init(_ c: ConvCase, _ rng: inout SplitMix, weights: [Int8]? = nil, input: [UInt8]? = nil, outputScale: Float? = nil,
         outputZeroPoint: UInt8? = nil) {
        self.c = c
        xZp = UInt8.random(in: 0...255, using: &rng)
        yZp = outputZeroPoint ?? UInt8.random(in: 0...255, using: &rng)
        rZp = UInt8.random(in: 0...255, using: &rng)
        let k = c.cin * c.kh * c.kw
        // Output scale: the accumulator's real std is about 1.08·√k, mapped to about 40 LSB.
        yScale = outputScale ?? 0.027 * Float(k).squareRoot()
        let xs = input ?? randomBytes(max(1, c.inH * c.inW * c.xStride), &rng)
        x = xs
        xBuf = .allocate(capacity: xs.count)
        _ = xBuf.initialize(from: xs)
        let ws = weights ?? (0..<(c.cout * k)).map { _ in Int8(Int.random(in: -c.wRange...c.wRange, using: &rng)) }
        let wsc = (0..<c.cout).map { _ in Float.random(in: 0.005...0.015, using: &rng) }
        let bs = (0..<c.cout).map { _ in Float.random(in: -1...1, using: &rng) }
        w = ws; wScale = wsc; bias = bs
        r = randomBytes(max(1, c.outH * c.outW * c.cout), &rng)
        let ys = yScale, xs0 = xScale, xz = xZp
        packed = ws.withUnsafeBufferPointer { wp in
            seg_qu8_conv_pack(c.cout, c.cin, c.kh, c.kw, wp.baseAddress, wsc, c.bias ? bs : nil, xs0, xz, c.f32 ? 0 : ys)!
        }
        var g = seg_qu8_conv_geometry(
            in_h: UInt32(c.inH), in_w: UInt32(c.inW), out_h: UInt32(c.outH), out_w: UInt32(c.outW),
            kh: UInt32(c.kh), kw: UInt32(c.kw), stride_h: UInt32(c.stride), stride_w: UInt32(c.stride),
            dilation_h: UInt32(c.dilation), dilation_w: UInt32(c.dilation), pad_top: UInt32(c.pad), pad_left: UInt32(c.pad))
        ind = seg_qu8_conv_indirection(&g, c.cin, xBuf.baseAddress, c.xStride, xz)!
    }
    deinit {
        seg_qu8_conv_weights_free(packed)
        seg_qu8_indirection_free(ind)
        xBuf.deallocate()
    }

    /// Runs the conv with `isa` into a buffer pre-filled with a sentinel (so stray writes show up).
    /// `rebase`: pass a copy of x so the indirection table must be rebased.
    func run(_ isa: seg_isa, rebase: Bool = false) -> [UInt8] {
        let pixels = c.outH * c.outW
        var y = [UInt8](repeating: 0xA5, count: max(1, pixels * c.yStride))
        let xcopy = x  // a different buffer from xBuf: the table is rebased onto it
        let rz = rZp, yz = yZp, rs = rScale, ys = yScale
        let relu = c.relu, residual = c.residual, cout = c.cout
        xcopy.withUnsafeBufferPointer { xp in
            r.withUnsafeBufferPointer { rp in
                y.withUnsafeMutableBytes { yp in
                    var a = seg_qu8_conv_args(
                        w: packed, ind: ind, x: rebase ? xp.baseAddress : nil, y: yp.baseAddress, y_stride: c.yStride,
                        r: residual ? rp.baseAddress : nil, r_stride: cout, r_mult: rs / ys, r_zp: rz,
                        y_zp: yz, y_min: relu ? yz : 0, y_max: 255)
                    seg_qu8_conv_isa(isa, &a, c.pixelBegin, min(c.pixelEnd, pixels))
                }
            }
        }
        return y
    }

    /// Independent float computation: dequantize → float conv → (+ residual) → requantize (or float).
    func floatReference() -> [Float] {
        let pixels = c.outH * c.outW
        var out = [Float](repeating: 0, count: pixels * c.cout)
        for oy in 0..<c.outH {
            for ox in 0..<c.outW {
                for o in 0..<c.cout {
                    var s: Double = 0
                    for ci in 0..<c.cin {
                        for ky in 0..<c.kh {
                            for kx in 0..<c.kw {
                                let iy = oy * c.stride + ky * c.dilation - c.pad
                                let ix = ox * c.stride + kx * c.dilation - c.pad
                                let xq: Int = (iy >= 0 && iy < c.inH && ix >= 0 && ix < c.inW)
                                    ? Int(x[(iy * c.inW + ix) * c.xStride + ci]) : Int(xZp)
                                let xf = Double(xScale) * Double(xq - Int(xZp))
                                let wf = Double(wScale[o]) * Double(w[((o * c.cin + ci) * c.kh + ky) * c.kw + kx])
                                s += xf * wf
                            }
                        }
                    }
                    if c.bias { s += Double(bias[o]) }
                    let p = oy * c.outW + ox
                    if c.f32 { out[p * c.cout + o] = Float(s); continue }
                    if c.residual { s += Double(rScale) * Double(Int(r[p * c.cout + o]) - Int(rZp)) }
                    var q = (s / Double(yScale)).rounded() + Double(yZp)
                    q = min(255, max(c.relu ? Double(yZp) : 0, q))
                    out[p * c.cout + o] = Float(q)
                }
            }
        }
        return out
    }
}

/// nil when equal, else a short description of the first difference (arrays are too long to print).
func mismatch(_ got: [UInt8], _ want: [UInt8]) -> String? {
    if got.count != want.count { return "sizes \(got.count) vs \(want.count)" }
    guard let i = got.indices.first(where: { got[$0] != want[$0] }) else { return nil }
    let n = zip(got, want).filter { $0 != $1 }.count
    return "first of \(n) differences at byte \(i): got \(got[i]), want \(want[i])"
}
