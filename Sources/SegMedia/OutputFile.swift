#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Guards that keep `segstream run` from destroying data: an output may never be the input itself.
public enum OutputSafety {
    /// The (device, inode) of what `input` reads: a file or device path, or the descriptor of a pipe input
    /// (`-` is fd 0, which may be a redirected file). nil for network URLs and inputs that do not exist.
    static func identity(ofInput input: String) -> (dev_t, ino_t)? {
        var st = stat()
        switch InputKind(input) {
        case .file(let path), .device(let path):
            guard stat(path, &st) == 0 else { return nil }
        case .pipe(let fd):
            guard fstat(fd, &st) == 0 else { return nil }
        case .network:
            return nil
        }
        return (st.st_dev, st.st_ino)
    }

    /// Throws `MediaError.invalidArgument` (exit 64) when any of `outputs` (paths; nil entries and "-" are
    /// skipped) is the same file as `input`: same st_dev and st_ino, so a symlink, a hard link or another
    /// spelling of the path (`./x.mp4`, its absolute path) is caught. An output that does not exist yet
    /// cannot be the input. Call it before any output is opened: opening truncates.
    public static func refuseSameFile(input: String, outputs: [String?]) throws {
        guard let source = identity(ofInput: input) else { return }
        for case let output? in outputs where output != "-" {
            var st = stat()
            guard stat(output, &st) == 0 else { continue }   // not there yet (or unreachable): not the input
            if st.st_dev == source.0 && st.st_ino == source.1 {
                throw MediaError(.invalidArgument, "refusing to write over the input", path: output,
                                 detail: "it is the same file as the input '\(input)'; choose another output path")
            }
        }
    }
}

