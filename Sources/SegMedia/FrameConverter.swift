import CFFmpeg
import CSegKernels
import SegEngine

/// An 8-bit image in tightly packed rows (`rowStride == width × channels`).
public struct Image8: Sendable, Equatable {
    public enum Layout: Sendable, Hashable {
        /// One byte per pixel (train ids, masks).
        case gray8
        /// Packed R, G, B.
        case rgb24
        public var channels: Int { self == .gray8 ? 1 : 3 }
        var avFormat: AVPixelFormat { self == .gray8 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24 }
    }
    public var width: Int
    public var height: Int
    public var layout: Layout
    public var pixels: [UInt8]
    public init(width: Int, height: Int, layout: Layout, pixels: [UInt8]) {
        precondition(pixels.count == width * height * layout.channels, "Image8: pixel count does not match the size")
        self.width = width; self.height = height; self.layout = layout; self.pixels = pixels
    }
    public init(width: Int, height: Int, layout: Layout) {
        self.init(width: width, height: height, layout: layout, pixels: [UInt8](repeating: 0, count: width * height * layout.channels))
    }
    public var rowStride: Int { width * layout.channels }
}

/// Resampling filter for size changes (swscale flags). Format-only conversions at the same size are exact
/// copies or plain colour conversion whatever the filter.
public enum ScaleQuality: Sendable, Hashable {
    /// `SWS_FAST_BILINEAR`: fastest, slightly blurrier chroma.
    case fastBilinear
    /// `SWS_BILINEAR`: the default for the network input and the overlay.
    case bilinear
    /// `SWS_AREA`: best for large downscales (e.g. 4K → 1024×512).
    case area
    /// `SWS_BICUBIC`.
    case bicubic
    var swsFlags: Int32 {
        switch self {
        case .fastBilinear: SWS_FAST_BILINEAR
        case .bilinear: SWS_BILINEAR
        case .area: SWS_AREA
        case .bicubic: SWS_BICUBIC
        }
    }
}

/// YUV↔RGB matrix and range of one side of a conversion.
struct ColorDetails: Equatable {
    var matrix: Int32       // SWS_CS_* (= AVColorSpace values)
    var fullRange: Bool
    static let rgb = ColorDetails(matrix: SWS_CS_DEFAULT, fullRange: true)
    /// What an encoder output in limited-range BT.709 uses.
    static let bt709Limited = ColorDetails(matrix: SWS_CS_ITU709, fullRange: false)

    /// Luma and blue weights (Kr, Kb) of the matrix; unknown ones read as BT.601.
    var lumaWeights: (kr: Double, kb: Double) {
        switch matrix {
        case SWS_CS_ITU709: (0.2126, 0.0722)
        case SWS_CS_FCC: (0.30, 0.11)
        case SWS_CS_SMPTE240M: (0.212, 0.087)
        case SWS_CS_BT2020, Int32(AVCOL_SPC_BT2020_CL.rawValue): (0.2627, 0.0593)
        default: (0.299, 0.114)
        }
    }

    /// `seg_yuv420_affine`'s Q16 coefficients from YUV in these colours to YUV in `target`'s, or nil when the two
    /// are the same.
    func yuvAffine(to target: ColorDetails) -> [Int32]? {
        let from = lumaWeights, to = target.lumaWeights
        if from == to && fullRange == target.fullRange { return nil }
        // Bytes to unit luma and ±0.5 chroma, and back.
        let inY = fullRange ? 255.0 : 219.0, inC = fullRange ? 255.0 : 224.0, inY0 = fullRange ? 0.0 : 16.0
        let outY = target.fullRange ? 255.0 : 219.0, outC = target.fullRange ? 255.0 : 224.0, outY0 = target.fullRange ? 0.0 : 16.0
        func rgb(_ y: Double, _ cb: Double, _ cr: Double) -> (Double, Double, Double) {
            let r = y + 2 * (1 - from.kr) * cr, b = y + 2 * (1 - from.kb) * cb
            return (r, (y - from.kr * r - from.kb * b) / (1 - from.kr - from.kb), b)
        }
        func yuv(_ c: (Double, Double, Double)) -> (Double, Double, Double) {
            let y = to.kr * c.0 + (1 - to.kr - to.kb) * c.1 + to.kb * c.2
            return (y, (c.2 - y) / (2 * (1 - to.kb)), (c.0 - y) / (2 * (1 - to.kr)))
        }
        // The linear map's columns: what unit luma, unit Cb and unit Cr become.
        let ly = yuv(rgb(1, 0, 0)), lb = yuv(rgb(0, 1, 0)), lr = yuv(rgb(0, 0, 1))
        func q(_ v: Double) -> Int32 { Int32((v * 65536).rounded()) }
        // Y' = outY0 + outY·(ly.0·(Y − inY0)/inY + lb.0·c0/inC + lr.0·c1/inC); chroma alike around 128.
        let yy = outY * ly.0 / inY
        return [q(yy), q(outY * lb.0 / inC), q(outY * lr.0 / inC), q(outY0 - yy * inY0),
                0, q(outC * lb.1 / inC), q(outC * lr.1 / inC), q(128),
                0, q(outC * lb.2 / inC), q(outC * lr.2 / inC), q(128)]
    }

