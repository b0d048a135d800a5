import CFFmpeg
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// H.264 (libx264) encoder settings.
public struct EncoderSettings: Sendable {
    /// x264 preset: ultrafast … veryslow.
    public var preset = "veryfast"
    /// Constant rate factor (0–51, lower is better).
    public var crf = 23.0
    /// Keyframe interval in frames (`g`); nil = about 2 s at the nominal frame rate (250 when unknown).
    public var gopSize: Int? = nil
    /// x264 tune (e.g. "zerolatency" for live outputs), nil = none.
    public var tune: String? = nil
    /// Encoder threads, 0 = auto.
    public var threads = 0
    /// MP4/MOV: a classic file with the index at the front, written by `finish()` (rewrites the file once).
    /// Setting it turns `fragmented` off: such a file plays only once `finish()` has run, so a hard kill
    /// (SIGKILL, power loss, OOM) leaves nothing playable.
    public var faststart = false {
        didSet { if faststart { fragmented = false } }
    }
    /// MP4/MOV: fragmented output (`frag_keyframe+delay_moov+default_base_moof`, a fragment at every keyframe
    /// and at least every `flushInterval`), flushed to the file as each fragment ends, so that a killed process
    /// leaves a file that plays up to the last fragment. On by default (crash safety); `faststart` turns it off.
    public var fragmented = true
    /// Crash safety for every container: the longest stretch of media (seconds) held in memory before it
    /// reaches the file. MP4/MOV: the fragment duration (with `fragmented`); Matroska/WebM: the cluster time
    /// limit. Each muxed packet is flushed to the file (`flush_packets`), so a hard kill loses at most this
    /// much plus the encoder's lookahead. nil = the muxers' own defaults (MKV clusters of 5 s or 5 MiB).
    public var flushInterval: Double? = 1
    /// Shift every timestamp (video and audio alike) so the first video frame is at 0, as ffmpeg does by
    /// default: an MPEG-TS or RTSP source starting at 1.4 s would otherwise open with a 1.4 s gap. Deltas
    /// (variable frame rate) and A/V sync are untouched. Off = keep absolute source timestamps.
    public var startAtZero = true
    /// Extra private options for libx264 (e.g. `["x264-params": "keyint=60"]`).
    public var codecOptions: [String: String] = [:]
    public init() {}

    /// libx264's presets, fastest first (x264's `x264_preset_names`).
    public static let x264Presets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                                     "veryslow", "placebo"]
    /// libx264's tunes (`x264_tune_names`); several may be joined with commas.
    public static let x264Tunes = ["film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency"]
}

/// Encodes RGB24 (or decoded) frames to H.264 yuv420p and muxes them with optional stream-copied audio.
/// The container follows the output extension (mp4, mov, mkv, …) unless `format` is given.
///
/// - Size: the output is `width`×`height` rounded *down* to even (yuv420p needs even sizes): an odd last
///   column/row is cropped, never scaled (721×405 → 720×404). Frames of another size (a mid-stream resolution
///   change) are scaled to the output size, bilinear.
/// - Timestamps: each frame's `MediaTime` is rescaled into the encoder time base (the `timeBase` given here,
///   normally the source stream's), so source timestamps and variable frame rate are kept. A timestamp not
///   after the previous one is bumped by one tick and counted in `adjustedTimestamps`.
/// - Files: the real output file is written from the start (no temp + rename), so that on SIGINT `finish()`
///   leaves a playable partial video at the path the user asked for; and by default (`fragmented`,
///   `flushInterval`) a hard kill too leaves a file that plays up to about a second before the kill. If opening fails (bad path, unknown
///   extension, header write error) nothing is left behind. The trailer is written by `finish()`, which is
///   idempotent, safe on error paths, and also run by `deinit` if the caller forgot.
///
/// Single owner (see Core.swift).
public final class VideoWriter: @unchecked Sendable {
    public let path: String
    public let outputWidth: Int
    public let outputHeight: Int
    /// The encoder time base (what frame timestamps are rescaled into).
    public let timeBase: Rational
    /// Whether the audio stream given at init is being copied; nil reason when it is.
    public private(set) var audioSkippedReason: String?
    public private(set) var framesWritten = 0
    public private(set) var audioPacketsWritten = 0
    /// Audio packets dropped because they end before the first video frame (with `startAtZero`).
    public private(set) var audioPacketsTrimmed = 0
    public private(set) var adjustedTimestamps = 0
    public private(set) var isFinished = false

