// SegMedia: the FFmpeg 5.1 layer of segstream (demux, decode, scale, encode, mux, image I/O).
//
// Ownership (STYLE.md §3.4): every owned FFmpeg object lives in one `final class` whose `deinit` frees it.
// Decoding reuses one AVPacket/AVFrame with unref. EAGAIN/EOF are results, never thrown errors.
//
// Threading rule for every `@unchecked Sendable` class in this module (single owner): an instance may be
// created on one thread and *moved* to another (a pipeline stage thread), but at any moment only one thread
// uses it. None of them lock. The exception is `SourceInterrupter`, which is safe to call from any thread.
import CFFmpeg
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exact rational number, FFmpeg's `AVRational` (time bases, frame rates).
public struct Rational: Sendable, Hashable, CustomStringConvertible {
    public var num: Int32
    public var den: Int32
    public init(_ num: Int32, _ den: Int32) { self.num = num; self.den = den }
    init(_ q: AVRational) { self.init(q.num, q.den) }
    var av: AVRational { AVRational(num: num, den: den) }
    /// nil when the value is unknown (0/0, x/0, 0/x).
    public var doubleValue: Double? { num == 0 || den == 0 ? nil : Double(num) / Double(den) }
    public var description: String { "\(num)/\(den)" }
}

/// A timestamp in a stream's time base: `value × timeBase` seconds. Keeping the integer value (rather than a
/// Double) lets the writer reproduce the source timestamps exactly, so variable frame rate survives.
public struct MediaTime: Sendable, Hashable, CustomStringConvertible {
    public var value: Int64
    public var timeBase: Rational
    public init(value: Int64, timeBase: Rational) { self.value = value; self.timeBase = timeBase }
    /// A time in seconds on a microsecond time base.
    public init(seconds: Double) { self.init(value: Int64((seconds * 1_000_000).rounded()), timeBase: Rational(1, 1_000_000)) }
    public var seconds: Double { Double(value) * Double(timeBase.num) / Double(timeBase.den) }
    /// The same instant in another time base (rounded to nearest, ties away from zero: `av_rescale_q`).
    public func rescaled(to tb: Rational) -> MediaTime {
        MediaTime(value: av_rescale_q(value, timeBase.av, tb.av), timeBase: tb)
    }
    public var description: String { "\(value)×\(timeBase) (\(seconds) s)" }
}

/// Process-wide FFmpeg setup, done once on first use by any SegMedia type.
public enum MediaLibrary {
    private static let setup: Void = {
        avdevice_register_all()
        _ = avformat_network_init()
        av_log_set_level(AV_LOG_ERROR)
        installLogCallback()
        // A closed pipe (`--json - | head`, `-o - | …`, a peer that hung up) must be a write error (EPIPE) that
        // the run reports and survives, not a signal that kills it with its outputs unfinished.
        signal(SIGPIPE, SIG_IGN)
    }()
    static func ensureInitialized() { _ = setup }

    /// Which FFmpeg log lines are echoed to stderr (`AV_LOG_QUIET` -8 … `AV_LOG_DEBUG` 48). SegMedia sets
    /// `AV_LOG_ERROR` (16) at first use; echoing is rate-limited, and warnings/errors are always kept for
    /// `recentFFmpegLog()` (see FFmpegLog.swift). `segstream -v` can raise it (`AV_LOG_INFO` = 32).
    public static func setFFmpegLogLevel(_ level: Int32) {
        ensureInitialized()
        av_log_set_level(level)
    }
}

/// Seconds on CLOCK_MONOTONIC: the clock of frame arrival times and of every pipeline timing.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// FFmpeg's description of an error code (`av_strerror`).
func ffErrorString(_ code: Int32) -> String {
    var buf = [CChar](repeating: 0, count: Int(AV_ERROR_MAX_STRING_SIZE) + 1)
    if av_strerror(code, &buf, buf.count) < 0 { return "error \(code)" }
    let n = buf.firstIndex(of: 0) ?? buf.count
    return String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

enum FF {
    static let eagain = cffmpeg_averror(EAGAIN)
    static let eof = cffmpeg_averror_eof()
    static let invalidData = cffmpeg_averror_invaliddata()
    static let exit = cffmpeg_averror_exit()
    static let noPTS = cffmpeg_nopts_value()
}

/// The result of a non-throwing step of a send/receive state machine.
enum StepResult { case ok, again, endOfStream }

extension AVPixelFormat {
    var name: String {
        if let c = av_get_pix_fmt_name(self) { return String(cString: c) }
        return "none"
    }
}

/// Builds an `AVDictionary` (owned by the caller of `withAVDictionary`).
func withAVDictionary<R>(_ entries: [String: String], _ body: (inout OpaquePointer?) throws -> R) rethrows -> R {
    var dict: OpaquePointer? = nil
    for (k, v) in entries.sorted(by: { $0.key < $1.key }) { av_dict_set(&dict, k, v, 0) }
    defer { av_dict_free(&dict) }
    return try body(&dict)
}

/// The keys left in an options dictionary after an FFmpeg call consumed the ones it knows.
func dictionaryKeys(_ dict: OpaquePointer?) -> [String] {
    var keys: [String] = []
    var e: UnsafeMutablePointer<AVDictionaryEntry>? = nil
    while true {
        e = av_dict_get(dict, "", e, AV_DICT_IGNORE_SUFFIX)
        guard let entry = e else { break }
        keys.append(String(cString: entry.pointee.key))
    }
    return keys
}
