import Foundation
import Testing

/// Issue #11, item 4, against a real RTSP server on loopback: gst-rtsp-server (Debian's
/// gir1.2-gst-rtsp-server-1.0 through python3-gi, installed by tools/install-deps.sh), started by the test
/// with tools/rtsp_test_server.py, serving a generated clip in real time, then killed or stopped.
@Suite("segstream run: a lost RTSP stream (#11)", .serialized)
struct RTSPCommandTests {
    let model = CLI.tinyModel

    /// The running server and its URL. Fails the test (never skips) when the Debian peer is missing.
    final class Server {
        let process = Process()
        let url: String
        /// `port`: listen there (a restarted server keeps its URL); nil: any free port.
        init(serving clip: String, port: Int? = nil) throws {
            let python = "/usr/bin/python3"
            let script = CLI.packageRoot.appendingPathComponent("tools/rtsp_test_server.py").path
            guard FileManager.default.isExecutableFile(atPath: python) else {
                throw ServerError.missing("\(python) is missing: install python3-gi gir1.2-gst-rtsp-server-1.0 (tools/install-deps.sh)")
            }
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [script, clip] + (port.map { [String($0)] } ?? [])
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            // The first line is "READY <port>"; anything else (an ImportError) is the reason it cannot run.
            var line = Data()
            let fd = out.fileHandleForReading.fileDescriptor
            var byte: UInt8 = 0
            while read(fd, &byte, 1) == 1 && byte != 0x0A { line.append(byte) }
            let text = String(decoding: line, as: UTF8.self)
            guard text.hasPrefix("READY "), let port = Int(text.dropFirst(6)) else {
                process.terminate()
                let why = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                throw ServerError.missing("the gst-rtsp-server test peer did not start (install python3-gi, "
                                          + "gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good/-bad: tools/install-deps.sh): "
                                          + why.suffix(400))
            }
            url = "rtsp://127.0.0.1:\(port)/clip"
            self.port = port
        }
        let port: Int
        func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }
        deinit {
            kill(process.processIdentifier, SIGCONT)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    enum ServerError: Error, CustomStringConvertible {
        case missing(String)
        var description: String { switch self { case .missing(let s): s } }
    }

    static func clip(_ dir: URL) throws -> String {
        let path = dir.appendingPathComponent("clip.ts").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-t", "60", "-c:v", "libx264", "-preset",
                        "ultrafast", "-g", "25", path])
        return path
    }

    @Test("the RTSP server is killed mid-stream: exit 69 with the reason in stderr and the JSON; the output plays")
    func serverKilled() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try Server(serving: try Self.clip(dir))
        let output = dir.appendingPathComponent("out.mkv").path
        let child = try LiveProcess(["run", server.url, "-o", output, "--json", "-", "--model", model, "--no-progress"])
        #expect(child.wait(timeout: 30) { $0.count >= 10 }, "frames from the server")
        server.signal(SIGKILL)
        let end = child.finish(timeout: 20)
        #expect(!end.timedOut && end.seconds < 5, "noticed after \(end.seconds) s")
        #expect(child.process.terminationStatus == 69, "\(end.stderr)")
        #expect(end.stderr.contains("segstream: input ended '\(server.url)': the server ended the stream or closed the connection"),
                "\(end.stderr)")
        #expect(child.received.last?.1.contains("\"input_error\":\"input ended") == true)
        let decoded = try SafetyCommandTests.decode(output)
        #expect(decoded.clean && decoded.frames > 0, "\(decoded)")
    }

    @Test("the RTSP server stalls (SIGSTOP): exit 69 after the read deadline, and the message says the real wait")
    func serverStalls() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try Server(serving: try Self.clip(dir))
        let child = try LiveProcess(["run", server.url, "--input-timeout", "2", "--json", "-", "--model", model, "--no-progress"])
        #expect(child.wait(timeout: 30) { $0.count >= 10 }, "frames from the server")
        server.signal(SIGSTOP)
        let stopped = Date()
        let end = child.finish(timeout: 30)
        let took = Date().timeIntervalSince(stopped)
        // The deadline runs from the last packet, which came at most a frame or so before the stop.
        #expect(!end.timedOut && took > 1.5 && took < 3.5, "detected \(took) s after the stall")
        #expect(child.process.terminationStatus == 69, "\(end.stderr)")
        let said = end.stderr.contains("nothing for 2.0 s (limit 2.0 s)") || end.stderr.contains("nothing for 2.1 s (limit 2.0 s)")
        #expect(said, "\(end.stderr)")
    }
}