    private var formatContext: UnsafeMutablePointer<AVFormatContext>?
    private let encoder: CodecContext
    private let videoStream: UnsafeMutablePointer<AVStream>
    private var audioStream: UnsafeMutablePointer<AVStream>?
    private var audioInTimeBase = Rational(1, 1)
    /// aac_adtstoasc for ADTS AAC into a (fragmented) MP4; nil when not needed.
    private var audioFilter: UnsafeMutablePointer<AVBSFContext>?
    private let yuv = FrameBox()
    private let packet = PacketBox()
    private let audioPacket = PacketBox()
    private let scaler = Scaler()
    private let nominalRate: Rational?
    private let startAtZero: Bool
    /// The first video frame's source time (with `startAtZero`): subtracted from every timestamp.
    private var origin: MediaTime?
    /// Audio that arrived before the first video frame (the origin is not known yet).
    private var pendingAudio: [MediaPacket] = []
    private var lastPTS: Int64?
    /// The latest gap between input timestamps (encoder ticks): the duration given to packets that have none,
    /// so that MP4's last sample is not cut off by its edit list.
    private var lastFrameDuration: Int64 = 1

    /// Opens the output (creating the file and writing the header) or throws before any frame is encoded:
    /// `invalidArgument` for an unknown container / zero size, `ioError` for an unwritable path,
    /// `internalError` when libx264 is missing.
    /// - Parameters:
    ///   - timeBase: time base of the timestamps the frames will carry (the source stream's `timeBase`).
    ///   - frameRate: nominal rate (rate control and the default GOP only; never used for timestamps).
    ///   - format: container name (`ffmpeg -f`), overriding the extension; `path` "-" writes to stdout
    ///     (Matroska by default).
    ///   - audio: the source's audio stream to copy (`SourceInfo.audio`); skipped with `audioSkippedReason`
    ///     when the container cannot hold its codec.
    public init(path: String, width: Int, height: Int, timeBase: Rational, frameRate: Rational? = nil,
                audio: AudioStreamInfo? = nil, settings: EncoderSettings = EncoderSettings(), format: String? = nil) throws {
        MediaLibrary.ensureInitialized()
        self.path = path
        outputWidth = width & ~1
        outputHeight = height & ~1
        guard outputWidth >= 2, outputHeight >= 2 else {
            throw MediaError(.invalidArgument, "cannot create video", path: path, detail: "frame size \(width)x\(height) is too small")
        }
        guard timeBase.num > 0, timeBase.den > 0 else {
            throw MediaError(.invalidArgument, "cannot create video", path: path, detail: "invalid time base \(timeBase)")
        }
        self.timeBase = timeBase
        nominalRate = frameRate
        startAtZero = settings.startAtZero

        var oc: UnsafeMutablePointer<AVFormatContext>? = nil
        // "-" streams to stdout; a streamable container is needed there (MKV unless `format` says otherwise).
        let isPipe = path == "-"
        let url = isPipe ? "pipe:1" : path
        let rc = avformat_alloc_output_context2(&oc, nil, format ?? (isPipe ? "matroska" : nil), url)
        guard rc >= 0, let oc else {
            throw MediaError(.invalidArgument, "cannot choose a container for", path: path,
                             detail: "unknown output format (use .mp4, .mkv or .mov)")
        }
        var cleanup = true
        var ownsFileLocal = false
        defer {
            if cleanup {
                if oc.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 { avio_closep(&oc.pointee.pb) }
                avformat_free_context(oc)
                if ownsFileLocal { unlink(path) }
            }
        }

        guard let codec = avcodec_find_encoder_by_name("libx264") else {
            throw MediaError(.internalError, "cannot create video", path: path, detail: "FFmpeg has no libx264 encoder")
        }
        let enc = try CodecContext(codec: codec)
        let e = enc.raw
        e.pointee.width = Int32(outputWidth)
        e.pointee.height = Int32(outputHeight)
        e.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        e.pointee.time_base = timeBase.av
        e.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        e.pointee.colorspace = AVCOL_SPC_BT709
        e.pointee.color_primaries = AVCOL_PRI_BT709
        e.pointee.color_trc = AVCOL_TRC_BT709
        e.pointee.color_range = AVCOL_RANGE_MPEG
        e.pointee.thread_count = Int32(settings.threads)
        let fps = frameRate.flatMap { $0.doubleValue != nil ? $0 : nil }
        if let fps { e.pointee.framerate = fps.av }
        e.pointee.gop_size = Int32(settings.gopSize ?? fps.flatMap { $0.doubleValue.map { max(1, Int(($0 * 2).rounded())) } } ?? 250)
        if oc.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 {
            e.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        }
        // Checked here, before libx264 prints its own line about them.
        guard EncoderSettings.x264Presets.contains(settings.preset) else {
            throw MediaError(.invalidArgument, "unknown x264 preset", path: settings.preset,
                             detail: "use one of " + EncoderSettings.x264Presets.joined(separator: ", "))
        }
        if let tune = settings.tune, !tune.split(separator: ",").allSatisfy({ EncoderSettings.x264Tunes.contains(String($0)) }) {
            throw MediaError(.invalidArgument, "unknown x264 tune", path: tune,
                             detail: "use one of " + EncoderSettings.x264Tunes.joined(separator: ", "))
        }
        var codecOpts = ["preset": settings.preset, "crf": String(settings.crf)]
        if let t = settings.tune { codecOpts["tune"] = t }
        for (k, v) in settings.codecOptions { codecOpts[k] = v }
        let orc = withAVDictionary(codecOpts) { dict in avcodec_open2(e, codec, &dict) }
        if orc < 0 {
            throw MediaError(.invalidArgument, "cannot open the H.264 encoder for", path: path, code: orc)
        }

        guard let vs = avformat_new_stream(oc, nil) else { throw MediaError(.internalError, "avformat_new_stream failed") }
        vs.pointee.time_base = timeBase.av
        if let fps { vs.pointee.avg_frame_rate = fps.av }
        _ = avcodec_parameters_from_context(vs.pointee.codecpar, e)

        if let audio {
            let id = audio.parameters.pointee.codec_id
            if avformat_query_codec(oc.pointee.oformat, id, FF_COMPLIANCE_NORMAL) != 1 {
                audioSkippedReason = "the \(String(cString: oc.pointee.oformat.pointee.name)) container cannot hold \(audio.codecName) audio"
            } else if let st = avformat_new_stream(oc, nil) {
                _ = avcodec_parameters_copy(st.pointee.codecpar, audio.parameters)
                st.pointee.codecpar.pointee.codec_tag = 0
                st.pointee.time_base = audio.timeBase.av
                audioStream = st
                audioInTimeBase = audio.timeBase
                // ADTS AAC (MPEG-TS, raw .aac sources) has no AudioSpecificConfig. The MP4 muxer inserts
                // aac_adtstoasc itself for a classic file, but not in fragmented mode ("Malformed AAC
                // bitstream", EPERM): run the filter here.
                let isMOVOut = ["mp4", "mov", "ipod", "ismv", "psp", "3gp", "3g2"]
                    .contains(String(cString: oc.pointee.oformat.pointee.name))
                if id == AV_CODEC_ID_AAC && audio.parameters.pointee.extradata_size == 0 && isMOVOut,
                   let filter = av_bsf_get_by_name("aac_adtstoasc") {
                    var bsf: UnsafeMutablePointer<AVBSFContext>? = nil
                    if av_bsf_alloc(filter, &bsf) >= 0, let bsf {
                        _ = avcodec_parameters_copy(bsf.pointee.par_in, audio.parameters)
                        bsf.pointee.time_base_in = audio.timeBase.av
                        if av_bsf_init(bsf) >= 0 { audioFilter = bsf } else { var b: UnsafeMutablePointer<AVBSFContext>? = bsf; av_bsf_free(&b) }
                    }
                }
            }
        }

        // Create the file (checks writability before any work).
        if oc.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            let arc = avio_open(&oc.pointee.pb, url, AVIO_FLAG_WRITE)
            if arc < 0 { throw MediaError(.ioError, "cannot create output", path: path, code: arc) }
            ownsFileLocal = !isPipe   // from here on, a failed open removes the file
        }
        var muxOpts: [String: String] = [:]
        var movflags: [String] = []
        let muxer = String(cString: oc.pointee.oformat.pointee.name)
        let isMOV = ["mp4", "mov", "ipod", "ismv", "psp", "3gp", "3g2"].contains(muxer)
        let isMatroska = muxer == "matroska" || muxer == "webm"
        if settings.faststart { movflags.append("+faststart") }
        if settings.fragmented && !settings.faststart && isMOV {
            // delay_moov (not empty_moov): the index is written when the first fragment is cut, once every track's
            // first timestamp is known, so edit lists keep B-frame delay and audio priming exact.
            movflags.append("+frag_keyframe+delay_moov+default_base_moof")
            if let interval = settings.flushInterval { muxOpts["frag_duration"] = String(Int64(interval * 1_000_000)) }
        }
        if let interval = settings.flushInterval, isMatroska {
            muxOpts["cluster_time_limit"] = String(Int64(interval * 1000))   // ms
        }
        if !movflags.isEmpty { muxOpts["movflags"] = movflags.joined() }
        if settings.flushInterval != nil && !settings.faststart {
            muxOpts["flush_packets"] = "1"   // each packet the muxer emits goes to the file at once
        }
        let hrc = withAVDictionary(muxOpts) { dict in avformat_write_header(oc, &dict) }
        if hrc < 0 { throw MediaError(.ioError, "cannot write the header of", path: path, code: hrc) }

