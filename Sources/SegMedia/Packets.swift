import CFFmpeg

/// An owned `AVPacket` (refcounted payload) plus the time base its timestamps are in. Used to pass compressed
/// audio from `VideoSource` to `VideoWriter` for stream copy. Single owner (see Core.swift).
public final class MediaPacket: @unchecked Sendable {
    let raw: UnsafeMutablePointer<AVPacket>
    /// Time base of `pts`/`dts`/`duration` (the input stream's).
    public let timeBase: Rational

    /// Takes over the payload of `packet` (which is left blank).
    init(moving packet: UnsafeMutablePointer<AVPacket>, timeBase: Rational) {
        guard let p = av_packet_alloc() else { fatalError("av_packet_alloc: out of memory") }
        av_packet_move_ref(p, packet)
        raw = p
        self.timeBase = timeBase
    }
    deinit { var p: UnsafeMutablePointer<AVPacket>? = raw; av_packet_free(&p) }

    public var pts: MediaTime? { raw.pointee.pts == FF.noPTS ? nil : MediaTime(value: raw.pointee.pts, timeBase: timeBase) }
    public var dts: MediaTime? { raw.pointee.dts == FF.noPTS ? nil : MediaTime(value: raw.pointee.dts, timeBase: timeBase) }
    public var size: Int { Int(raw.pointee.size) }
}

/// The parameters of the input's audio stream, for stream copy into `VideoWriter` (owns an `AVCodecParameters`).
public final class AudioStreamInfo: @unchecked Sendable {
    let parameters: UnsafeMutablePointer<AVCodecParameters>
    /// Time base of the packets `VideoSource` hands out for this stream.
    public let timeBase: Rational
    /// e.g. "aac", "opus", "pcm_s16le".
    public let codecName: String
    public let sampleRate: Int
    public let channels: Int

    init(copying par: UnsafePointer<AVCodecParameters>, timeBase: Rational) {
        guard let p = avcodec_parameters_alloc() else { fatalError("avcodec_parameters_alloc: out of memory") }
        _ = avcodec_parameters_copy(p, par)
        parameters = p
        self.timeBase = timeBase
        codecName = avcodec_get_name(par.pointee.codec_id).map { String(cString: $0) } ?? "unknown"
        sampleRate = Int(par.pointee.sample_rate)
        channels = Int(par.pointee.ch_layout.nb_channels)
    }
    deinit { var p: UnsafeMutablePointer<AVCodecParameters>? = parameters; avcodec_parameters_free(&p) }
}

/// One reusable `AVPacket` (internal; unref after each use).
final class PacketBox {
    let raw: UnsafeMutablePointer<AVPacket>
    init() {
        guard let p = av_packet_alloc() else { fatalError("av_packet_alloc: out of memory") }
        raw = p
    }
    deinit { var p: UnsafeMutablePointer<AVPacket>? = raw; av_packet_free(&p) }
    func unref() { av_packet_unref(raw) }
}

/// One owned `AVFrame` (internal building block).
final class FrameBox {
    let raw: UnsafeMutablePointer<AVFrame>
    init() {
        guard let f = av_frame_alloc() else { fatalError("av_frame_alloc: out of memory") }
        raw = f
    }
    deinit { var f: UnsafeMutablePointer<AVFrame>? = raw; av_frame_free(&f) }
    func unref() { av_frame_unref(raw) }
}

/// An owned `AVCodecContext` (internal).
final class CodecContext {
    let raw: UnsafeMutablePointer<AVCodecContext>
    init(codec: UnsafePointer<AVCodec>) throws {
        guard let c = avcodec_alloc_context3(codec) else {
            throw MediaError(.internalError, "avcodec_alloc_context3 failed")
        }
        raw = c
    }
    deinit { var c: UnsafeMutablePointer<AVCodecContext>? = raw; avcodec_free_context(&c) }
}
