import CFFmpeg
import SegEngine

/// Every SegMedia failure. `description` is one line naming the operation, the path/URL and FFmpeg's
/// `av_strerror` text; `kind` is what the CLI maps to a sysexits code (`exitCode`).
public struct MediaError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The input file does not exist or cannot be read (EX_NOINPUT 66).
        case noSuchInput
        /// The input is not a video: unknown format, no video stream, no decodable frame (EX_DATAERR 65).
        case invalidInput
        /// A network stream or device cannot be opened, timed out, or dropped (EX_UNAVAILABLE 69).
        case unavailable
        /// The output cannot be created or written; any other I/O failure (EX_IOERR 74).
        case ioError
        /// A bad argument from the caller: unknown container extension, zero size (EX_USAGE 64).
        case invalidArgument
        /// The caller stopped a blocking call through `SourceInterrupter.interrupt()` (EX_TEMPFAIL 75).
        case interrupted
        /// A missing codec or an FFmpeg failure that is nobody's input's fault (EX_SOFTWARE 70).
        case internalError
    }

    public var kind: Kind
    /// What was being done, e.g. "cannot open input", "cannot write frame".
    public var operation: String
    /// The file path, URL or device the error concerns ("" when none).
    public var path: String
    /// FFmpeg's error code (negative `AVERROR`), when the error came from FFmpeg.
    public var code: Int32?
    /// Extra detail (FFmpeg's error text, or our own explanation).
    public var detail: String

    public init(_ kind: Kind, _ operation: String, path: String = "", code: Int32? = nil, detail: String = "") {
        self.kind = kind
        self.operation = operation
        self.path = path
        self.code = code
        self.detail = detail.isEmpty ? (code.map(ffErrorString) ?? "") : detail
    }

    /// One line: the path and the detail are escaped and shortened (`MessageText`), since both can carry
    /// text from outside (a file name, a URL, FFmpeg's message about a stream).
    public var description: String {
        var s = operation
        if !path.isEmpty { s += " '\(MessageText.escaped(path))'" }
        if !detail.isEmpty { s += ": \(MessageText.escaped(detail, limit: 2 * MessageText.fieldLimit))" }
        return s
    }

    /// The sysexits(3) code for this error.
    public var exitCode: Int32 {
        switch kind {
        case .noSuchInput: 66
        case .invalidInput: 65
        case .unavailable: 69
        case .ioError: 74
        case .invalidArgument: 64
        case .interrupted: 75
        case .internalError: 70
        }
    }
}

extension MediaError {
    /// Classifies an FFmpeg error from opening or reading an input.
    static func input(_ operation: String, path: String, code: Int32, isFile: Bool, timedOut: Bool = false,
                      stopRequested: Bool = false, waited: Double? = nil, limit: Double? = nil) -> MediaError {
        if stopRequested { return MediaError(.interrupted, operation, path: path, detail: "interrupted by the caller") }
        if timedOut || code == FF.exit {
            // The time actually waited, and the limit: a message that says 10 s after 20 s is a lie.
            var detail = "timed out"
            if let waited { detail += " after \(VideoSource.seconds(waited))" }
            if let limit { detail += " (limit \(VideoSource.seconds(limit)))" }
            return MediaError(.unavailable, operation, path: path, detail: detail)
        }
        let kind: Kind
        switch code {
        case cffmpeg_averror(ENOENT), cffmpeg_averror(EACCES), cffmpeg_averror(EISDIR), cffmpeg_averror(ENOTDIR):
            kind = isFile ? .noSuchInput : .unavailable
        case FF.invalidData, cffmpeg_averror_stream_not_found(), cffmpeg_averror_demuxer_not_found():
            kind = .invalidInput
        case FF.eof:   // an empty or cut-short header
            kind = isFile ? .invalidInput : .unavailable
        case cffmpeg_averror_decoder_not_found(), cffmpeg_averror_protocol_not_found():
            kind = isFile ? .invalidInput : .unavailable
        case FF.exit:
            kind = .interrupted
        default:
            kind = isFile ? .ioError : .unavailable
        }
        return MediaError(kind, operation, path: path, code: code)
    }
}
