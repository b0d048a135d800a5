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
    /// When the current deadline was armed (`av_gettime_relative`, µs): the start of the wait a timeout
    /// message reports.
    private(set) var armedAt: Int64 = 0
    func arm(timeout: Double?) {
        armedAt = av_gettime_relative()
        cffmpeg_interrupt_arm(state, timeout.map { Int64($0 * 1_000_000) } ?? 0)
    }
    /// Seconds since `arm`.
    var waited: Double { Double(av_gettime_relative() - armedAt) / 1_000_000 }
    /// Seconds the last deadline that fired had waited (0 if none fired).
    var firedWaited: Double { Double(cffmpeg_interrupt_fired_waited_us(state)) / 1_000_000 }
    /// The limit of the last deadline that fired.
    var firedLimit: Double { Double(cffmpeg_interrupt_fired_limit_us(state)) / 1_000_000 }
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
    /// Seconds allowed for opening and probing. nil = the default for the kind (15 s for network, devices and
    /// pipes, no limit for files); `.infinity` = no limit.
    public var openTimeout: Double? = nil
    /// Seconds the input may send nothing (no packet of any stream) before it counts as dead
    /// (`MediaError.Kind.unavailable`, whose message gives the time actually waited). nil = the default for
    /// the kind (10 s for network, devices and pipes, no limit for files); `.infinity` = no limit. Network
    /// protocols also get their own socket timeout (`timeout` for rtsp/udp, `rw_timeout` otherwise, in µs as
    /// FFmpeg 5.1 names them) set 1 s longer, as a backstop: ours fires first and reports the real wait.
    public var readTimeout: Double? = nil
    /// Decoder threads; 0 = auto (one per core).
    public var decoderThreads: Int = 0
    /// Keep the audio stream's packets (see `VideoSource.takeAudioPackets()`). Off by default so that a caller
    /// who never drains them does not accumulate memory.
    public var keepAudio: Bool = false
    /// Override the live/file classification (`VideoSource.isLive`).
    public var live: Bool? = nil
    /// Whether the end of a stream that is not a file (network URL, device, pipe) counts as the normal end of
    /// the input (`nextFrame()` returns nil) instead of an error (`MediaError.Kind.unavailable`, exit 69).
    /// Off by default: a camera or stream that stops sending before the user stopped the run is a failure,
    /// and must not look like success. `segstream run --eof-ok` turns it on (for a pipe or URL that carries
    /// a finite clip). Files always end normally.
    public var endOfStreamIsDone = false
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
    /// When the frame's data was all here (CLOCK_MONOTONIC seconds): the time its packet was read from the
    /// input, where a live frame's latency starts. A source that holds frames back until their time (a file
    /// played at its own pace) moves it to that time.
    public var arrivedAt: Double

    init(moving frame: UnsafeMutablePointer<AVFrame>, timestamp: MediaTime, synthesized: Bool, index: Int, arrivedAt: Double) {
        guard let f = av_frame_alloc() else { fatalError("av_frame_alloc: out of memory") }
        av_frame_move_ref(f, frame)
        raw = f
        self.timestamp = timestamp
        self.timestampIsSynthesized = synthesized
        self.index = index
        self.arrivedAt = arrivedAt
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
    /// Pipes are read through our own AVIOContext (`cffmpeg_fd_reader`), which a stop request or a deadline
    /// can interrupt; FFmpeg's `pipe:` protocol blocks in read(2) out of their reach.
    private var pipeReader: UnsafeMutablePointer<cffmpeg_fd_reader>?
    private var pipeIO: UnsafeMutablePointer<AVIOContext>?
    private let endOfStreamIsDone: Bool
    /// What ended the input (`av_read_frame`'s code), for the message when the end is an error.
    private var endCode: Int32?
    private var audioQueue: [MediaPacket] = []
    private var flushing = false
    private var finished = false
    private var lastTimestamp: Int64?
    private var frameDuration: Int64
    private var consecutiveReadErrors = 0
    /// When each video packet still inside the decoder was read, by its pts (the decoder hands a packet's pts to
    /// its frame), and when the last one was read (for packets without pts).
    private var packetReadTimes: [Int64: Double] = [:]
    private var lastPacketReadAt = 0.0

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
                // The SDP carries the codec parameters, so half a second of probing is enough. FFmpeg's default
                // (5 s) buffered about 2.5 s of frames while probing and handed them over in one burst, which
                // a live source's one-frame entrance then dropped (12-19 frames at every connect, measured with
                // gst-rtsp-server at 8 fps), and it delayed the first frame by ~2 s.
                defaults["analyzeduration"] = "500000"
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
        var isPipe = false
        if case .pipe = kind { isPipe = true }
        // Every wait on a source that is not a file has a deadline, pipes included.
        let waitsHaveDeadlines = live || isPipe
        func limit(_ t: Double?, _ liveDefault: Double) -> Double? {
            guard let t else { return waitsHaveDeadlines ? liveDefault : nil }
            return t.isFinite && t > 0 ? t : nil
        }
        let openTimeout = limit(options.openTimeout, 15)
        readTimeout = limit(options.readTimeout, 10)
        // A "pipe" that is a redirected regular file (`segstream run - < clip.ts`) ends like a file.
        var redirectedFile = false
        if case .pipe(let fd) = kind {
            var st = stat()
            redirectedFile = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
        }
        endOfStreamIsDone = isFile || redirectedFile || options.endOfStreamIsDone
        // The protocols' own socket timeouts (µs) are a backstop 1 s behind ours: our deadline knows how long
        // the wait really was, while a socket timeout inside the RTSP demuxer comes back as a plain EOF.
        if let t = readTimeout {
            for key in ["timeout", "rw_timeout"] where defaults[key] != nil { defaults[key] = String(Int64((t + 1) * 1_000_000)) }
        }
        let displayPath = input

        // Check a plain file before FFmpeg does, for a clearer message than FFmpeg's.
        if isFile, access(url, R_OK) != 0 {
            let e = errno
            throw MediaError(e == ENOENT || e == EACCES || e == ENOTDIR ? .noSuchInput : .ioError,
                             "cannot open input", path: displayPath, detail: String(cString: strerror(e)))
        }

        guard let fc = avformat_alloc_context() else { throw MediaError(.internalError, "avformat_alloc_context failed") }
        fc.pointee.interrupt_callback = cffmpeg_make_interrupt_cb(interrupter.state)
        // A V4L2 device otherwise blocks in VIDIOC_DQBUF, out of reach of deadlines and stop requests: read it
        // non-blocking (as the ffmpeg CLI reads every input) and wait in feedDecoder's EAGAIN loop instead.
        if case .device = kind { fc.pointee.flags |= AVFMT_FLAG_NONBLOCK }
        var localReader: UnsafeMutablePointer<cffmpeg_fd_reader>? = nil
        var localIO: UnsafeMutablePointer<AVIOContext>? = nil
        if case .pipe(let fd) = kind {
            let reader = UnsafeMutablePointer<cffmpeg_fd_reader>.allocate(capacity: 1)
            reader.initialize(to: cffmpeg_fd_reader(fd: fd, interrupt: interrupter.state))
            guard let io = cffmpeg_fd_reader_open(reader) else {
                reader.deallocate()
                avformat_free_context(fc)
                throw MediaError(.internalError, "cannot allocate an I/O context for", path: input)
            }
            fc.pointee.pb = io
            fc.pointee.flags |= AVFMT_FLAG_CUSTOM_IO
            localReader = reader
            localIO = io
            url = ""
        }
        // A custom AVIOContext is ours to free, also when opening fails.
        var openSucceeded = false
        defer {
            if !openSucceeded {
                cffmpeg_fd_reader_close(&localIO)
                localReader?.deallocate()
            }
        }
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
                                   timedOut: interrupter.timedOut, stopRequested: interrupter.isInterrupted,
                                   waited: interrupter.waited, limit: openTimeout)
        }
        var fail: MediaError? = nil
        defer { if fail != nil { avformat_close_input(&ctx) } }

        let src = avformat_find_stream_info(ctx, nil)
        if src < 0 {
            fail = MediaError.input("cannot read stream info of", path: displayPath, code: src, isFile: isFile,
                                    timedOut: interrupter.timedOut, stopRequested: interrupter.isInterrupted,
                                    waited: interrupter.waited, limit: openTimeout)
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
        pipeReader = localReader
        pipeIO = localIO
        openSucceeded = true
        info = SourceInfo(
            input: input,
            formatName: String(cString: ctx!.pointee.iformat.pointee.name),
            codecName: String(cString: codec.pointee.name),
            width: Int(par.pointee.width), height: Int(par.pointee.height),
            pixelFormatName: AVPixelFormat(rawValue: par.pointee.format).name,
            timeBase: tb, averageFrameRate: avg, realFrameRate: real,
            duration: duration, estimatedFrameCount: count, isLive: live, audio: audio, unusedOptions: unused.sorted())
    }

    deinit {
        avformat_close_input(&formatContext)
        cffmpeg_fd_reader_close(&pipeIO)   // AVFMT_FLAG_CUSTOM_IO: avformat_close_input leaves it to us
        pipeReader?.deallocate()
    }

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
                if framesDecoded > 0 && !endOfStreamIsDone {
                    throw MediaError(.unavailable, "input ended", path: info.input, detail: endReason())
                }
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

    /// Why a source that is not a file ended, for `input ended '…': <reason>`.
    private func endReason() -> String {
        let how: String
        if let code = endCode, code != FF.eof {
            how = "reading failed (\(ffErrorString(code)))"
        } else {
            switch kind {
            case .pipe: how = "the pipe was closed by its writer"
            case .device: how = "the device stopped delivering frames"
            case .network: how = "the server ended the stream or closed the connection"
            case .file: how = "end of file"
            }
        }
        return "\(how) after \(framesDecoded) frames, before a stop was requested (--eof-ok counts a clean end as done)"
    }

    /// Reads packets until one is sent to the video decoder (or the input ends and the decoder is flushed).
    /// The read deadline runs from the last packet of any stream (a retry does not restart it).
    private func feedDecoder() throws {
        let fc = formatContext!
        let dc = decoder.raw
        interrupter.arm(timeout: readTimeout)
        while true {
            let r = av_read_frame(fc, packet.raw)
            if r == FF.eagain {   // a device with nothing ready yet
                if let t = readTimeout, interrupter.waited > t {
                    throw MediaError(.unavailable, "no data from", path: info.input,
                                     detail: "nothing for \(Self.seconds(interrupter.waited)) (limit \(Self.seconds(t)))")
                }
                if interrupter.isInterrupted {
                    throw MediaError(.interrupted, "reading interrupted", path: info.input, detail: "interrupted by the caller")
                }
                usleep(2000)
                continue
            }
            if r < 0 {
                if interrupter.isInterrupted {
                    throw MediaError(.interrupted, "reading interrupted", path: info.input, detail: "interrupted by the caller")
                }
                // AVERROR_EXIT without a stop request is our deadline (the flag itself may belong to an earlier
                // read: AVIO keeps the error sticky after a packet that was already buffered).
                // A protocol's own socket timeout (ETIMEDOUT/EIO after rw_timeout) counts the same as ours.
                // After a deadline fired, AVIO may first hand out buffered packets and report it later (sticky
                // AVERROR_EXIT): the wait to report is the one that fired.
                let fired = r == FF.exit && interrupter.firedWaited > 0
                let waited = fired ? interrupter.firedWaited : interrupter.waited
                let limit = fired ? interrupter.firedLimit : readTimeout
                if interrupter.timedOut || r == FF.exit || (readTimeout.map { waited >= $0 * 0.95 } ?? false) && r != FF.eof {
                    throw MediaError(.unavailable, "no data from", path: info.input,
                                     detail: "timed out: nothing for \(Self.seconds(waited))"
                                         + (limit.map { " (limit \(Self.seconds($0)))" } ?? ""))
                }
                if r == FF.eof || !info.isLive && (fc.pointee.pb == nil || avio_feof(fc.pointee.pb) != 0) {
                    // The end (a truncated file ends with a partial packet, then EOF): flush the decoder.
                    endCode = r
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
            if interrupter.timedOut && !interrupter.isInterrupted {
                // The deadline fired inside this read, and the packet came from a buffer (RTSP's reordering
                // queue, a depacketizer's last NAL): no new data for the whole limit, so the stream is dead.
                // Re-arming here would double the wait (a 10 s limit detected after 20 s).
                packet.unref()
                throw MediaError(.unavailable, "no data from", path: info.input,
                                 detail: "timed out: nothing for \(Self.seconds(interrupter.firedWaited))"
                                     + " (limit \(Self.seconds(interrupter.firedLimit)))")
            }
            interrupter.arm(timeout: readTimeout)   // data arrived: the next wait starts now
            defer { packet.unref() }
            let idx = packet.raw.pointee.stream_index
            if idx == videoIndex {
                lastPacketReadAt = monotonicSeconds()
                let pts = packet.raw.pointee.pts
                if pts != FF.noPTS {
                    // Bounded: a decoder that drops packets (or a stream whose pts never match) leaves entries.
                    if packetReadTimes.count >= 256 { packetReadTimes.removeAll(keepingCapacity: true) }
                    packetReadTimes[pts] = lastPacketReadAt
                }
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

    /// "10.0 s"
    static func seconds(_ t: Double) -> String {
        let tenths = (t * 10).rounded()
        return "\(Int(tenths) / 10).\(Int(tenths) % 10) s"
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
        // A frame whose packet cannot be found (no pts) arrived no later than the last packet read.
        let arrivedAt = (f.pointee.pts != FF.noPTS ? packetReadTimes.removeValue(forKey: f.pointee.pts) : nil) ?? lastPacketReadAt
        let vf = VideoFrame(moving: f, timestamp: MediaTime(value: ts, timeBase: info.timeBase),
                            synthesized: synthesized, index: framesDecoded, arrivedAt: arrivedAt)
        framesDecoded += 1
        return vf
    }
}