    /// The frame's own tags; untagged YUV is BT.709 from 720 lines up, BT.601 below (what players assume).
    static func of(_ f: UnsafePointer<AVFrame>) -> ColorDetails {
        let fmt = AVPixelFormat(rawValue: f.pointee.format)
        var m = Int32(bitPattern: f.pointee.colorspace.rawValue)
        if m == AVCOL_SPC_UNSPECIFIED.rawValue || m == AVCOL_SPC_RGB.rawValue || m == AVCOL_SPC_RESERVED.rawValue || m > 14 {
            m = f.pointee.height >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601
        }
        let jpeg = fmt == AV_PIX_FMT_YUVJ420P || fmt == AV_PIX_FMT_YUVJ422P || fmt == AV_PIX_FMT_YUVJ444P || fmt == AV_PIX_FMT_YUVJ440P
            || fmt == AV_PIX_FMT_YUVJ411P
        return ColorDetails(matrix: m, fullRange: jpeg || f.pointee.color_range == AVCOL_RANGE_JPEG)
    }
}

/// One `SwsContext`, re-created only when the source or destination geometry/format changes (mid-stream
/// resolution changes just work). Internal; single owner.
final class Scaler {
    private struct Key: Equatable {
        var srcW: Int32, srcH: Int32, srcFmt: Int32, dstW: Int32, dstH: Int32, dstFmt: Int32, flags: Int32
        var srcColor: ColorDetails, dstColor: ColorDetails
    }
    private var ctx: OpaquePointer?
    private var key: Key?
    /// How many times a context was (re)built: 1 for a steady stream, +1 per resolution change.
    private(set) var rebuilds = 0

    deinit { sws_freeContext(ctx) }

    func scale(src: UnsafePointer<UnsafePointer<UInt8>?>, srcStride: UnsafePointer<Int32>, srcW: Int, srcH: Int,
               srcFormat: AVPixelFormat, srcColor: ColorDetails,
               dst: UnsafePointer<UnsafeMutablePointer<UInt8>?>, dstStride: UnsafePointer<Int32>, dstW: Int, dstH: Int,
               dstFormat: AVPixelFormat, dstColor: ColorDetails, flags: Int32) throws {
        let k = Key(srcW: Int32(srcW), srcH: Int32(srcH), srcFmt: srcFormat.rawValue, dstW: Int32(dstW), dstH: Int32(dstH),
                    dstFmt: dstFormat.rawValue, flags: flags, srcColor: srcColor, dstColor: dstColor)
        if k != key {
            ctx = sws_getCachedContext(ctx, k.srcW, k.srcH, srcFormat, k.dstW, k.dstH, dstFormat, flags, nil, nil, nil)
            guard ctx != nil else {
                key = nil
                throw MediaError(.internalError, "cannot convert \(srcFormat.name) \(srcW)x\(srcH) to \(dstFormat.name) \(dstW)x\(dstH)",
                                 detail: "sws_getContext failed")
            }
            // Matrix and range (ignored by swscale for RGB↔RGB); brightness 0, contrast and saturation 1.0 (16.16).
            _ = sws_setColorspaceDetails(ctx, sws_getCoefficients(srcColor.matrix), srcColor.fullRange ? 1 : 0,
                                         sws_getCoefficients(dstColor.matrix), dstColor.fullRange ? 1 : 0, 0, 1 << 16, 1 << 16)
            key = k
            rebuilds += 1
        }
        let h = sws_scale(ctx, src, srcStride, 0, Int32(srcH), dst, dstStride)
        if h <= 0 { throw MediaError(.internalError, "sws_scale failed", code: h < 0 ? h : nil) }
    }

