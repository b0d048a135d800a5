import Foundation

/// A `segstream` child (or `executable`) whose stdout lines are timestamped as they arrive (for kill-timing tests), with an
/// optional stdin pipe the test writes to and may leave open (a stalled writer).
final class LiveProcess: @unchecked Sendable {
    let process = Process()
    let input = Pipe()
    private let lock = NSLock()
    private var lines: [(Date, String)] = []
    private var errText = Data()
    private let readers = DispatchGroup()

    init(_ arguments: [String], executable: String = CLI.binary, stdinPipe: Bool = false,
         environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        // A daemon's HTTP side listens on 127.0.0.1:9400 by default: tests run many daemons at once, so each gets a
        // free port of its own unless the test chose one.
        process.arguments = arguments.first == "serve" && !arguments.contains("--http")
            ? arguments + ["--http", "127.0.0.1:0"] : arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdinPipe ? input : FileHandle.nullDevice
        try process.run()
        // Dedicated threads, not GCD: many children at once would starve the global queue's blocked workers.
        readers.enter()
        Thread { [self] in
            var partial = Data()
            let fd = out.fileHandleForReading.fileDescriptor
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 { break }
                partial.append(contentsOf: buffer[..<n])
                while let nl = partial.firstIndex(of: 0x0A) {
                    let line = String(decoding: partial[partial.startIndex..<nl], as: UTF8.self)
                    partial = Data(partial[(nl + 1)...])
                    lock.lock(); lines.append((Date(), line)); lock.unlock()
                }
            }
            readers.leave()
        }.start()
        readers.enter()
        Thread { [self] in
            let data = err.fileHandleForReading.readDataToEndOfFile()
            lock.lock(); errText = data; lock.unlock()
            readers.leave()
        }.start()
    }

    /// Writes `data` to the child's stdin (without closing it).
    func feed(_ data: Data) {
        let fd = input.fileHandleForWriting.fileDescriptor
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { break }
                off += n
            }
        }
    }

    /// Stdout lines received so far, with their arrival times.
    var received: [(Date, String)] { lock.lock(); defer { lock.unlock() }; return lines }

    /// Waits until `predicate` holds for the received lines or `timeout` passes; returns whether it held.
    @discardableResult
    func wait(timeout: Double, until predicate: ([(Date, String)]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if predicate(received) { return true }
            if !process.isRunning { return predicate(received) }
            usleep(10_000)
        }
        return false
    }

    /// Waits for the child to exit (killing it after `timeout`); returns the seconds it took and its stderr.
    func finish(timeout: Double) -> (seconds: Double, stderr: String, timedOut: Bool) {
        let start = Date()
        let deadline = start.addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        let seconds = Date().timeIntervalSince(start)
        let timedOut = process.isRunning
        if timedOut { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
        readers.wait()
        lock.lock(); defer { lock.unlock() }
        return (seconds, String(decoding: errText, as: UTF8.self), timedOut)
    }
}
