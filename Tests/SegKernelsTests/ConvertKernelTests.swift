import CSegKernels
import Testing

@Suite("Image and label-map conversion kernels")
struct ConvertKernelTests {
    @Test("RGB24 → normalised CHW equals (v·scale + bias) per channel, with a row stride")
    func rgbToCHW() {
        let w = 7, h = 3, stride = 3 * w + 5
        var rng = SplitMix(seed: 11)
        let src = (0..<(stride * h)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let scale: [Float] = [0.5, -1, 2], bias: [Float] = [1, 0.25, -3]
        var dst = [Float](repeating: .nan, count: 3 * w * h)
        seg_f32_from_rgb24_affine(src, stride, w, h, scale, bias, &dst)
        for c in 0..<3 {
            for y in 0..<h {
                for x in 0..<w {
                    #expect(dst[c * w * h + y * w + x] == Float(src[y * stride + 3 * x + c]) * scale[c] + bias[c])
                }
            }
        }
    }

    @Test("planar R, G, B bytes → normalised CHW equals the packed kernel on the same pixels, bit for bit")
    func planarToCHW() {
        let w = 13, h = 5, stride = w + 7
        var rng = SplitMix(seed: 12)
        let planes = (0..<3).map { _ in (0..<(stride * h)).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        let scale: [Float] = [1 / (255 * 0.229), 1 / (255 * 0.224), 1 / (255 * 0.225)]
        let bias: [Float] = [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225]
        var packed = [UInt8](repeating: 0, count: 3 * w * h)
        for y in 0..<h { for x in 0..<w { for c in 0..<3 { packed[3 * (y * w + x) + c] = planes[c][y * stride + x] } } }
        var viaPacked = [Float](repeating: .nan, count: 3 * w * h), viaPlanes = [Float](repeating: .nan, count: 3 * w * h)
        seg_f32_from_rgb24_affine(packed, 3 * w, w, h, scale, bias, &viaPacked)
        planes[0].withUnsafeBufferPointer { r in
            planes[1].withUnsafeBufferPointer { g in
                planes[2].withUnsafeBufferPointer { b in
                    let p: [UnsafePointer<UInt8>?] = [r.baseAddress, g.baseAddress, b.baseAddress]
                    seg_f32_from_planar_u8_affine(p, stride, w, h, scale, bias, &viaPlanes)
                }
            }
        }
        #expect(viaPlanes.map(\.bitPattern) == viaPacked.map(\.bitPattern))
        for c in 0..<3 {
            #expect(viaPlanes[c * w * h + 2 * w + 3] == Float(planes[c][2 * stride + 3]) * scale[c] + bias[c])
        }
    }

    @Test("nearest resize follows PyTorch's floor(dst·in/out)", arguments: [(5, 3, 12, 7), (12, 7, 5, 3), (4, 4, 4, 4), (1, 1, 3, 2), (1792, 5, 1030, 9), (700, 9, 2500, 4)])
    func nearest(inW: Int, inH: Int, outW: Int, outH: Int) {
        let src = (0..<(inW * inH)).map { UInt8($0 % 251) }
        var dst = [UInt8](repeating: 0, count: outW * outH)
        seg_u8_resize_nearest(src, inW, inW, inH, &dst, outW, outW, outH)
        for y in 0..<outH {
            for x in 0..<outW { #expect(dst[y * outW + x] == src[(y * inH / outH) * inW + x * inW / outW]) }
        }
    }

    @Test("histogram accumulates counts")
    func histogram() {
        let labels: [UInt8] = [0, 3, 3, 255, 3, 0]
        var counts = [UInt32](repeating: 1, count: 256)
        seg_u8_histogram(labels, labels.count, &counts)
        #expect(counts[0] == 3 && counts[3] == 4 && counts[255] == 2 && counts[1] == 1)
        // Every length modulo the kernel's unrolling, against a plain count.
        for n in [4097, 4098, 4099, 4100] {
            let many: [UInt8] = (0..<n).map { (i: Int) -> UInt8 in UInt8(truncatingIfNeeded: i * 7919 + i / 13) }
            var got = [UInt32](repeating: 0, count: 256), want = got
            seg_u8_histogram(many, n, &got)
            for v in many { want[Int(v)] += 1 }
            #expect(got == want, "n = \(n)")
        }
    }
}
