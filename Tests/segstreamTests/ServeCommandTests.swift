import Foundation
import Testing

@Suite("segstream serve")
struct ServeCommandTests {
    static let exampleConfig = CLI.packageRoot.appendingPathComponent("service/segstream.yaml").path

    @Test("--check-config on the shipped example: exit 0, one summary line")
    func exampleIsValid() throws {
        let result = try CLI.run(CLI.binary, ["serve", "--check-config", Self.exampleConfig],
                                 environment: ["FRONT_PASSWORD": "example"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "\(Self.exampleConfig): ok, 2 sources: front (rtsp), yard (http)\n")
        #expect(result.stderr.isEmpty)
    }

    @Test("--check-config on the example without its password variable: exit 78, the line that says so")
    func exampleNeedsItsVariable() throws {
        let result = try CLI.run("/usr/bin/env", ["-u", "FRONT_PASSWORD", CLI.binary, "serve", "--check-config",
                                                  Self.exampleConfig])
        #expect(result.status == 78)
        #expect(result.stderr.hasPrefix("\(Self.exampleConfig):"))
        #expect(result.stderr.hasSuffix(": source front: url: environment variable FRONT_PASSWORD is not set\n"))
        #expect(result.stdout.isEmpty)
    }

    @Test("--check-config on a bad file: exit 78, one line per problem, --source included, no secret printed")
    func badConfig() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bad.yaml").path
        try """
            backoff:
              initial: soon
            sources:
              cam:
                url: rtsp://admin:hunter2@192.0.2.1/s
                fps: -1
              disk:
                url: missing.mp4
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try CLI.run(CLI.binary, ["serve", "--check-config", file, "--source", "x=gopher://u:pw@h/"])
        #expect(result.status == 78)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.split(separator: "\n").map(String.init) == [
            "\(file):2: backoff.initial: expected a duration above zero such as 500ms, 1s, 5m, 2h or 1d, got \"soon\"",
            "\(file):6: source cam: fps: must be above 0 and at most 240 (or \"all\"), got -1",
            "\(file):8: source disk: url: no such file: \(dir.path)/missing.mp4",
            "--source: source x: url: gopher://u:***@h/: unsupported scheme \"gopher\" (rtsp, rtsps, http, https, udp, tcp, a file or /dev/videoN)",
        ])
        #expect(!result.stderr.contains("hunter2") && !result.stderr.contains(":pw@"))
    }

    @Test("--check-config on a file that does not exist: exit 78")
    func missingFile() throws {
        let result = try CLI.segstream(["serve", "--check-config", "/nonexistent/segstream.yaml"])
        #expect(result.status == 78)
        #expect(result.stderr == "/nonexistent/segstream.yaml: no such file\n")
    }

    @Test("serve --source with an unreachable camera: retried with backoff, never exits by itself, no password in the log; SIGTERM exits 0")
    func commandLineSourceRetries() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Port 1 on loopback refuses at once: every attempt fails fast.
        let daemon = try LiveProcess(["serve", "--source", "cam=rtsp://viewer:hunter2@127.0.0.1:1/s", "--state-dir", dir.path],
                                     environment: ["SEGSTREAM_MODEL": CLI.tinyModel])
        let retried = ServeDaemonTests.waitFor(20) {
            ServeDaemonTests.events(dir, "cam").filter { $0["event"] as? String == "disconnected" }.count >= 2
        }
        #expect(retried, "\(ServeDaemonTests.events(dir, "cam"))")
        #expect(daemon.process.isRunning)
        daemon.process.terminate()
        let end = daemon.finish(timeout: 30)
        #expect(!end.timedOut && daemon.process.terminationStatus == 0, "\(end.stderr)")
        #expect(end.stderr.contains("source cam: reconnecting in"), "\(end.stderr)")
        #expect(end.stderr.contains("rtsp://viewer:***@127.0.0.1:1/s"), "\(end.stderr)")
        #expect(!end.stderr.contains("hunter2"))
        let lines = try String(contentsOfFile: dir.appendingPathComponent("cam/frames.jsonl").path, encoding: .utf8)
        #expect(!lines.contains("hunter2"))
    }

    @Test("--check-config with --config is a usage error (exit 64)")
    func usage() throws {
        let result = try CLI.segstream(["serve", "--config", "a.yaml", "--check-config", "b.yaml"])
        #expect(result.status == 64)
    }
}