    /// Scales a decoded frame.
    func scale(frame f: UnsafeMutablePointer<AVFrame>, dst: UnsafePointer<UnsafeMutablePointer<UInt8>?>, dstStride: UnsafePointer<Int32>,
               dstW: Int, dstH: Int, dstFormat: AVPixelFormat, dstColor: ColorDetails, flags: Int32) throws {
        let color = ColorDetails.of(f)
        try withFramePlanes(f) { data, stride in
            try scale(src: data, srcStride: stride, srcW: Int(f.pointee.width), srcH: Int(f.pointee.height),
                      srcFormat: AVPixelFormat(rawValue: f.pointee.format), srcColor: color,
                      dst: dst, dstStride: dstStride, dstW: dstW, dstH: dstH, dstFormat: dstFormat, dstColor: dstColor, flags: flags)
        }
    }
}

/// Lends an AVFrame's `data`/`linesize` arrays as the pointer types swscale takes.
func withFramePlanes<R>(_ f: UnsafeMutablePointer<AVFrame>,
                        _ body: (UnsafePointer<UnsafePointer<UInt8>?>, UnsafePointer<Int32>) throws -> R) rethrows -> R {
    let dataOffset = MemoryLayout<AVFrame>.offset(of: \AVFrame.data)!
    let strideOffset = MemoryLayout<AVFrame>.offset(of: \AVFrame.linesize)!
    let base = UnsafeRawPointer(f)
    return try body((base + dataOffset).assumingMemoryBound(to: UnsafePointer<UInt8>?.self),
                    (base + strideOffset).assumingMemoryBound(to: Int32.self))
}

func withMutableFramePlanes<R>(_ f: UnsafeMutablePointer<AVFrame>,
                               _ body: (UnsafePointer<UnsafeMutablePointer<UInt8>?>, UnsafePointer<Int32>) throws -> R) rethrows -> R {
    let dataOffset = MemoryLayout<AVFrame>.offset(of: \AVFrame.data)!
    let strideOffset = MemoryLayout<AVFrame>.offset(of: \AVFrame.linesize)!
    let base = UnsafeRawPointer(f)
    return try body((base + dataOffset).assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self),
                    (base + strideOffset).assumingMemoryBound(to: Int32.self))
}

/// A 64-byte-aligned scratch buffer of `count` bytes (av_malloc), grown on demand.
final class AlignedBuffer {
    private(set) var pointer: UnsafeMutablePointer<UInt8>?
    private(set) var capacity = 0
    deinit { av_free(pointer) }
    func reserve(_ bytes: Int) -> UnsafeMutablePointer<UInt8> {
        if bytes > capacity {
            av_free(pointer)
            pointer = av_malloc(bytes + 64)?.assumingMemoryBound(to: UInt8.self)
            guard pointer != nil else { fatalError("av_malloc(\(bytes)): out of memory") }
            capacity = bytes
        }
        return pointer!
    }
    func release() {
        av_free(pointer)
        pointer = nil
        capacity = 0
    }
}

/// Converts decoded frames (any pixel format, any size, changing mid-stream) to what segstream needs:
/// 8-bit R, G, B planes at the network's size (the network's pixels, which `SFNet.InputRule` normalises) and
/// RGB24 at the frame's own size (the overlay). Keeps one swscale context per use and reuses its buffers across frames. Single owner.
public final class FrameConverter {
    public let quality: ScaleQuality
    private let networkScaler = Scaler()
    private let imageScaler = Scaler()
    private let networkScratch = PixelPlanes()
    private let rgbScratch = AlignedBuffer()
    private let yuvScaler = Scaler()
    /// The last source colours and their matrix change to BT.709 limited (nil: none needed), kept so that a stream
    /// does not work them out again frame after frame.
    private var yuvAffine: (source: ColorDetails, coefficients: [Int32]?)?

    /// Packed RGB output interpolates chroma horizontally (`SWS_FULL_CHR_H_INT`): without it swscale's packed
    /// RGB writers reuse one chroma sample per pixel pair, which rings at colour edges (measured: up to 132
    /// levels off next to testsrc2's bars) and differs from the planar paths. With it, RGB24 == GBRP exactly.
    private var rgbFlags: Int32 { quality.swsFlags | SWS_FULL_CHR_H_INT }

