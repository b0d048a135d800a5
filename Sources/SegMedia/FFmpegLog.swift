import CFFmpeg
import SegEngine
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// FFmpeg's log, routed through SegMedia: every warning and error line is kept in a ring (for "dump the last
/// lines on failure", as Frigate does), and lines at or below the echo level go to stderr, at most
/// `echoLinesPerSecond` per second (a corrupt stream logs per packet) with a count of what was suppressed.
final class FFmpegLogSink: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var ring: [String] = []
    private var next = 0
    private let capacity = 200
    private var partial = ""
    private var printPrefix: Int32 = 1
    private var windowStart: Int64 = 0
    private var windowCount = 0
    private var suppressed = 0
    var echoLinesPerSecond = 20
    private(set) var totalErrors = 0

    init() { pthread_mutex_init(&mutex, nil) }

    func recent() -> [String] {
        pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }
        return ring.count < capacity ? ring : Array(ring[next...] + ring[..<next])
    }

    func errorCount() -> Int {
        pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }
        return totalErrors
    }

    private func writeStderr(_ s: String) {
        var s = s
        s.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }

    func log(_ avcl: UnsafeMutableRawPointer?, _ rawLevel: Int32, _ fmt: UnsafePointer<CChar>?, _ args: CVaListPointer?) {
        let level = rawLevel & 0xff   // upper bits may carry a colour (AV_LOG_C)
        let echoLevel = av_log_get_level()
        guard level <= max(echoLevel, AV_LOG_WARNING), let fmt, let args else { return }
        var buf = [CChar](repeating: 0, count: 1024)
        pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }
        av_log_format_line2(avcl, rawLevel, fmt, args, &buf, Int32(buf.count), &printPrefix)
        let n = buf.firstIndex(of: 0) ?? buf.count
        partial += String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard partial.hasSuffix("\n") else { return }   // a line may arrive in pieces
        let line = String(partial.dropLast())
        partial = ""
        if level <= AV_LOG_ERROR { totalErrors += 1 }
        if level <= AV_LOG_WARNING {
            if ring.count < capacity { ring.append(line) } else { ring[next] = line; next = (next + 1) % capacity }
        }
        guard level <= echoLevel else { return }
        let now = av_gettime_relative()
        if now - windowStart > 1_000_000 {
            if suppressed > 0 { writeStderr("[SegMedia] \(suppressed) FFmpeg log lines suppressed\n") }
            windowStart = now; windowCount = 0; suppressed = 0
        }
        windowCount += 1
        if windowCount > echoLinesPerSecond { suppressed += 1; return }
        // FFmpeg's lines quote stream metadata and URLs: escaped like every other message (one line, no raw
        // terminal escapes).
        writeStderr(MessageText.escaped(line, limit: 1000) + "\n")
    }
}

let ffmpegLogSink = FFmpegLogSink()

extension MediaLibrary {
    /// The last (up to 200) FFmpeg warning/error lines, oldest first, whatever the echo level.
    public static func recentFFmpegLog() -> [String] {
        ensureInitialized()
        return ffmpegLogSink.recent()
    }

    /// FFmpeg error lines seen since start.
    public static var ffmpegErrorCount: Int { ffmpegLogSink.errorCount() }

    static func installLogCallback() {
        av_log_set_callback { avcl, level, fmt, args in ffmpegLogSink.log(avcl, level, fmt, args) }
    }
}
