import Foundation
import Testing

/// Issue #11: never destroy a user's data, never call a failure success, survive a hard kill. Each test
/// reproduces one reported case against the built binary; outputs are checked with ffprobe/ffmpeg.
@Suite("segstream run: safety (#11)", .serialized)
struct SafetyCommandTests {
    let model = CLI.tinyModel

    /// A short clip: `seconds` at 10 fps, 64×48 (the tiny model runs at a few ms a frame).
    static func clip(_ dir: URL, _ name: String = "in.mp4", seconds: Double = 1, size: String = "64x48",
                     rate: Int = 10) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=\(size):rate=\(rate)", "-t", "\(seconds)", "-c:v", "libx264",
                        "-preset", "ultrafast", "-pix_fmt", "yuv420p", path])
        return path
    }

    static func lines(_ text: String) -> [Substring] { text.split(separator: "\n") }

    /// Frames ffmpeg decodes from `path`, and whether it decoded without an error line.
    static func decode(_ path: String) throws -> (frames: Int, clean: Bool, errors: String) {
        let r = try CLI.run("/usr/bin/ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                                 "stream=nb_read_frames", "-of", "csv=p=0", path])
        let frames = Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").first ?? "") ?? 0
        return (frames, r.status == 0 && r.stderr.isEmpty, r.stderr)
    }

    // MARK: 1. the output is the input

    @Test("an output that is the input (any spelling, symlink, hard link) is refused: exit 64, input untouched",
          arguments: ["same", "dot-slash", "absolute", "symlink", "hardlink"], ["-o", "--json", "--telemetry"])
    func outputIsTheInput(spelling: String, option: String) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Named .mp4 so that "-o" passes the extension check and reaches the same-file check.
        let input = try Self.clip(dir, "same.mp4")
        let before = try Data(contentsOf: URL(fileURLWithPath: input))
        let output: String
        switch spelling {
        case "same": output = input
        case "dot-slash": output = "./same.mp4"
        case "absolute": output = dir.appendingPathComponent("./same.mp4").path
        case "symlink":
            output = dir.appendingPathComponent("link.mp4").path
            try FileManager.default.createSymbolicLink(atPath: output, withDestinationPath: "same.mp4")
        default:
            output = dir.appendingPathComponent("hard.mp4").path
            try FileManager.default.linkItem(atPath: input, toPath: output)
        }
        let result = try CLI.run(CLI.binary, ["run", spelling == "dot-slash" ? "same.mp4" : input, option, output,
                                              "--model", model, "--no-progress"], timeout: 60,
                                 currentDirectory: dir.path)
        #expect(result.status == 64, "\(spelling) \(option): \(result.stderr)")
        #expect(Self.lines(result.stderr).count == 1 && result.stderr.contains("same file as the input"), "\(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before, "the input was modified")
    }

    // MARK: 2 and 3. write failures, device nodes, symlinks, replacement

    @Test("--json to a full device (/dev/full): one line, exit 74, the video is finished and plays; the device stays a device",
          arguments: ["--json", "--telemetry"])
    func machineOutputToAFullDevice(option: String) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Self.clip(dir, seconds: 2), output = dir.appendingPathComponent("out.mp4").path
        // As root, a private node (char 1,7 = /dev/full; old-style dev_t encoding, major << 8 | minor) in the scratch directory: a regression that replaces
        // the device must not break the machine's /dev/full. Others cannot replace /dev/full anyway.
        var full = "/dev/full"
        if getuid() == 0 {
            full = dir.appendingPathComponent("full").path
            #expect(mknod(full, S_IFCHR | 0o666, dev_t((1 << 8) | 7)) == 0, "mknod: \(String(cString: strerror(errno)))")
        }
        let result = try CLI.segstream(["run", input, "-o", output, option, full, "--telemetry-interval", "0.01",
                                        "--model", model, "--no-progress"], timeout: 60)
        #expect(result.status == 74, "\(result.stderr)")
        let errorLines = Self.lines(result.stderr).filter { $0.hasPrefix("segstream: ") }
        #expect(errorLines == ["segstream: cannot write '\(full)': No space left on device"], "\(result.stderr)")
        let decoded = try Self.decode(output)
        #expect(decoded.frames > 0 && decoded.clean, "the video must play: \(decoded.errors)")
        var st = stat()
        #expect(stat(full, &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR, "\(full) is no longer a device")
    }

    /// Runs `segstream` with a 64 KiB tmpfs mounted at `mountPoint` (a private mount namespace through
    /// util-linux `unshare`, so that neither root nor a leftover mount is needed). The tmpfs is gone afterwards.
    static func segstreamWithFullDisk(at mountPoint: String, _ arguments: [String]) throws -> CLI.Result {
        let script = "mount -t tmpfs -o size=64k tmpfs \"$0\" || { echo 'segstream test: cannot mount a tmpfs' >&2; exit 99; }; exec \"$@\""
        return try CLI.run("/usr/bin/unshare", ["--user", "--map-root-user", "--mount", "/bin/sh", "-c", script, mountPoint,
                                                CLI.binary] + arguments, timeout: 90)
    }

    @Test("a full disk under --json: exit 74 with one line, and the video on another disk plays")
    func fullDiskUnderJSON() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let small = dir.appendingPathComponent("small").path
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        let input = try Self.clip(dir, seconds: 30, rate: 25), output = dir.appendingPathComponent("out.mp4").path
        let result = try Self.segstreamWithFullDisk(at: small, ["run", input, "-o", output, "--json", small + "/frames.jsonl",
                                                                "--model", model, "--no-progress"])
        #expect(result.status == 74, "\(result.stderr)")
        let errorLines = Self.lines(result.stderr).filter { $0.hasPrefix("segstream: ") }
        #expect(errorLines.count == 1 && errorLines[0].hasSuffix("No space left on device"), "\(result.stderr)")
        let decoded = try Self.decode(output)
        #expect(decoded.frames > 50 && decoded.clean, "\(decoded)")
    }

    @Test("a full disk under the video: exit 74 with one line, the JSON is finished with its summary")
    func fullDiskUnderVideo() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let small = dir.appendingPathComponent("small").path
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        let input = try Self.clip(dir, seconds: 20, size: "320x240", rate: 25), json = dir.appendingPathComponent("f.jsonl").path
        let result = try Self.segstreamWithFullDisk(at: small, ["run", input, "-o", small + "/out.mkv", "--json", json,
                                                                "--model", model, "--no-progress"])
        #expect(result.status == 74, "\(result.stderr)")
        let errorLines = Self.lines(result.stderr).filter { $0.hasPrefix("segstream: ") }
        #expect(errorLines.count == 1 && errorLines[0].hasSuffix("No space left on device"), "\(result.stderr)")
        let records = try String(contentsOfFile: json, encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(records.last?["type"] as? String == "summary")
        #expect(records.count > 2 && records.count < 20 * 25, "the run stopped at the failure: \(records.count) records")
    }

    @Test("machine outputs write through FIFOs, symlinks and '-' (stdout), and never truncate a file in place")
    func machineOutputsWriteThrough() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Self.clip(dir)
        // A FIFO stays a FIFO, and its reader gets every line.
        let fifo = dir.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let received = LockedData()
        let reader = Thread {
            let fd = open(fifo, O_RDONLY)
            var all = Data(), buffer = [UInt8](repeating: 0, count: 4096)
            while fd >= 0 {
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 { break }
                all.append(contentsOf: buffer[..<n])
            }
            if fd >= 0 { close(fd) }
            received.set(all)
        }
        reader.start()
        var result = try CLI.segstream(["run", input, "--json", fifo, "--model", model, "--no-progress"], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let readerDeadline = Date().addingTimeInterval(10)
        while !reader.isFinished && Date() < readerDeadline { usleep(10_000) }
        #expect(String(decoding: received.get(), as: UTF8.self).split(separator: "\n").count == 11)
        var st = stat()
        #expect(lstat(fifo, &st) == 0 && (st.st_mode & S_IFMT) == S_IFIFO)
        // A symlink stays a symlink; its target gets the new content.
        let target = dir.appendingPathComponent("target.jsonl").path, link = dir.appendingPathComponent("link.jsonl").path
        try Data("old\n".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "target.jsonl")
        result = try CLI.segstream(["run", input, "--json", link, "--model", model, "--no-progress"], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(lstat(link, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK)
        #expect(try String(contentsOfFile: target, encoding: .utf8).split(separator: "\n").count == 11)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".partial") }.isEmpty)
        // "-" is standard output.
        result = try CLI.segstream(["run", input, "--json", "-", "--model", model, "--no-progress"], timeout: 60)
        #expect(result.status == 0 && result.stdout.split(separator: "\n").count == 11, "\(result.stderr)")
    }

    @Test("SIGKILL while replacing an existing JSON file leaves the previous file whole")
    func killDuringReplacementKeepsTheOldFile() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Self.clip(dir, seconds: 60, rate: 25)
        let json = dir.appendingPathComponent("frames.jsonl").path
        let old = Data((0..<100).map { "{\"previous\": \($0)}\n" }.joined().utf8)
        try old.write(to: URL(fileURLWithPath: json))
        let result = try CLI.run(CLI.binary, ["run", input, "--json", json, "--model", model, "--no-progress"], timeout: 60) { p in
            // Kill once the new lines are being written (the temporary file next to it has grown).
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let partial = (try? FileManager.default.contentsOfDirectory(atPath: dir.path))?.first { $0.hasSuffix(".partial") }
                if let partial, (try? FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(partial).path)[.size]
                                 as? Int) ?? 0 > 2000 { break }
                usleep(20_000)
            }
            kill(p.processIdentifier, SIGKILL)
        }
        #expect(result.status == SIGKILL)
        #expect(try Data(contentsOf: URL(fileURLWithPath: json)) == old)
    }

    // MARK: 7. forged messages

    @Test("a tensor name with a newline, escapes and 100 000 characters prints one short, escaped line")
    func forgedTensorName() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Self.clip(dir)
        let evil = dir.appendingPathComponent("evil.safetensors").path
        let name = "x\nsegstream: all good, exit 0\u{1b}[2J\u{1b}]0;owned\u{07}" + String(repeating: "A", count: 100_000)
        try CLI.copyModel(model, to: evil, addingTensor: name, dtype: "ZZ")
        let result = try CLI.segstream(["run", input, "--model", evil, "--no-progress"], timeout: 60)
        #expect(result.status == 65, "\(result.stderr.prefix(300))")
        #expect(Self.lines(result.stderr).count == 1, "\(result.stderr.prefix(300))")
        #expect(!result.stderr.contains("\u{1b}") && !result.stderr.contains("\u{07}"))
        #expect(result.stderr.contains("x\\nsegstream: all good, exit 0\\x1b[2J"))
        #expect(result.stderr.utf8.count < 1200, "\(result.stderr.utf8.count) bytes")
    }

    // MARK: 8. small cases

    @Test("small cases: 1x1 video is bad data (65); --threads -1 and an unknown --preset are one-line usage errors (64)")
    func smallCases() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tiny = dir.appendingPathComponent("tiny.mkv").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc=size=8x8:rate=5", "-t", "0.4", "-vf", "scale=1:1,format=rgb24", "-c:v", "ffv1", tiny])
        var result = try CLI.segstream(["run", tiny, "-o", dir.appendingPathComponent("o.mp4").path, "--model", model,
                                        "--no-progress"], timeout: 60)
        #expect(result.status == 65, "\(result.stderr)")
        #expect(Self.lines(result.stderr).count == 1 && result.stderr.contains("too small"), "\(result.stderr)")
        let input = try Self.clip(dir)
        result = try CLI.segstream(["run", input, "--threads", "-1", "--model", model], timeout: 60)
        #expect(result.status == 64 && result.stderr.contains("--threads must be between 1 and 256"), "\(result.stderr)")
        #expect(!result.stderr.contains("Missing value"))
        let out = dir.appendingPathComponent("p.mp4").path
        result = try CLI.segstream(["run", input, "-o", out, "--preset", "ludicrous", "--model", model, "--no-progress"], timeout: 60)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(Self.lines(result.stderr).count == 1 && result.stderr.contains("unknown x264 preset 'ludicrous'"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}

extension CLI {
    /// Copies a safetensors model file, adding a zero-length tensor entry `name` with `dtype` to its header.
    static func copyModel(_ source: String, to destination: String, addingTensor name: String, dtype: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        let length = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var header = try #require(try JSONSerialization.jsonObject(with: data[8..<(8 + length)]) as? [String: Any])
        header[name] = ["dtype": dtype, "shape": [0], "data_offsets": [0, 0]]
        var json = try JSONSerialization.data(withJSONObject: header)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data((0..<8).map { UInt8(truncatingIfNeeded: json.count >> (8 * $0)) })
        out.append(json)
        out.append(data[(8 + length)...])
        try out.write(to: URL(fileURLWithPath: destination))
    }
}

// MARK: 4 and 5. live inputs: ends, stalls, SIGTERM

@Suite("segstream run: lost and stalled inputs (#11)", .serialized)
struct LostInputCommandTests {
    let model = CLI.tinyModel

    /// 30 s of MPEG-TS, 64x48 at 10 fps.
    static func longTS(_ dir: URL) throws -> Data {
        let path = dir.appendingPathComponent("long.ts").path
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "30", "-c:v", "libx264", "-preset",
                        "ultrafast", path])
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    @Test("a stalled pipe and SIGTERM: the process exits within 2 s, and the output plays")
    func stalledPipeObeysSIGTERM() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try Self.longTS(dir), output = dir.appendingPathComponent("out.mkv").path
        let child = try LiveProcess(["run", "-", "-o", output, "--json", "-", "--model", model, "--no-progress"], stdinPipe: true)
        child.feed(clip.prefix(clip.count / 2))   // then the writer stalls, pipe open
        #expect(child.wait(timeout: 30) { lines in lines.count >= 100 }, "frames before the stall")
        usleep(500_000)   // the stall: the reader is now blocked on the pipe
        let signalled = Date()
        kill(child.process.processIdentifier, SIGTERM)
        let end = child.finish(timeout: 10)
        let took = Date().timeIntervalSince(signalled)
        #expect(!end.timedOut && took < 2, "exited \(took) s after SIGTERM: \(end.stderr)")
        #expect(child.process.terminationStatus == 128 + SIGTERM, "\(end.stderr)")
        let decoded = try SafetyCommandTests.decode(output)
        #expect(decoded.clean && decoded.frames >= 100, "\(decoded)")
    }

    @Test("a pipe that never sends: exit 69 after --input-timeout, and the message says how long it waited")
    func silentPipeTimesOut() throws {
        let child = try LiveProcess(["run", "-", "--input-timeout", "1", "--model", model, "--no-progress"], stdinPipe: true)
        let end = child.finish(timeout: 20)
        #expect(!end.timedOut && end.seconds < 4, "\(end.seconds) s")
        #expect(child.process.terminationStatus == 69, "\(end.stderr)")
        #expect(end.stderr.contains("timed out after 1.0 s (limit 1.0 s)") || end.stderr.contains("timed out after 1.1 s (limit 1.0 s)"),
                "\(end.stderr)")
    }

    @Test("a pipe closed by its writer mid-run is exit 69 with the reason; with --eof-ok it is done (0)")
    func closedPipe() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try Self.longTS(dir).prefix(20_000)
        for eofOK in [false, true] {
            let child = try LiveProcess(["run", "-", "--json", "-", "--model", model, "--no-progress"] + (eofOK ? ["--eof-ok"] : []),
                                        stdinPipe: true)
            child.feed(clip)
            try child.input.fileHandleForWriting.close()
            let end = child.finish(timeout: 30)
            #expect(child.process.terminationStatus == (eofOK ? 0 : 69), "\(end.stderr)")
            let frames = child.received.filter { $0.1.contains("\"type\":\"frame\"") }.count
            #expect(frames > 0)
            let summary = child.received.last?.1 ?? ""
            if eofOK {
                #expect(summary.contains("\"input_error\":null"), "\(summary)")
            } else {
                #expect(end.stderr.contains("segstream: input ended '-': the pipe was closed by its writer after \(frames) frames"),
                        "\(end.stderr)")
                #expect(summary.contains("\"input_error\":\"input ended"), "the JSON summary names the error: \(summary)")
            }
        }
    }
}
