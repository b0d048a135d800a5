import CSegKernels
import Foundation

/// The non-conv int8 ops on NHWC u8 tensors (C kernels `seg_qu8_*`) and the conversions between the
/// fp32 CHW world and the u8 NHWC one. Threads split output rows.
public enum QOps {
    static func rows(_ height: Int, _ context: ExecutionContext, minRowsPerWorker: Int = 2,
                     _ body: (Range<Int>) -> Void) {
        let workers = max(1, min(context.threads, height / minRowsPerWorker))
        context.parallel(workers) { t in body(ExecutionContext.split(height, parts: workers, index: t)) }
    }

    /// Bilinear resize keeping x's params; y (same channels, params) may be a concat slice.
    public static func resize(_ x: QTensor, into y: QTensor, alignCorners: Bool, context: ExecutionContext,
                              isa: seg_isa? = nil, name: String = "resize") {
        precondition(x.channels == y.channels && x.params == y.params, "\(name): \(x.shape) \(x.params) into \(y.shape) \(y.params)")
        context.measure(name) {
            rows(y.height, context) { r in
                if let isa {
                    seg_qu8_resize_bilinear_isa(isa, x.channels, x.height, x.width, x.data, x.pixelStride, y.height, y.width,
                                                y.data, y.pixelStride, alignCorners ? 1 : 0, r.lowerBound, r.upperBound)
                } else {
                    seg_qu8_resize_bilinear(x.channels, x.height, x.width, x.data, x.pixelStride, y.height, y.width,
                                            y.data, y.pixelStride, alignCorners ? 1 : 0, r.lowerBound, r.upperBound)
                }
            }
        }
    }

    /// out = lat + warp(high, flow) (SFNet FAM), requantized to out's params in one pass; with lat nil, a
    /// plain warp (out must then have high's params). flow: fp32 NHWC [out.height][out.width][2] at
    /// `flowStride` bytes per pixel.
    public static func warpAdd(high: QTensor, flow: UnsafePointer<Float>, flowStride: Int, lat: QTensor?,
                               into out: QTensor, alignCorners: Bool, relu: Bool = false, context: ExecutionContext,
                               isa: seg_isa? = nil, name: String = "flow_warp") {
        precondition(high.channels == out.channels, "\(name): \(high.channels) channels into \(out.channels)")
        var add = seg_qu8_add_params()
        if let lat {
            precondition(lat.shape == out.shape, "\(name): lat \(lat.shape) != \(out.shape)")
            add.r = UnsafePointer(lat.data)
            add.r_stride = lat.pixelStride
            add.x_mult = high.params.scale / out.params.scale
            add.r_mult = lat.params.scale / out.params.scale
            add.r_zp = lat.params.zeroPoint
            add.y_zp = out.params.zeroPoint
            add.y_min = relu ? out.params.zeroPoint : 0
            add.y_max = 255
        } else {
            precondition(high.params == out.params)
        }
        context.measure(name) {
            withUnsafePointer(to: add) { addPtr in
                let a: UnsafePointer<seg_qu8_add_params>? = lat == nil ? nil : addPtr
                rows(out.height, context) { r in
                    if let isa {
                        seg_qu8_warp_bilinear_isa(isa, high.channels, high.height, high.width, high.data, high.pixelStride,
                                                  high.params.zeroPoint, out.height, out.width, flow, flowStride, out.data,
                                                  out.pixelStride, alignCorners ? 1 : 0, a, r.lowerBound, r.upperBound)
                    } else {
                        seg_qu8_warp_bilinear(high.channels, high.height, high.width, high.data, high.pixelStride,
                                              high.params.zeroPoint, out.height, out.width, flow, flowStride, out.data,
                                              out.pixelStride, alignCorners ? 1 : 0, a, r.lowerBound, r.upperBound)
                    }
                }
            }
        }
    }

    /// Adaptive average pool (PyTorch bins), same params.
    public static func adaptiveAveragePool(_ x: QTensor, into y: QTensor, context: ExecutionContext, name: String = "adaptive_avgpool") {
        precondition(x.channels == y.channels && x.params == y.params)
        context.measure(name) {
            seg_qu8_adaptive_avgpool(x.channels, x.height, x.width, x.data, x.pixelStride, y.height, y.width, y.data, y.pixelStride)
        }
    }

    /// Max pool 3×3/s2/p1, same params.
    public static func maxPool(_ x: QTensor, into y: QTensor, context: ExecutionContext, name: String = "maxpool") {
        precondition(x.channels == y.channels && x.params == y.params && y.height == (x.height - 1) / 2 + 1 && y.width == (x.width - 1) / 2 + 1)
        context.measure(name) {
            rows(y.height, context) { r in
                seg_qu8_maxpool_3x3s2p1(x.channels, x.height, x.width, x.data, x.pixelStride, y.data, y.pixelStride,
                                        r.lowerBound, r.upperBound)
            }
        }
    }

