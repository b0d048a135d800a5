import CSegKernels
import SegEngine
import Testing

@Suite struct Int8StemTests {
    static func stemConv(cout: Int, stride: Int = 2, inChannels: Int = 3, output: QuantParams? = QuantParams(scale: 0.05, zeroPoint: 17),
                         seed: UInt64) -> QConv2d {
        var s = seed
        func next() -> UInt64 { s = s &* 6364136223846793005 &+ 1442695040888963407; return s >> 33 }
        let w = (0..<(cout * inChannels * 9)).map { _ in Int8(Int(next() % 255) - 127) }
        let scale = (0..<cout).map { _ in Float(next() % 100 + 5) / 5000 }
        let bias = (0..<cout).map { _ in Float(Int(next() % 400) - 200) / 100 }
        return QConv2d(name: "backbone.stage1.0", inChannels: inChannels, outChannels: cout, kernelSize: 3, stride: stride,
                       padding: 1, weight: w, weightScale: scale, bias: bias, input: QuantParams(scale: 0.0187, zeroPoint: 113),
                       output: output, relu: output != nil)
    }

    /// The fused first conv against the two steps it replaces in the int8 model (`QOps.quantize` into a u8
    /// image, then `run` on it): the same bytes in every ISA, with 1 and 2 threads, on even, odd and tiny inputs.
    @Test(arguments: [(32, 96, 160), (64, 67, 101), (32, 1, 1), (19, 2, 33)])
    func fusedStemEqualsQuantizeThenConv(_ c: (cout: Int, h: Int, w: Int)) {
        let conv = Self.stemConv(cout: c.cout, seed: UInt64(c.cout * 1000 + c.h))
        #expect(conv.quantizesItsInput)
        let x = syntheticFrame(height: c.h, width: c.w, seed: 7)
        let (ho, wo) = conv.outputSize(height: c.h, width: c.w)
        let out = conv.output!
        for threads in [1, 2] {
            let ctx = ExecutionContext(threads: threads)
            let xq = QTensor(channels: 3, height: c.h, width: c.w, params: conv.input)
            QOps.quantize(x, into: xq, context: ctx)
            let reference = QTensor(channels: c.cout, height: ho, width: wo, params: out)
            conv.run(xq, into: reference, context: ctx, isa: SEG_ISA_SCALAR)
            for isa in [nil, SEG_ISA_SCALAR, SEG_ISA_AVX2, SEG_ISA_AVX512VNNI] where isa.map({ seg_isa_supported($0) != 0 }) ?? true {
                let y = QTensor(channels: c.cout, height: ho, width: wo, params: out)
                conv.run(quantizing: x, into: y, context: ctx, isa: isa)
                var bad: String?
                for p in 0..<(ho * wo) where bad == nil {
                    for k in 0..<c.cout where y.data[p * y.pixelStride + k] != reference.data[p * y.pixelStride + k] {
                        bad = "pixel \(p) channel \(k): \(y.data[p * y.pixelStride + k]) != \(reference.data[p * y.pixelStride + k])"
                        break
                    }
                }
                #expect(bad == nil, "\(isa.map { String(cString: seg_isa_name($0)) } ?? "default") ISA, \(threads) threads, \(c): \(bad ?? "")")
            }
        }
    }

    /// The stem from 8-bit planes (the table of `seg_qu8_stem_pixel_table`) against the stem on the planes
    /// normalised into a tensor: the same bytes in every ISA, with 1 and 2 threads, on even, odd and tiny inputs.
    @Test(arguments: [(32, 96, 160), (64, 67, 101), (32, 1, 1), (19, 2, 33)])
    func planesEqualTheNormalisedTensor(_ c: (cout: Int, h: Int, w: Int)) {
        let conv = Self.stemConv(cout: c.cout, seed: UInt64(c.cout * 1000 + c.h))
        let planes = patternPlanes(width: c.w, height: c.h, seed: 3)
        let scale = PixelInputTests.scale, bias = PixelInputTests.bias
        let x = Tensor(channels: 3, height: c.h, width: c.w)
        planes.normalize(scale: scale, bias: bias, into: x)
        let (ho, wo) = conv.outputSize(height: c.h, width: c.w)
        for threads in [1, 2] {
            let ctx = ExecutionContext(threads: threads)
            let reference = QTensor(channels: c.cout, height: ho, width: wo, params: conv.output!)
            conv.run(quantizing: x, into: reference, context: ctx, isa: SEG_ISA_SCALAR)
            for isa in [nil, SEG_ISA_SCALAR, SEG_ISA_AVX2, SEG_ISA_AVX512VNNI] where isa.map({ seg_isa_supported($0) != 0 }) ?? true {
                let y = QTensor(channels: c.cout, height: ho, width: wo, params: conv.output!)
                conv.run(quantizing: planes, scale: scale, bias: bias, into: y, context: ctx, isa: isa)
                let differing = (0..<(ho * wo)).first { p in
                    (0..<c.cout).contains { y.data[p * y.pixelStride + $0] != reference.data[p * y.pixelStride + $0] }
                }
                #expect(differing == nil, "\(isa.map { String(cString: seg_isa_name($0)) } ?? "default") ISA, \(threads) threads, \(c): pixel \(differing ?? -1)")
            }
        }
    }

    @Test func onlyTheStemShapeQuantizesItsInput() {
        #expect(Self.stemConv(cout: 64, seed: 1).quantizesItsInput)
        #expect(!Self.stemConv(cout: 65, seed: 1).quantizesItsInput)
        #expect(!Self.stemConv(cout: 32, stride: 1, seed: 1).quantizesItsInput)
        #expect(!Self.stemConv(cout: 32, inChannels: 4, seed: 1).quantizesItsInput)
        #expect(!Self.stemConv(cout: 32, output: nil, seed: 1).quantizesItsInput)
    }
}
