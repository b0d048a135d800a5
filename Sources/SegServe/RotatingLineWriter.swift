#if canImport(Glibc)
import Glibc
#endif

/// A file operation failed: `operation` on `path`, with errno's text.
public struct ServeIOError: Error, Sendable, Equatable, CustomStringConvertible {
    public let operation: String
    public let path: String
    public let errno: Int32
    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
}

/// Appends lines to `path` (`outputs.json`: `STATE/NAME/frames.jsonl`), rotating when the file would pass
/// `rotateSize`: `path` → `path.1` → … → `path.keep`, the oldest deleted. A line is never split across files; one
/// longer than `rotateSize` gets a file of its own. Each line goes out in one `write(2)` on an `O_APPEND`
/// descriptor, so a crash leaves whole lines (at most the last one cut).
///
/// One owner at a time (the source's output stage); not `Sendable`.
public final class RotatingLineWriter {
    public let path: String
    public let rotateSize: Int
    public let keep: Int
    private var fd: Int32
    /// Bytes in the current file.
    public private(set) var size: Int

    /// Opens (or creates, with its folder) `path` for appending; an existing file's bytes count towards rotation.
    public init(path: String, rotateSize: Int, keep: Int) throws(ServeIOError) {
        precondition(rotateSize > 0 && keep >= 1, "rotateSize and keep must be positive")
        self.path = path
        self.rotateSize = rotateSize
        self.keep = keep
        try Self.makeParent(of: path)
        (fd, size) = try Self.open(path)
    }

    deinit { close(fd) }

    /// Appends `line` and a newline (a trailing newline in `line` is not doubled).
    public func write(line: String) throws(ServeIOError) {
        var bytes = Array(line.utf8)
        if bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
        if size > 0 && size + bytes.count > rotateSize { try rotate() }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ServeIOError(operation: "write", path: path, errno: errno)
            }
            offset += n
        }
        size += bytes.count
    }

    /// The rotated files that exist now, newest first (`path.1`, `path.2`, …).
    public var rotatedFiles: [String] {
        (1...keep).map { "\(path).\($0)" }.filter { access($0, F_OK) == 0 }
    }

    private func rotate() throws(ServeIOError) {
        close(fd)
        fd = -1
        let oldest = "\(path).\(keep)"
        if unlink(oldest) != 0 && errno != ENOENT { throw ServeIOError(operation: "unlink", path: oldest, errno: errno) }
        for index in stride(from: keep - 1, through: 1, by: -1) {
            let from = "\(path).\(index)"
            if rename(from, "\(path).\(index + 1)") != 0 && errno != ENOENT {
                throw ServeIOError(operation: "rename", path: from, errno: errno)
            }
        }
        if rename(path, "\(path).1") != 0 && errno != ENOENT {
            throw ServeIOError(operation: "rename", path: path, errno: errno)
        }
        (fd, size) = try Self.open(path)
    }

    private static func open(_ path: String) throws(ServeIOError) -> (Int32, Int) {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw ServeIOError(operation: "open", path: path, errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let error = errno
            close(fd)
            throw ServeIOError(operation: "stat", path: path, errno: error)
        }
        return (fd, Int(st.st_size))
    }

    private static func makeParent(of path: String) throws(ServeIOError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/").dropLast() {
            current += "/" + component
            if mkdir(current, 0o750) != 0 && errno != EEXIST {
                throw ServeIOError(operation: "mkdir", path: current, errno: errno)
            }
        }
    }
}