        // The reusable yuv420p input frame of the encoder.
        let f = yuv.raw
        f.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        f.pointee.width = Int32(outputWidth)
        f.pointee.height = Int32(outputHeight)
        let brc = av_frame_get_buffer(f, 0)
        if brc < 0 { throw MediaError(.internalError, "cannot allocate a frame for", path: path, code: brc) }

        cleanup = false
        formatContext = oc
        encoder = enc
        videoStream = vs
    }

    /// Throws `MediaError.invalidInput` (exit 65) when frames of this size (after rounding down to even)
    /// cannot be encoded: H.264 4:2:0 needs at least 2x2. For callers whose sizes come from the input.
    public static func checkFrameSize(width: Int, height: Int, input: String) throws {
        if width & ~1 < 2 || height & ~1 < 2 {
            throw MediaError(.invalidInput, "cannot encode the video of", path: input,
                             detail: "its \(width)x\(height) frames are too small for H.264 (at least 2x2)")
        }
    }

    deinit {
        if !isFinished { try? finish() }
        if audioFilter != nil { av_bsf_free(&audioFilter) }
        if let oc = formatContext {
            if oc.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 { avio_closep(&oc.pointee.pb) }
            avformat_free_context(oc)
        }
    }

    /// Encodes one packed RGB24 frame (`rowStride` bytes per row) shown at `pts`.
    public func write(rgb: UnsafePointer<UInt8>, width: Int, height: Int, rowStride: Int, pts: MediaTime) throws {
        precondition(width > 0 && height > 0 && rowStride >= 3 * width, "VideoWriter.write: bad frame geometry")
        try prepareFrame()
        // Same size as opened: crop the odd column/row (scale 1:1). Otherwise scale to the output size.
        let sameSize = (width & ~1) == outputWidth && (height & ~1) == outputHeight
        let srcW = sameSize ? outputWidth : width, srcH = sameSize ? outputHeight : height
        var src: [UnsafePointer<UInt8>?] = [rgb, nil, nil, nil]
        var stride: [Int32] = [Int32(rowStride), 0, 0, 0]
        try withMutableFramePlanes(yuv.raw) { data, linesize in
            try scaler.scale(src: &src, srcStride: &stride, srcW: srcW, srcH: srcH, srcFormat: AV_PIX_FMT_RGB24, srcColor: .rgb,
                             dst: data, dstStride: linesize, dstW: outputWidth, dstH: outputHeight,
                             dstFormat: AV_PIX_FMT_YUV420P, dstColor: .bt709Limited, flags: SWS_BILINEAR)
        }
        try encodePrepared(pts: pts)
    }

    /// Encodes one YUV 4:2:0 picture (limited-range BT.709, the encoder's own format: copied as it is when it
    /// has the output's size, else cropped or scaled like RGB input) shown at `pts`.
    public func write(_ picture: YUV420Planes, pts: MediaTime) throws {
        try prepareFrame()
        let sameSize = (picture.width & ~1) == outputWidth && (picture.height & ~1) == outputHeight
        try picture.withSource { src, stride in
            try withMutableFramePlanes(yuv.raw) { data, linesize in
                try scaler.scale(src: src, srcStride: stride, srcW: sameSize ? outputWidth : picture.width,
                                 srcH: sameSize ? outputHeight : picture.height, srcFormat: AV_PIX_FMT_YUV420P,
                                 srcColor: .bt709Limited, dst: data, dstStride: linesize, dstW: outputWidth, dstH: outputHeight,
                                 dstFormat: AV_PIX_FMT_YUV420P, dstColor: .bt709Limited, flags: SWS_BILINEAR)
            }
        }
        try encodePrepared(pts: pts)
    }

    /// Encodes an `Image8` (RGB24) shown at `pts`.
    public func write(_ image: Image8, pts: MediaTime) throws {
        precondition(image.layout == .rgb24, "VideoWriter.write: the image must be RGB24")
        try image.pixels.withUnsafeBufferPointer { buf in
            try write(rgb: buf.baseAddress!, width: image.width, height: image.height, rowStride: image.rowStride, pts: pts)
        }
    }

    /// Encodes a decoded frame directly (any pixel format; cropped/scaled like RGB input) at its own timestamp.
    public func write(_ frame: VideoFrame) throws {
        try prepareFrame()
        let f = frame.raw
        let sameSize = (frame.width & ~1) == outputWidth && (frame.height & ~1) == outputHeight
        let color = ColorDetails.of(f)
        try withFramePlanes(f) { srcData, srcStride in
            try withMutableFramePlanes(yuv.raw) { data, linesize in
                try scaler.scale(src: srcData, srcStride: srcStride, srcW: sameSize ? outputWidth : frame.width,
                                 srcH: sameSize ? outputHeight : frame.height, srcFormat: frame.pixelFormat, srcColor: color,
                                 dst: data, dstStride: linesize, dstW: outputWidth, dstH: outputHeight,
                                 dstFormat: AV_PIX_FMT_YUV420P, dstColor: .bt709Limited, flags: SWS_BILINEAR)
            }
        }
        try encodePrepared(pts: frame.timestamp)
    }

    /// Stream-copies one audio packet (from `VideoSource.takeAudioPackets()`), rescaling its timestamps.
    /// A no-op when audio is not being copied.
    public func writeAudio(_ packet: MediaPacket) throws {
        guard audioStream != nil, !isFinished, formatContext != nil else { return }
        if startAtZero && origin == nil {
            pendingAudio.append(packet)   // written once the first video frame fixes the origin
            return
        }
        try muxAudio(packet)
    }

    private func muxAudio(_ packet: MediaPacket) throws {
        guard let st = audioStream, let oc = formatContext else { return }
        let p = audioPacket.raw
        let rc = av_packet_ref(p, packet.raw)
        if rc < 0 { throw MediaError(.internalError, "cannot reference an audio packet", code: rc) }
        if let origin {
            let shift = av_rescale_q(origin.value, origin.timeBase.av, packet.timeBase.av)
            if p.pointee.pts != FF.noPTS {
                // Drop audio that ends before the first frame; keep what overlaps it (e.g. AAC priming at a
                // negative time, which the muxers handle with an edit list or a small shift).
                if p.pointee.pts + max(p.pointee.duration, 0) < shift {
                    av_packet_unref(p)
                    audioPacketsTrimmed += 1
                    return
                }
                p.pointee.pts -= shift
            }
            if p.pointee.dts != FF.noPTS { p.pointee.dts -= shift }
        }
        if let bsf = audioFilter {
            let frc = av_bsf_send_packet(bsf, p)   // takes the reference
            av_packet_unref(p)
            if frc < 0 { throw MediaError(.internalError, "cannot filter an audio packet for", path: path, code: frc) }
            while av_bsf_receive_packet(bsf, p) >= 0 { try writeAudioPacket(p, from: packet.timeBase, to: st, in: oc) }
            return
        }
        try writeAudioPacket(p, from: packet.timeBase, to: st, in: oc)
    }

    private func writeAudioPacket(_ p: UnsafeMutablePointer<AVPacket>, from timeBase: Rational,
                                  to st: UnsafeMutablePointer<AVStream>, in oc: UnsafeMutablePointer<AVFormatContext>) throws {
        av_packet_rescale_ts(p, timeBase.av, st.pointee.time_base)
        p.pointee.stream_index = st.pointee.index
        p.pointee.pos = -1
        let wrc = av_interleaved_write_frame(oc, p)   // takes the reference
        av_packet_unref(p)
        if wrc < 0 { throw MediaError(.ioError, "cannot write audio to", path: path, code: wrc) }
        audioPacketsWritten += 1
    }

    /// Flushes the encoder, writes the trailer and closes the file. Idempotent: later calls do nothing.
    /// Call it on every path (including errors and SIGINT) so the file is playable.
    public func finish() throws {
        if isFinished { return }
        isFinished = true
        guard let oc = formatContext else { return }
        var firstError: MediaError? = nil
        let src = avcodec_send_frame(encoder.raw, nil)
        if src >= 0 || src == FF.eof {
            do { try drainEncoder() } catch { firstError = error as? MediaError }
        }
        let trc = av_write_trailer(oc)
        if trc < 0, firstError == nil { firstError = MediaError(.ioError, "cannot write the trailer of", path: path, code: trc) }
        if oc.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            let crc = avio_closep(&oc.pointee.pb)
            if crc < 0, firstError == nil { firstError = MediaError(.ioError, "cannot close", path: path, code: crc) }
        }
        if let firstError { throw firstError }
    }

    // MARK: internals

    private func prepareFrame() throws {
        if isFinished { throw MediaError(.invalidArgument, "write after finish()", path: path) }
        let rc = av_frame_make_writable(yuv.raw)   // the encoder may still hold the previous buffer
        if rc < 0 { throw MediaError(.internalError, "av_frame_make_writable failed", code: rc) }
    }

    private func encodePrepared(pts: MediaTime) throws {
        var v = pts.timeBase == timeBase ? pts.value : av_rescale_q(pts.value, pts.timeBase.av, timeBase.av)
        if startAtZero {
            if origin == nil {
                origin = MediaTime(value: v, timeBase: timeBase)
                let queued = pendingAudio
                pendingAudio = []
                for p in queued { try muxAudio(p) }
            }
            v -= origin!.value
        }
        if let last = lastPTS {
            if v <= last {
                v = last + 1
                adjustedTimestamps += 1
            }
            lastFrameDuration = v - last
        } else if let fps = nominalRate, let d = fps.doubleValue, d > 0 {
            lastFrameDuration = max(1, av_rescale_q(1, AVRational(num: fps.den, den: fps.num), timeBase.av))
        }
        lastPTS = v
        yuv.raw.pointee.pts = v
        let rc = avcodec_send_frame(encoder.raw, yuv.raw)
        if rc < 0 { throw MediaError(.internalError, "cannot encode a frame for", path: path, code: rc) }
        framesWritten += 1
        try drainEncoder()
    }

    private func drainEncoder() throws {
        guard let oc = formatContext else { return }
        while true {
            let rc = avcodec_receive_packet(encoder.raw, packet.raw)
            if rc == FF.eagain || rc == FF.eof { return }
            if rc < 0 { throw MediaError(.internalError, "encoding failed for", path: path, code: rc) }
            if packet.raw.pointee.duration <= 0 { packet.raw.pointee.duration = lastFrameDuration }
            av_packet_rescale_ts(packet.raw, encoder.raw.pointee.time_base, videoStream.pointee.time_base)
            packet.raw.pointee.stream_index = videoStream.pointee.index
            let wrc = av_interleaved_write_frame(oc, packet.raw)
            packet.unref()
            if wrc < 0 { throw MediaError(.ioError, "cannot write video to", path: path, code: wrc) }
        }
    }
}