    /// y = clamp(round(x/scale) + zp) (round half to even) from an fp32 CHW tensor into u8 NHWC (y's
    /// params). Bytes of the stride beyond x's channels get zp.
    public static func quantize(_ x: Tensor, into y: QTensor, context: ExecutionContext, name: String = "quantize") {
        precondition(x.channels == y.channels && x.height == y.height && x.width == y.width)
        let inv = 1 / y.params.scale, zp = Float(y.params.zeroPoint)
        // For c in [0, 255], c + 1.5·2^23 rounds c to the nearest even integer and leaves it in the low
        // mantissa bits: no float→int conversion (which Swift range-checks), so the loop vectorizes.
        let magic: Float = 12_582_912
        @inline(__always) func q(_ v: Float) -> UInt32 {
            (min(max(v * inv + zp, 0), 255) + magic).bitPattern &- 0x4B40_0000
        }
        context.measure(name) {
            rows(y.height, context, minRowsPerWorker: 8) { r in
                let c = x.channels, w = x.width, hw = x.planeSize, src = x.data, s = y.pixelStride
                if c == 3 && s == 4 && y.byteOffset % 4 == 0 {
                    // The network input: one 32-bit RGBX word per pixel.
                    let dst = UnsafeMutableRawPointer(y.data).assumingMemoryBound(to: UInt32.self)
                    let pad = UInt32(y.params.zeroPoint) << 24
                    let r0 = src, g0 = src + hw, b0 = src + 2 * hw
                    for p in (r.lowerBound * w)..<(r.upperBound * w) {
                        dst[p] = q(r0[p]) | q(g0[p]) << 8 | q(b0[p]) << 16 | pad
                    }
                    return
                }
                // Four channels (four planes) at a time into one 32-bit word per pixel; a tail of c % 4
                // channels bytewise (the stride's padding is never written: y may be a concat slice).
                let dst = y.data
                let p0 = r.lowerBound * w, p1 = r.upperBound * w
                let aligned = (Int(bitPattern: dst) % 4 == 0) && s % 4 == 0
                var k = 0
                if aligned {
                    let words = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: UInt32.self)
                    let ws = s / 4
                    while k + 4 <= c {
                        let a = src + k * hw, b = a + hw, cc = b + hw, d = cc + hw, o = words + k / 4
                        for p in p0..<p1 { o[p * ws] = q(a[p]) | q(b[p]) << 8 | q(cc[p]) << 16 | q(d[p]) << 24 }
                        k += 4
                    }
                }
                while k < c {
                    let a = src + k * hw, o = dst + k
                    for p in p0..<p1 { o[p * s] = UInt8(truncatingIfNeeded: q(a[p])) }
                    k += 1
                }
            }
        }
    }

    /// Scratch bytes one worker of `upsampleArgmax` needs.
    public static func upsampleArgmaxScratchBytes(channels: Int, width: Int, outWidth: Int) -> Int {
        seg_qu8_upsample_argmax_scratch_bytes(channels, width, outWidth)
    }

    /// labels[i·outWidth + j] = argmax_c bilinear(x)[c, i, j] for fp32 NHWC logits x (height×width pixels of
    /// `stride` floats, `channels` classes): `seg_qu8_upsample_argmax`, bit-identical to
    /// `Resize.bilinearArgmax` on the CHW transpose. `scratch` holds `workers ×
    /// upsampleArgmaxScratchBytes` bytes where workers = min(threads, outHeight).
    public static func upsampleArgmax(_ x: UnsafePointer<Float>, channels: Int, stride: Int, height: Int, width: Int,
                                      outHeight: Int, outWidth: Int, alignCorners: Bool,
                                      labels: UnsafeMutablePointer<UInt8>, scratch: UnsafeMutableRawPointer,
                                      context: ExecutionContext, isa: seg_isa? = nil, name: String = "upsample_argmax") {
        precondition(channels >= 1 && channels <= 256 && stride >= channels)
        let bytes = upsampleArgmaxScratchBytes(channels: channels, width: width, outWidth: outWidth)
        context.measure(name) {
            let workers = min(context.threads, outHeight)
            context.parallel(workers) { t in
                let r = ExecutionContext.split(outHeight, parts: workers, index: t)
                let s = scratch + t * bytes
                if let isa {
                    seg_qu8_upsample_argmax_isa(isa, x, channels, stride, height, width, labels, outHeight, outWidth,
                                                alignCorners ? 1 : 0, r.lowerBound, r.upperBound, s)
                } else {
                    seg_qu8_upsample_argmax(x, channels, stride, height, width, labels, outHeight, outWidth,
                                            alignCorners ? 1 : 0, r.lowerBound, r.upperBound, s)
                }
            }
        }
    }

    /// fp32 CHW from u8 NHWC.
    public static func dequantize(_ x: QTensor, into y: Tensor, context: ExecutionContext, name: String = "dequantize") {
        precondition(x.channels == y.channels && x.height == y.height && x.width == y.width)
        let s = x.params.scale, zp = Float(x.params.zeroPoint)
        context.measure(name) {
            rows(x.height, context, minRowsPerWorker: 8) { r in
                let c = x.channels, w = x.width, hw = y.planeSize, src = x.data, dst = y.data, st = x.pixelStride
                for i in r {
                    for j in 0..<w {
                        let p = i * w + j
                        let q = src + p * st
                        for k in 0..<c { dst[k * hw + p] = s * (Float(q[k]) - zp) }
                    }
                }
            }
        }
    }

    /// fp32 NHWC (pixel stride `stride` floats) → CHW.
    public static func toCHW(_ x: UnsafePointer<Float>, stride: Int, into y: Tensor) {
        let c = y.channels, hw = y.planeSize, dst = y.data
        for p in 0..<hw { for k in 0..<c { dst[k * hw + p] = x[p * stride + k] } }
    }

    /// fp32 CHW → NHWC (pixel stride `stride` floats).
    public static func toNHWC(_ x: Tensor, into y: UnsafeMutablePointer<Float>, stride: Int) {
        let c = x.channels, hw = x.planeSize, src = x.data
        for p in 0..<hw { for k in 0..<c { y[p * stride + k] = src[k * hw + p] } }
    }
}
