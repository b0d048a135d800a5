import CFFmpeg
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Lets another thread stop a blocking open/read of a `VideoSource` (FFmpeg's `AVIOInterruptCB`), and carries
/// the open/read deadlines. Safe to use from any thread.
public final class SourceInterrupter: @unchecked Sendable {
    let state: UnsafeMutablePointer<cffmpeg_interrupt>
    public init() {
        guard let s = cffmpeg_interrupt_new() else { fatalError("out of memory") }
        state = s
    }
    deinit { cffmpeg_interrupt_free(state) }
    /// Makes the current and every later blocking FFmpeg call of the source return (`MediaError.Kind.interrupted`).
    public func interrupt() { cffmpeg_interrupt_request_stop(state) }
    public var isInterrupted: Bool { cffmpeg_interrupt_stop_requested(state) != 0 }
    var timedOut: Bool { cffmpeg_interrupt_timed_out(state) != 0 }
    func arm(timeout: Double?) { cffmpeg_interrupt_arm(state, timeout.map { Int64($0 * 1_000_000) } ?? 0) }
}

/// What an input string names.
public enum InputKind: Sendable, Hashable {
    /// A local file path (also `file://` URLs).
    case file(String)
    /// `-` (standard input, fd 0) or `pipe:N`: a non-seekable byte stream read through FFmpeg's `pipe:`
    /// protocol. Needs a streamable container (MPEG-TS, MKV, fragmented MP4; `SourceOptions.format` if the
    /// probe cannot tell).
    case pipe(fd: Int32)
    /// A network URL FFmpeg opens (rtsp, rtmp, http(s), udp, tcp, srt, …).
    case network(url: String, scheme: String)
    /// A V4L2 capture device, `/dev/videoN` (or `v4l2:///dev/videoN`).
    case device(String)

    public init(_ input: String) {
        if input == "-" || input == "pipe:" { self = .pipe(fd: 0); return }
        if input.hasPrefix("pipe:"), let fd = Int32(input.dropFirst("pipe:".count)), fd >= 0 { self = .pipe(fd: fd); return }
        if input.hasPrefix("v4l2://") { self = .device(String(input.dropFirst("v4l2://".count))); return }
        if input.hasPrefix("/dev/video") { self = .device(input); return }
        if input.hasPrefix("file://") { self = .file(String(input.dropFirst("file://".count))); return }
        if let r = input.firstRange(of: "://") {
            self = .network(url: input, scheme: input[..<r.lowerBound].lowercased())
            return
        }
        self = .file(input)
    }
}

/// How to open a `VideoSource`. The defaults are the right ones for `segstream run`.
public struct SourceOptions: Sendable {
    /// Extra demuxer/protocol/device options for `avformat_open_input`; they override ours
    /// (e.g. `["video_size": "1280x720", "input_format": "mjpeg"]` for V4L2, `["rtsp_transport": "udp"]`).
    public var formatOptions: [String: String] = [:]
    /// Force an input format (`-f`), e.g. "mpegts" for stdin. nil = probe (V4L2 devices imply "v4l2").
    public var format: String? = nil
    /// Seconds allowed for opening and probing. nil = the default for the kind (15 s for network/devices, no
    /// limit for files and pipes); `.infinity` = no limit.
    public var openTimeout: Double? = nil
    /// Seconds a single packet read may block before the stream counts as dead (`MediaError.Kind.unavailable`).
    /// nil = the default for the kind (10 s for network/devices, no limit for files and pipes); `.infinity` =
    /// no limit.
    public var readTimeout: Double? = nil
    /// Decoder threads; 0 = auto (one per core).
    public var decoderThreads: Int = 0
    /// Keep the audio stream's packets (see `VideoSource.takeAudioPackets()`). Off by default so that a caller
    /// who never drains them does not accumulate memory.
    public var keepAudio: Bool = false
    /// Override the live/file classification (`VideoSource.isLive`).
    public var live: Bool? = nil
    public init() {}
}

/// Static facts about an opened source. Sizes and pixel format are those of the stream header; individual
/// frames may differ (mid-stream resolution changes): always use `VideoFrame.width/height`.
public struct SourceInfo: Sendable {
    public var input: String
    public var formatName: String
    public var codecName: String
    public var width: Int
    public var height: Int
    public var pixelFormatName: String
    /// The video stream's time base: `VideoFrame.timestamp.timeBase`.
    public var timeBase: Rational
    /// Informational only; never used to make timestamps while real ones exist.
    public var averageFrameRate: Rational
    public var realFrameRate: Rational
    /// Seconds, when the container knows it.
    public var duration: Double?
    /// `nb_frames` from the container, else duration × average frame rate; nil when unknown (live).
    public var estimatedFrameCount: Int?
    /// Live sources (network streams, devices) should be consumed with a drop-oldest policy; files with wait.
    public var isLive: Bool
    /// The first audio stream, when there is one (whether or not `keepAudio` is on).
    public var audio: AudioStreamInfo?
    /// Keys of `SourceOptions.formatOptions` that no demuxer/protocol/device recognised (worth a warning).
    public var unusedOptions: [String]
}

/// A decoded video frame: an owned `AVFrame` (its pixel buffers are refcounted from the decoder's pool) plus
/// its presentation time. Single owner; convert it with `FrameConverter` or encode it with `VideoWriter`.
public final class VideoFrame: @unchecked Sendable {
    let raw: UnsafeMutablePointer<AVFrame>
    /// Presentation time in the stream time base (from `best_effort_timestamp`).
    public let timestamp: MediaTime
    /// True when the decoder gave no timestamp and this one was extrapolated from the previous frame and the
    /// stream's frame rate (counted in `VideoSource.synthesizedTimestamps`).
    public let timestampIsSynthesized: Bool
    /// 0-based decode order index.
    public let index: Int

    init(moving frame: UnsafeMutablePointer<AVFrame>, timestamp: MediaTime, synthesized: Bool, index: Int) {
        guard let f = av_frame_alloc() else { fatalError("av_frame_alloc: out of memory") }
        av_frame_move_ref(f, frame)
        raw = f
        self.timestamp = timestamp
        self.timestampIsSynthesized = synthesized
        self.index = index
    }
    deinit { var f: UnsafeMutablePointer<AVFrame>? = raw; av_frame_free(&f) }

    /// Seconds (`timestamp.seconds`).
    public var pts: Double { timestamp.seconds }
    public var width: Int { Int(raw.pointee.width) }
    public var height: Int { Int(raw.pointee.height) }
    var pixelFormat: AVPixelFormat { AVPixelFormat(rawValue: raw.pointee.format) }
    public var pixelFormatName: String { pixelFormat.name }
    public var isKeyFrame: Bool { raw.pointee.key_frame != 0 }
    /// The decoder flagged the frame as damaged (concealed errors).
    public var isCorrupt: Bool { raw.pointee.flags & AV_FRAME_FLAG_CORRUPT != 0 || raw.pointee.decode_error_flags != 0 }
}

/// Demuxes and decodes the best video stream of a file, stdin, network URL or V4L2 device.
///
/// `nextFrame()` returns frames in presentation order and nil at the end. Audio packets read on the way are
/// queued when `SourceOptions.keepAudio` is on; take them with `takeAudioPackets()` after each frame (and once
/// more after nil) and pass them to `VideoWriter.writeAudio`. The queue keeps at most `maxQueuedAudioPackets`
/// (oldest dropped, counted in `droppedAudioPackets`).
///
/// Single owner (see Core.swift); only `interrupter` may be used from other threads.
public final class VideoSource: @unchecked Sendable {
    public let info: SourceInfo
    public let kind: InputKind
    /// Call `interrupter.interrupt()` from any thread to stop a blocking open or read.
    public let interrupter: SourceInterrupter

    /// Packets the decoder rejected (skipped) or the demuxer flagged as corrupt, plus demuxer read errors that
    /// were skipped.
    public private(set) var corruptPackets = 0
    /// Frames the decoder returned with error concealment.
    public private(set) var corruptFrames = 0
    /// Frames whose timestamp was missing and had to be extrapolated.
    public private(set) var synthesizedTimestamps = 0
    public private(set) var framesDecoded = 0
    public private(set) var droppedAudioPackets = 0
    public var maxQueuedAudioPackets = 4096

    private var formatContext: UnsafeMutablePointer<AVFormatContext>?
    private let decoder: CodecContext
    private let videoIndex: Int32
    private let audioIndex: Int32?
    private let packet = PacketBox()
    private let frame = FrameBox()
    private let readTimeout: Double?
    private var audioQueue: [MediaPacket] = []
    private var flushing = false
    private var finished = false
    private var lastTimestamp: Int64?
    private var frameDuration: Int64
    private var consecutiveReadErrors = 0

    /// Opens `input` (a path, `-`, a URL or `/dev/videoN`) and its video decoder.
    /// Throws `MediaError` (`noSuchInput`, `invalidInput`, `unavailable`, `interrupted`).
    public init(_ input: String, options: SourceOptions = SourceOptions(), interrupter: SourceInterrupter = SourceInterrupter()) throws {
        MediaLibrary.ensureInitialized()
        let kind = InputKind(input)
        self.kind = kind
        self.interrupter = interrupter
        var isFile = false
        var url = input
        var defaults: [String: String] = [:]
        var inputFormat: UnsafePointer<AVInputFormat>? = nil
        var live = false
        switch kind {
        case .file(let path):
            isFile = true
            url = path
        case .pipe(let fd):
            url = "pipe:\(fd)"
        case .device(let dev):
            url = dev
            live = true
            inputFormat = av_find_input_format("v4l2")
            if inputFormat == nil { throw MediaError(.unavailable, "cannot open device", path: dev, detail: "FFmpeg has no v4l2 input") }
        case .network(_, let scheme):
            live = true
            switch scheme {
            case "rtsp", "rtsps":
                defaults["rtsp_transport"] = "tcp"
                defaults["timeout"] = "10000000"   // socket I/O timeout, µs (rtsp's `timeout` in lavf 59)
            case "udp", "rtp":
                defaults["overrun_nonfatal"] = "1"   // a slow reader loses packets instead of failing
                defaults["timeout"] = "10000000"
            case "http", "https", "hls":
                defaults["rw_timeout"] = "10000000"
                defaults["reconnect"] = "1"
                defaults["reconnect_streamed"] = "1"
                defaults["reconnect_on_network_error"] = "1"
                defaults["reconnect_delay_max"] = "5"
            default:
                defaults["rw_timeout"] = "10000000"
            }
        }
        if let f = options.format {
            guard let fmt = av_find_input_format(f) else {
                throw MediaError(.invalidArgument, "unknown input format", path: f)
            }
            inputFormat = fmt
        }
        if let l = options.live { live = l }
        func limit(_ t: Double?, _ liveDefault: Double) -> Double? {
            guard let t else { return live ? liveDefault : nil }
            return t.isFinite && t > 0 ? t : nil
        }
        let openTimeout = limit(options.openTimeout, 15)
        readTimeout = limit(options.readTimeout, 10)
        let displayPath = input

        // Check a plain file before FFmpeg does, for a clearer message than FFmpeg's.
        if isFile, access(url, R_OK) != 0 {
            let e = errno
            throw MediaError(e == ENOENT || e == EACCES || e == ENOTDIR ? .noSuchInput : .ioError,
                             "cannot open input", path: displayPath, detail: String(cString: strerror(e)))
        }

        guard let fc = avformat_alloc_context() else { throw MediaError(.internalError, "avformat_alloc_context failed") }
        fc.pointee.interrupt_callback = cffmpeg_make_interrupt_cb(interrupter.state)
        var ctx: UnsafeMutablePointer<AVFormatContext>? = fc
        interrupter.arm(timeout: openTimeout)
        var opts = defaults
        for (k, v) in options.formatOptions { opts[k] = v }
        var unused: [String] = []
        let rc = withAVDictionary(opts) { dict in
            let r = avformat_open_input(&ctx, url, inputFormat, &dict)
            unused = dictionaryKeys(dict).filter { options.formatOptions[$0] != nil }
            return r
        }
        if rc < 0 {   // avformat_open_input frees the context on failure
            throw MediaError.input("cannot open input", path: displayPath, code: rc, isFile: isFile,
                                   timedOut: interrupter.timedOut, stopRequested: interrupter.isInterrupted)
        }
        var fail: MediaError? = nil
        defer { if fail != nil { avformat_close_input(&ctx) } }

        let src = avformat_find_stream_info(ctx, nil)
        if src < 0 {
            fail = MediaError.input("cannot read stream info of", path: displayPath, code: src, isFile: isFile,
                                    timedOut: interrupter.timedOut, stopRequested: interrupter.isInterrupted)
            throw fail!
        }
        interrupter.arm(timeout: nil)

        var codec: UnsafePointer<AVCodec>? = nil
        let best = av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0)
        if best < 0 {
            fail = MediaError(.invalidInput, "no video stream in", path: displayPath,
                              code: best, detail: best == cffmpeg_averror_decoder_not_found() ? "no decoder for the video codec" : "no video stream")
            throw fail!
        }
        videoIndex = best
        let stream = ctx!.pointee.streams[Int(best)]!
        let par = stream.pointee.codecpar!
        guard let codec else {
            fail = MediaError(.invalidInput, "no decoder for the video of", path: displayPath)
            throw fail!
        }
        do {
            decoder = try CodecContext(codec: codec)
        } catch { fail = error as? MediaError; throw error }
        let dc = decoder.raw
        var r = avcodec_parameters_to_context(dc, par)
        if r >= 0 {
            dc.pointee.pkt_timebase = stream.pointee.time_base
            dc.pointee.thread_count = Int32(options.decoderThreads)
            // Frame threading adds a frame of latency per thread: live sources use slice threads only.
            dc.pointee.thread_type = live ? FF_THREAD_SLICE : (FF_THREAD_FRAME | FF_THREAD_SLICE)
            r = avcodec_open2(dc, codec, nil)
        }
        if r < 0 {
            fail = MediaError(.invalidInput, "cannot open the video decoder for", path: displayPath, code: r)
            throw fail!
        }

        // Audio: the first audio stream, for stream copy.
        let ai = av_find_best_stream(ctx, AVMEDIA_TYPE_AUDIO, -1, best, nil, 0)
        var audio: AudioStreamInfo? = nil
        if ai >= 0, let ast = ctx!.pointee.streams[Int(ai)] {
            audio = AudioStreamInfo(copying: ast.pointee.codecpar, timeBase: Rational(ast.pointee.time_base))
        }
        audioIndex = (ai >= 0 && options.keepAudio) ? ai : nil
        // Discard packets of every stream we do not use (saves demuxing work on multi-stream inputs).
        for i in 0..<Int(ctx!.pointee.nb_streams) where Int32(i) != best && Int32(i) != audioIndex {
            ctx!.pointee.streams[i]!.pointee.discard = AVDISCARD_ALL
        }

        let tb = Rational(stream.pointee.time_base)
        let avg = Rational(stream.pointee.avg_frame_rate)
        let real = Rational(stream.pointee.r_frame_rate)
        var duration: Double? = nil
        if stream.pointee.duration != FF.noPTS, stream.pointee.duration > 0 {
            duration = MediaTime(value: stream.pointee.duration, timeBase: tb).seconds
        } else if ctx!.pointee.duration != FF.noPTS, ctx!.pointee.duration > 0 {
            duration = Double(ctx!.pointee.duration) / Double(AV_TIME_BASE)
        }
        var count: Int? = stream.pointee.nb_frames > 0 ? Int(stream.pointee.nb_frames) : nil
        if count == nil, let d = duration, let fps = avg.doubleValue ?? real.doubleValue, !live {
            count = Int((d * fps).rounded())
        }
        // Nominal frame duration in stream ticks, used only to extrapolate a missing timestamp.
        let fpsForGaps = avg.doubleValue != nil ? avg : (real.doubleValue != nil ? real : Rational(25, 1))
        frameDuration = max(1, av_rescale_q(1, AVRational(num: fpsForGaps.den, den: fpsForGaps.num), stream.pointee.time_base))

        formatContext = ctx
        info = SourceInfo(
            input: input,
            formatName: String(cString: ctx!.pointee.iformat.pointee.name),
            codecName: String(cString: codec.pointee.name),
            width: Int(par.pointee.width), height: Int(par.pointee.height),
            pixelFormatName: AVPixelFormat(rawValue: par.pointee.format).name,
            timeBase: tb, averageFrameRate: avg, realFrameRate: real,
            duration: duration, estimatedFrameCount: count, isLive: live, audio: audio, unusedOptions: unused.sorted())
    }

    deinit { avformat_close_input(&formatContext) }

    /// Audio packets queued since the last call (only with `SourceOptions.keepAudio`), in demux order.
    public func takeAudioPackets() -> [MediaPacket] {
        defer { audioQueue.removeAll(keepingCapacity: true) }
        return audioQueue
    }

    /// The next decoded frame, or nil at the end of the stream.
    ///
    /// Packets the decoder rejects are skipped and counted (`corruptPackets`). Throws `MediaError` when a live
    /// source times out or drops (`unavailable`), when interrupted (`interrupted`), and when the input ends
    /// without a single decodable frame (`invalidInput`).
    public func nextFrame() throws -> VideoFrame? {
        if finished { return nil }
        let dc = decoder.raw
        while true {
            let r = avcodec_receive_frame(dc, frame.raw)
            if r >= 0 { return makeFrame() }
            if r == FF.eof {
                finished = true
                if framesDecoded == 0 {
                    // A live stream that ends before its first frame is an unavailable source, not bad data.
                    throw MediaError(info.isLive ? .unavailable : .invalidInput, "no decodable video frame in", path: info.input,
                                     detail: corruptPackets > 0 ? "\(corruptPackets) corrupt packets" : "no video frames")
                }
                return nil
            }
            if r != FF.eagain {
                // A decoding error surfaced on receive: drop it and keep going.
                corruptPackets += 1
                if flushing { continue }
            }
            if flushing {
                // EAGAIN while draining should not happen; treat as the end.
                finished = true
                return nil
            }
            try feedDecoder()
        }
    }

    /// Reads packets until one is sent to the video decoder (or the input ends and the decoder is flushed).
    private func feedDecoder() throws {
        let fc = formatContext!
        let dc = decoder.raw
        while true {
            interrupter.arm(timeout: readTimeout)
            let r = av_read_frame(fc, packet.raw)
            if r == FF.eagain { usleep(2000); continue }   // a device with nothing ready yet
            if r < 0 {
                if interrupter.isInterrupted {
                    throw MediaError(.interrupted, "reading interrupted", path: info.input, detail: "interrupted by the caller")
                }
                // AVERROR_EXIT without a stop request is our deadline (the flag itself may belong to an earlier
                // read: AVIO keeps the error sticky after a packet that was already buffered).
                if interrupter.timedOut || r == FF.exit {
                    throw MediaError(.unavailable, "no data from", path: info.input,
                                     detail: "timed out after \(readTimeout ?? 0) s")
                }
                if r == FF.eof || !info.isLive && (fc.pointee.pb == nil || avio_feof(fc.pointee.pb) != 0) {
                    // The end (a truncated file ends with a partial packet, then EOF): flush the decoder.
                    flushing = true
                    _ = avcodec_send_packet(dc, nil)
                    return
                }
                consecutiveReadErrors += 1
                corruptPackets += 1
                if info.isLive || consecutiveReadErrors > 64 {
                    let kind: MediaError.Kind = info.isLive ? .unavailable : .ioError
                    throw MediaError(kind, "cannot read", path: info.input, code: r)
                }
                continue
            }
            consecutiveReadErrors = 0
            defer { packet.unref() }
            let idx = packet.raw.pointee.stream_index
            if idx == videoIndex {
                if packet.raw.pointee.flags & AV_PKT_FLAG_CORRUPT != 0 { corruptPackets += 1 }
                let s = avcodec_send_packet(dc, packet.raw)
                if s == 0 { return }
                if s == FF.eagain {
                    // Cannot happen: we always drain the decoder before sending. Keep the frame flow going.
                    return
                }
                corruptPackets += 1   // INVALIDDATA and friends: skip the packet
                continue
            } else if let ai = audioIndex, idx == ai {
                if audioQueue.count >= maxQueuedAudioPackets {
                    audioQueue.removeFirst()
                    droppedAudioPackets += 1
                }
                let tb = info.audio!.timeBase
                audioQueue.append(MediaPacket(moving: packet.raw, timeBase: tb))
            }
        }
    }

    private func makeFrame() -> VideoFrame {
        let f = frame.raw
        var synthesized = false
        var ts = f.pointee.best_effort_timestamp
        if ts == FF.noPTS { ts = f.pointee.pts }
        if ts == FF.noPTS {
            ts = (lastTimestamp.map { $0 + frameDuration }) ?? 0
            synthesized = true
            synthesizedTimestamps += 1
        }
        lastTimestamp = ts
        if f.pointee.flags & AV_FRAME_FLAG_CORRUPT != 0 || f.pointee.decode_error_flags != 0 { corruptFrames += 1 }
        let vf = VideoFrame(moving: f, timestamp: MediaTime(value: ts, timeBase: info.timeBase),
                            synthesized: synthesized, index: framesDecoded)
        framesDecoded += 1
        return vf
    }
}