/// A machine-readable output written line by line (JSON lines: `--json`, `--telemetry`), which never
/// crashes the process and never destroys what was at its path before the new content is complete.
///
/// Where the lines go, by what `path` is:
/// - `-`: standard output. A device node, FIFO or socket (`/dev/stdout`, `/dev/null`, `/dev/full`, a named
///   pipe), and anything under `/dev/` or `/proc/`: opened for writing as it is, never created, replaced or
///   truncated.
/// - A path that does not exist yet: created (exclusively) and written in place, line by line, so that it can
///   be followed live (`tail -f`); if the process dies, the lines written so far stay (each line is written
///   with one `write(2)`, so a reader sees whole lines, except after a failed write).
/// - An existing regular file (also through a symlink, which stays a symlink): the new lines go to a hidden
///   temporary file next to it, `.<name>.<pid>.partial`, which is flushed and renamed over the old file by
///   `close()`. Until then the previous file is untouched, and a crash leaves it whole (follow the `.partial`
///   file to watch a run live). A rename replaces the name: other hard links keep the old content.
///
/// Write failures (disk full, EIO, a closed pipe: SIGPIPE is ignored process-wide) never crash: the first
/// one is kept in `failure` and passed to `onFailure` once, later lines are dropped, and `close()` throws it
/// (`MediaError.Kind.ioError`, exit 74). A failed replacement removes its temporary file and keeps the old one.
///
/// Safe to use from several threads.
public final class LineOutput: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let ownsDescriptor: Bool
    /// Set for the replace-on-close mode: (temporary path, final path).
    private let replacement: (temporary: String, target: String)?
    private var mutex = pthread_mutex_t()
    private var failed: MediaError?
    private var closed = false
    private var failureHandler: (@Sendable (MediaError) -> Void)?
    /// Whether a failure should be reported at all (standard error: nowhere to report it).
    private let reportsFailures: Bool

    /// Lines to standard error (failures are ignored: there is nowhere left to report them).
    public static let standardError = LineOutput(descriptor: 2, path: "<stderr>", reportsFailures: false)

    private init(descriptor: Int32, path: String, reportsFailures: Bool) {
        MediaLibrary.ensureInitialized()
        fd = descriptor
        ownsDescriptor = false
        replacement = nil
        self.path = path
        self.reportsFailures = reportsFailures
        pthread_mutex_init(&mutex, nil)
    }

    /// Opens `path` as described in the type's documentation. Throws `MediaError.ioError` when it cannot be
    /// opened or created.
    public init(path: String) throws {
        MediaLibrary.ensureInitialized()
        self.path = path
        reportsFailures = true
        pthread_mutex_init(&mutex, nil)
        if path == "-" {
            fd = 1
            ownsDescriptor = false
            replacement = nil
            return
        }
        func fail(_ what: String, _ e: Int32 = errno) -> MediaError {
            MediaError(.ioError, what, path: path, detail: String(cString: strerror(e)))
        }
        var st = stat()
        let exists = stat(path, &st) == 0
        let special = path.hasPrefix("/dev/") || path.hasPrefix("/proc/")
        if exists && (special || (st.st_mode & S_IFMT) != S_IFREG) {
            if (st.st_mode & S_IFMT) == S_IFDIR { throw MediaError(.ioError, "cannot write", path: path, detail: "is a directory") }
            // A device, FIFO or socket (or /dev/stdout): write through, never create or truncate. O_APPEND:
            // /dev/stdout may be a file the shell opened with `>>`.
            let d = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard d >= 0 else { throw fail("cannot open for writing") }
            fd = d
            ownsDescriptor = true
            replacement = nil
        } else if exists {
            // A regular file (maybe behind symlinks): replace it only once the new content is complete.
            guard let resolved = realpath(path, nil) else { throw fail("cannot resolve") }
            let target = String(cString: resolved)
            free(resolved)
            let slash = target.lastIndex(of: "/")!
            let directory = String(target[..<slash]), name = String(target[target.index(after: slash)...])
            let temporary = "\(directory)/.\(name).\(getpid()).partial"
            let d = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
            guard d >= 0 else { throw fail("cannot create a temporary file next to") }
            // Keep the old file's permission bits.
            _ = fchmod(d, st.st_mode & 0o7777)
            fd = d
            ownsDescriptor = true
            replacement = (temporary, target)
        } else {
            var d = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            // EEXIST here: a dangling symlink (create its target) or a file that appeared meanwhile (append:
            // never truncate what someone else just made).
            if d < 0 && errno == EEXIST { d = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) }
            guard d >= 0 else { throw fail("cannot create") }
            fd = d
            ownsDescriptor = true
            replacement = nil
        }
    }

    deinit {
        if !closed { try? close() }
        pthread_mutex_destroy(&mutex)
    }

    /// Called once, on the first failed write (from the writing thread). Set it before writing.
    public var onFailure: (@Sendable (MediaError) -> Void)? {
        get { lock(); defer { unlock() }; return failureHandler }
        set { lock(); failureHandler = newValue; unlock() }
    }

    /// The first write failure, if any (always nil for standard error, whose failures are not reported).
    public var failure: MediaError? { lock(); defer { unlock() }; return reportsFailures ? failed : nil }

    /// `write(line)`, then throws the output's first failure, if any: for callers that stop at a failed write.
    public func writeLine(_ line: String) throws {
        write(line)
        if let failure { throw failure }
    }

    /// Writes `line` and a newline with one `write(2)` (retried on EINTR and partial writes). Never throws and
    /// never crashes; see the type's documentation for failures.
    public func write(_ line: String) {
        lock()
        guard failed == nil, !closed else { unlock(); return }
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        var error: Int32 = 0
        bytes.withUnsafeBytes { buf in
            var offset = 0
            while offset < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + offset, buf.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN {   // a non-blocking descriptor (e.g. a shared stdout): wait for room
                        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                        _ = poll(&p, 1, 1000)
                        continue
                    }
                    error = errno
                    return
                }
                offset += n
            }
        }
        var handler: (@Sendable (MediaError) -> Void)? = nil
        var report: MediaError? = nil
        if error != 0 {
            let e = MediaError(.ioError, "cannot write", path: path, detail: String(cString: strerror(error)))
            failed = e
            if reportsFailures {
                handler = failureHandler
                report = e
            }
        }
        unlock()
        if let handler, let report { handler(report) }
    }

    /// Finishes the output: closes it, and for a replaced regular file flushes the new content to disk and
    /// renames it over the old one. Throws the first write failure (the old file, if any, is then kept and
    /// the temporary removed) or a failure of its own. Idempotent.
    public func close() throws {
        lock()
        var error = reportsFailures ? failed : nil
        // Standard output/error are not ours to close: later writes (another run in this process) still go out.
        guard ownsDescriptor else { unlock(); if let error { throw error }; return }
        if closed { unlock(); return }
        closed = true
        unlock()
        if let replacement {
            if error == nil && fsync(fd) != 0 && errno != EINVAL {
                error = MediaError(.ioError, "cannot write", path: path, detail: String(cString: strerror(errno)))
            }
            if Glibc.close(fd) != 0 && error == nil {
                error = MediaError(.ioError, "cannot write", path: path, detail: String(cString: strerror(errno)))
            }
            if error == nil && rename(replacement.temporary, replacement.target) != 0 {
                error = MediaError(.ioError, "cannot replace", path: path, detail: String(cString: strerror(errno)))
            }
            if error != nil { unlink(replacement.temporary) }
        } else if Glibc.close(fd) != 0 && error == nil {
            error = MediaError(.ioError, "cannot write", path: path, detail: String(cString: strerror(errno)))
        }
        if let error { throw error }
    }

    private func lock() { pthread_mutex_lock(&mutex) }
    private func unlock() { pthread_mutex_unlock(&mutex) }
}
