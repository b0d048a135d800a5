import CFFmpeg
import CSegKernels

/// YUV 4:2:0 pictures to baseline JPEG through FFmpeg's `mjpeg` encoder (full-range 4:2:0, as JFIF wants).
/// `serve`'s status page encodes its snapshots with it, on request only (docs/http.md).
///
/// One encoder per size: a frame of another size re-opens it. Single owner (see Core.swift's threading rule).
public final class JPEGEncoder: @unchecked Sendable {
    /// 2 (best) … 31 (worst), FFmpeg's `qscale` for mjpeg; 5 keeps a 1280×720 street scene near 100 kB.
    public let quality: Int
    private var encoder: CodecContext?
    private var size: (width: Int, height: Int) = (0, 0)
    private let yuv = FrameBox()
    private let packet = PacketBox()
    private let scaler = Scaler()
    /// The encoder wants increasing timestamps, even for pictures that stand alone.
    private var pictures: Int64 = 0

    public init(quality: Int = 5) {
        precondition((2...31).contains(quality), "JPEG quality must be in 2...31")
        self.quality = quality
        MediaLibrary.ensureInitialized()
    }

    /// BT.709 limited range to JFIF's full-range BT.601 (`seg_yuv420_affine`'s coefficients).
    private static let toJFIF = ColorDetails.bt709Limited.yuvAffine(to: ColorDetails(matrix: SWS_CS_ITU601, fullRange: true))

    /// The JPEG file of one YUV 4:2:0 picture (limited-range BT.709, as the annotated frames are). Odd sizes lose
    /// their last column or row.
    public func encode(_ picture: YUV420Planes) throws -> [UInt8] {
        let w = picture.width & ~1, h = picture.height & ~1
        guard w >= 2, h >= 2 else {
            throw MediaError(.invalidArgument, "cannot encode a JPEG", detail: "bad image geometry \(picture.width)x\(picture.height)")
        }
        let e = try open(width: w, height: h)
        let rc = av_frame_make_writable(yuv.raw)
        if rc < 0 { throw MediaError(.internalError, "av_frame_make_writable failed", code: rc) }
        // swscale copies the planes (it never changes a YUV matrix); JFIF's full-range BT.601 is made after.
        try picture.withSource { src, stride in
            try withMutableFramePlanes(yuv.raw) { data, linesize in
                try scaler.scale(src: src, srcStride: stride, srcW: w, srcH: h, srcFormat: AV_PIX_FMT_YUV420P, srcColor: .bt709Limited,
                                 dst: data, dstStride: linesize, dstW: w, dstH: h, dstFormat: AV_PIX_FMT_YUVJ420P,
                                 dstColor: .bt709Limited, flags: SWS_BILINEAR)
            }
        }
        let f = yuv.raw
        if let k = Self.toJFIF {
            seg_yuv420_affine(f.pointee.data.0, Int(f.pointee.linesize.0), f.pointee.data.1, f.pointee.data.2,
                              Int(f.pointee.linesize.1), w, h, k)
        }
        // A fixed quantiser: every picture is a key frame with the same quality.
        f.pointee.quality = Int32(quality) * FF_QP2LAMBDA
        f.pointee.pts = pictures
        pictures += 1
        let src2 = avcodec_send_frame(e.raw, f)
        if src2 < 0 { throw MediaError(.internalError, "cannot encode a JPEG", code: src2) }
        let rrc = avcodec_receive_packet(e.raw, packet.raw)
        if rrc < 0 { throw MediaError(.internalError, "cannot encode a JPEG", code: rrc) }
        defer { packet.unref() }
        return Array(UnsafeBufferPointer(start: packet.raw.pointee.data, count: Int(packet.raw.pointee.size)))
    }

    private func open(width: Int, height: Int) throws -> CodecContext {
        if let encoder, size == (width, height) { return encoder }
        encoder = nil
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG) else {
            throw MediaError(.internalError, "cannot encode a JPEG", detail: "FFmpeg has no mjpeg encoder")
        }
        let context = try CodecContext(codec: codec)
        let e = context.raw
        e.pointee.width = Int32(width)
        e.pointee.height = Int32(height)
        e.pointee.pix_fmt = AV_PIX_FMT_YUVJ420P
        e.pointee.color_range = AVCOL_RANGE_JPEG
        e.pointee.time_base = AVRational(num: 1, den: 1)
        e.pointee.flags |= AV_CODEC_FLAG_QSCALE
        e.pointee.thread_count = 1
        let orc = avcodec_open2(e, codec, nil)
        if orc < 0 { throw MediaError(.internalError, "cannot open FFmpeg's mjpeg encoder", code: orc) }
        av_frame_unref(yuv.raw)
        yuv.raw.pointee.format = AV_PIX_FMT_YUVJ420P.rawValue
        yuv.raw.pointee.width = Int32(width)
        yuv.raw.pointee.height = Int32(height)
        let brc = av_frame_get_buffer(yuv.raw, 0)
        if brc < 0 { throw MediaError(.internalError, "cannot allocate a frame for a JPEG", code: brc) }
        encoder = context
        size = (width, height)
        return context
    }
}