    public init(quality: ScaleQuality = .bilinear) {
        MediaLibrary.ensureInitialized()
        self.quality = quality
    }

    /// Context (re)builds so far, both uses together (tests check that a resolution change rebuilds).
    public var scalerRebuilds: Int { networkScaler.rebuilds + imageScaler.rebuilds + yuvScaler.rebuilds }

    /// Writes `frame` into `planes` as limited-range BT.709 YUV 4:2:0, scaled to the planes' size: the picture
    /// the annotated video is drawn on. A frame already in that format and size is copied as it is.
    ///
    /// swscale converts RGB to YUV in any matrix, but between two YUV formats it changes only the layout and size,
    /// never the matrix: a YUV frame is laid out and sized in its own colours, then its matrix and range are
    /// changed by `seg_yuv420_affine` (exact per chroma sample; each pixel's luma uses its sample's chroma).
    public func convertToYUV420(_ frame: VideoFrame, into planes: YUV420Planes) throws {
        let f = frame.raw
        let isRGB = av_pix_fmt_desc_get(frame.pixelFormat).map { $0.pointee.flags & UInt64(AV_PIX_FMT_FLAG_RGB) != 0 } ?? false
        let source = isRGB ? ColorDetails.rgb : ColorDetails.of(f)
        try withFramePlanes(f) { src, srcStride in
            try planes.withDestination { data, stride in
                try yuvScaler.scale(src: src, srcStride: srcStride, srcW: frame.width, srcH: frame.height,
                                    srcFormat: frame.pixelFormat, srcColor: source, dst: data, dstStride: stride,
                                    dstW: planes.width, dstH: planes.height, dstFormat: AV_PIX_FMT_YUV420P,
                                    dstColor: isRGB ? .bt709Limited : source, flags: quality.swsFlags)
            }
        }
        if yuvAffine?.source != source { yuvAffine = (source, isRGB ? nil : source.yuvAffine(to: .bt709Limited)) }
        if let k = yuvAffine?.coefficients {
            seg_yuv420_affine(planes.y, planes.lumaStride, planes.u, planes.v, planes.chromaStride, planes.width, planes.height, k)
        }
    }

    /// Writes `frame` as packed RGB24 scaled to `width`×`height` into `dst` (`rowStride` bytes per row,
    /// at least `3 × width`).
    public func convertToRGB24(_ frame: VideoFrame, width: Int, height: Int,
                               into dst: UnsafeMutablePointer<UInt8>, rowStride: Int) throws {
        precondition(width > 0 && height > 0 && rowStride >= 3 * width, "convertToRGB24: bad destination geometry")
        if width != frame.width || height != frame.height {
            // Scaling straight to packed RGB with full chroma interpolation is swscale's slow path (1080p →
            // 1024×512: 9.7 ms vs 2.3 ms measured); planar GBRP + interleave gives identical bytes.
            try networkRGB24(frame, width: width, height: height, into: dst, rowStride: rowStride)
            return
        }
        // swscale's packed RGB24 writer stores whole SIMD blocks and can run past the end of a row (measured:
        // a 200-pixel-wide frame overwrote the bytes after a tightly sized buffer). It writes into a scratch
        // buffer with 64-byte-aligned rows and slack, and the rows are copied out.
        let stride = (3 * width + 63) & ~63
        let base = rgbScratch.reserve(stride * height)
        var planes: [UnsafeMutablePointer<UInt8>?] = [base, nil, nil, nil]
        var strides: [Int32] = [Int32(stride), 0, 0, 0]
        try imageScaler.scale(frame: frame.raw, dst: &planes, dstStride: &strides, dstW: width, dstH: height,
                              dstFormat: AV_PIX_FMT_RGB24, dstColor: .rgb, flags: rgbFlags)
        for y in 0..<height { (dst + y * rowStride).update(from: base + y * stride, count: 3 * width) }
    }

