import ArgumentParser
import Foundation
import SegMedia
#if canImport(Glibc)
import Glibc
#endif

/// The one executable: each subcommand is a thin layer over the library modules.
@main
struct SegStream: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segstream",
        abstract: "Real-time semantic segmentation of street video (SFNet) on the CPU.",
        discussion: """
            Exit codes follow sysexits: 64 usage, 65 bad data, 66 no input, 69 unavailable, 70 internal, \
            74 I/O, 78 configuration.
            """,
        version: "0.1.0",
        subcommands: [Run.self, Infer.self, Eval.self, Quantize.self, Profile.self, Serve.self])

    /// FFmpeg's own log lines are off: segstream reports problems itself, in one line, and counts what it
    /// skips. `SEGSTREAM_FFMPEG_LOGLEVEL` (an av_log level number, e.g. 32 for info) turns them back on.
    static func main() {
        let level = ProcessInfo.processInfo.environment["SEGSTREAM_FFMPEG_LOGLEVEL"].flatMap { Int32($0) } ?? -8
        MediaLibrary.setFFmpegLogLevel(level)
        signal(SIGPIPE, SIG_IGN)  // a closed pipe or socket is an I/O error to report, not a reason to die
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help, --version
            // One line on stderr for every failure, usage errors included (ArgumentParser would add the usage).
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? ""
            if !message.isEmpty {
                let hint = code == .validationFailure ? " (see segstream --help)" : ""
                FileHandle.standardError.write(Data("segstream: \(message.replacingOccurrences(of: "Error: ", with: ""))\(hint)\n".utf8))
            }
            Glibc.exit(code.rawValue)
        }
    }
}
