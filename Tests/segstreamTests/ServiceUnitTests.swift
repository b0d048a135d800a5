import Foundation
import Testing

/// service/segstream.service and service/install.sh, checked with systemd's own tools (Debian's `systemd`
/// package, installed by tools/install-deps.sh).
@Suite("service/: the systemd unit and the installer")
struct ServiceUnitTests {
    static let unit = CLI.packageRoot.appendingPathComponent("service/segstream.service").path
    static let analyze = "/usr/bin/systemd-analyze"

    /// The unit with ExecStart pointing at the built binary, in a fresh folder (verify checks the executable).
    func unitForBuiltBinary() throws -> (dir: URL, path: String) {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        #expect(text.contains("\nExecStart=/usr/local/bin/segstream serve "))
        let dir = try CLI.temporaryDirectory()
        let path = dir.appendingPathComponent("segstream.service").path
        try text.replacingOccurrences(of: "\nExecStart=/usr/local/bin/segstream ", with: "\nExecStart=\(CLI.binary) ")
            .write(toFile: path, atomically: true, encoding: .utf8)
        return (dir, path)
    }

    @Test("systemd-analyze verify: exit 0 and not one warning (an unknown or misspelt directive warns)")
    func verify() throws {
        let (dir, path) = try unitForBuiltBinary()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try CLI.run(Self.analyze, ["verify", path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.isEmpty && result.stderr.isEmpty, "\(result.stdout)\(result.stderr)")
    }

    @Test("systemd-analyze verify fails the unit when the binary is missing (so the test above can fail)")
    func verifyCatchesMissingBinary() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("segstream.service").path
        try FileManager.default.copyItem(atPath: Self.unit, toPath: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "/usr/local/bin/segstream", with: dir.path + "/absent/segstream")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let result = try CLI.run(Self.analyze, ["verify", path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("is not executable"))
    }

    @Test("systemd-analyze security --offline=true rates the unit at 2.0 or lower")
    func exposure() throws {
        let (dir, path) = try unitForBuiltBinary()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try CLI.run(Self.analyze, ["security", "--offline=true", "--no-pager", path])
        let output = result.stdout + result.stderr
        let line = try #require(output.split(separator: "\n").first { $0.contains("Overall exposure level") },
                                "no exposure line in: \(output)")
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) },
                                 "unreadable: \(line)")
        #expect(score <= 2.0, "\(line)")
    }

    @Test("the unit has what the issue asks for")
    func directives() throws {
        let lines = Set(try String(contentsOfFile: Self.unit, encoding: .utf8).split(separator: "\n").map(String.init))
        for directive in ["Type=notify", "DynamicUser=yes", "StateDirectory=segstream", "ConfigurationDirectory=segstream",
                          "DeviceAllow=char-video4linux rw", "SupplementaryGroups=video", "RestartPreventExitStatus=78",
                          "ExecReload=/bin/kill -HUP $MAINPID", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
                          "SystemCallFilter=@system-service", "ProtectKernelTunables=yes", "ProtectKernelModules=yes",
                          "ProtectKernelLogs=yes", "WatchdogSec=60s", "NotifyAccess=main"] {
            #expect(lines.contains(directive), "missing \(directive)")
        }
        #expect(lines.contains { $0.hasPrefix("MemoryMax=") })
    }

    @Test("install.sh into a staging folder: everything in place; a second run changes nothing it should keep")
    func installer() throws {
        let dest = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dest) }
        let script = CLI.packageRoot.appendingPathComponent("service/install.sh").path
        let arguments = ["--destdir", dest.path, "--prefix", "/opt/seg", "--binary", CLI.binary]
        let first = try CLI.run(script, arguments)
        #expect(first.status == 0, "\(first.stderr)")
        let fm = FileManager.default
        func file(_ path: String) -> String { dest.path + path }
        #expect(fm.isExecutableFile(atPath: file("/opt/seg/bin/segstream")))
        #expect(fm.fileExists(atPath: file("/opt/seg/share/segstream/models/sfnet-df1-synth-int8.safetensors")))
        #expect(fm.fileExists(atPath: file("/opt/seg/share/doc/segstream/serve.md")))
        let unit = try String(contentsOfFile: file("/etc/systemd/system/segstream.service"), encoding: .utf8)
        #expect(unit.contains("\nExecStart=/opt/seg/bin/segstream serve --config /etc/segstream/segstream.yaml\n"))
        let example = try String(contentsOfFile: CLI.packageRoot.appendingPathComponent("service/segstream.yaml").path,
                                 encoding: .utf8)
        #expect(try String(contentsOfFile: file("/etc/segstream/segstream.yaml"), encoding: .utf8) == example)
        let envMode = try fm.attributesOfItem(atPath: file("/etc/segstream/segstream.env"))[.posixPermissions] as? Int
        #expect(envMode == 0o600)

        // An edited configuration survives a second run; the new example goes beside it.
        let edited = example + "# edited\n"
        try edited.write(toFile: file("/etc/segstream/segstream.yaml"), atomically: true, encoding: .utf8)
        let second = try CLI.run(script, arguments)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try String(contentsOfFile: file("/etc/segstream/segstream.yaml"), encoding: .utf8) == edited)
        #expect(try String(contentsOfFile: file("/etc/segstream/segstream.yaml.dist"), encoding: .utf8) == example)
        #expect(try String(contentsOfFile: file("/etc/systemd/system/segstream.service"), encoding: .utf8) == unit)

        #expect(try CLI.run(script, ["--no-such-option"]).status == 64)
    }
}