    /// The network's input pixels: `frame` scaled to `width`×`height` (any size, its own included) as packed
    /// RGB24: `withNetworkPlanes`' planes, interleaved.
    public func networkRGB24(_ frame: VideoFrame, width: Int, height: Int,
                             into dst: UnsafeMutablePointer<UInt8>, rowStride: Int) throws {
        precondition(width > 0 && height > 0 && rowStride >= 3 * width, "networkRGB24: bad destination geometry")
        try withNetworkPlanes(frame, width: width, height: height) { r, g, b, stride in
            for y in 0..<height {
                let o = dst + y * rowStride, ro = r + y * stride, go = g + y * stride, bo = b + y * stride
                for x in 0..<width {
                    o[3 * x] = ro[x]; o[3 * x + 1] = go[x]; o[3 * x + 2] = bo[x]
                }
            }
        }
    }

    /// The network's input pixels as three 8-bit planes: `frame` scaled to `width`×`height` (any size, its own
    /// included) by `scaleNetworkPlanes` into the converter's own planes. The R, G and B planes (rows `stride`
    /// bytes apart) are lent to `body` and stay valid until the converter's next call. `SFNet.InputRule`
    /// normalises them.
    public func withNetworkPlanes<R>(_ frame: VideoFrame, width: Int, height: Int,
                                     _ body: (_ r: UnsafePointer<UInt8>, _ g: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>,
                                              _ stride: Int) throws -> R) throws -> R {
        let p = networkScratch
        try scaleNetworkPlanes(frame, width: width, height: height, into: p)
        return try body(p.red, p.green, p.blue, p.rowStride)
    }

    /// The network's input pixels written straight into `planes` (resized to `width`×`height`): `frame`
    /// scaled by swscale into planar GBRP, always the same path, so the bytes do not depend on whether the
    /// size changes or on where the planes live.
    public func scaleNetworkPlanes(_ frame: VideoFrame, width: Int, height: Int, into planes: PixelPlanes) throws {
        precondition(width > 0 && height > 0, "scaleNetworkPlanes: empty size")
        planes.resize(width: width, height: height)
        var dst: [UnsafeMutablePointer<UInt8>?] = [planes.green, planes.blue, planes.red, nil]
        let stride = Int32(planes.rowStride)
        var strides: [Int32] = [stride, stride, stride, 0]
        try networkScaler.scale(frame: frame.raw, dst: &dst, dstStride: &strides, dstW: width, dstH: height,
                                dstFormat: AV_PIX_FMT_GBRP, dstColor: .rgb, flags: quality.swsFlags)
    }

    /// The frame as RGB24 at its own size (for the overlay), or at `width`×`height` when given.
    public func rgb24(_ frame: VideoFrame, width: Int? = nil, height: Int? = nil) throws -> Image8 {
        let w = width ?? frame.width, h = height ?? frame.height
        var image = Image8(width: w, height: h, layout: .rgb24)
        try image.pixels.withUnsafeMutableBufferPointer { buf in
            try convertToRGB24(frame, width: w, height: h, into: buf.baseAddress!, rowStride: 3 * w)
        }
        return image
    }

    /// Converts into `image` (RGB24), reallocating its pixels only when the size changes: the allocation-free
    /// form of `rgb24(_:)` for a per-frame overlay (1080p: 1.5 ms vs 4 ms with a fresh array).
    public func convertToRGB24(_ frame: VideoFrame, into image: inout Image8) throws {
        if image.width != frame.width || image.height != frame.height || image.layout != .rgb24 {
            image = Image8(width: frame.width, height: frame.height, layout: .rgb24)
        }
        let (w, h) = (image.width, image.height)
        try image.pixels.withUnsafeMutableBufferPointer { buf in
            try convertToRGB24(frame, width: w, height: h, into: buf.baseAddress!, rowStride: 3 * w)
        }
    }

    /// The frame as 8-bit gray at its own size (label images).
    public func gray8(_ frame: VideoFrame) throws -> Image8 {
        var image = Image8(width: frame.width, height: frame.height, layout: .gray8)
        try image.pixels.withUnsafeMutableBufferPointer { buf in
            var planes: [UnsafeMutablePointer<UInt8>?] = [buf.baseAddress!, nil, nil, nil]
            var strides: [Int32] = [Int32(frame.width), 0, 0, 0]
            try imageScaler.scale(frame: frame.raw, dst: &planes, dstStride: &strides, dstW: frame.width, dstH: frame.height,
                                  dstFormat: AV_PIX_FMT_GRAY8, dstColor: .rgb, flags: quality.swsFlags)
        }
        return image
    }
}
