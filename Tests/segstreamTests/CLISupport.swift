import Foundation
import Testing

/// Runs the built `segstream` binary and the FFmpeg CLIs for end-to-end tests.
enum CLI {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The binary `swift build` put next to this test bundle.
    static var binary: String {
        let bundleDir = Bundle.main.bundleURL.deletingLastPathComponent()
        for dir in [bundleDir, bundleDir.deletingLastPathComponent(), packageRoot.appendingPathComponent(".build/debug")] {
            let candidate = dir.appendingPathComponent("segstream").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return packageRoot.appendingPathComponent(".build/debug/segstream").path
    }

    /// A tiny random-weight DF1 (width ÷ 16): fast, and the pipeline does not care what it predicts.
    static let tinyModel = packageRoot.appendingPathComponent("Tests/SFNetTests/Fixtures/df1_w16_ac0.safetensors").path

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `executable` with `arguments`; kills it after `timeout` seconds (a hang is a failure, not a wait).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], timeout: Double = 120,
                    environment: [String: String]? = nil, standardInput: String? = nil, currentDirectory: String? = nil,
                    whileRunning: ((Process) -> Void)? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = standardInput.flatMap { FileHandle(forReadingAtPath: $0) } ?? FileHandle.nullDevice
        try process.run()
        let outData = LockedData(), errData = LockedData()
        let group = DispatchGroup()
        for (pipe, sink) in [(out, outData), (err, errData)] {
            group.enter()
            DispatchQueue.global().async {
                sink.set(pipe.fileHandleForReading.readDataToEndOfFile())
                group.leave()
            }
        }
        whileRunning?(process)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            // SIGTERM, then SIGKILL: a child that hangs must not hang the suite with it.
            process.terminate()
            let grace = Date().addingTimeInterval(10)
            while process.isRunning && Date() < grace { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            Issue.record("\(executable) \(arguments.joined(separator: " ")) did not finish in \(timeout) s")
        }
        process.waitUntilExit()
        group.wait()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData.get(), as: UTF8.self),
                      stderr: String(decoding: errData.get(), as: UTF8.self))
    }

    static func segstream(_ arguments: [String], timeout: Double = 120) throws -> Result {
        try run(binary, arguments, timeout: timeout)
    }

    static func ffmpeg(_ arguments: [String]) throws {
        let result = try run("/usr/bin/ffmpeg", ["-v", "error", "-nostdin", "-y"] + arguments)
        if result.status != 0 { Issue.record("ffmpeg failed: \(result.stderr)") }
    }

    /// `ffprobe -show_streams -show_frames -show_format` as JSON.
    static func probe(_ path: String, frames: Bool = true) throws -> [String: Any] {
        var args = ["-v", "error", "-print_format", "json", "-show_streams", "-show_format"]
        if frames { args.append("-show_frames") }
        let result = try run("/usr/bin/ffprobe", args + [path])
        guard result.status == 0, let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            Issue.record("ffprobe could not read \(path): \(result.stderr)")
            return [:]
        }
        return object
    }

    /// Presentation times (seconds) of the video frames ffprobe decodes.
    static func videoFrameTimes(_ probe: [String: Any]) -> [Double] {
        let frames = probe["frames"] as? [[String: Any]] ?? []
        return frames.filter { $0["media_type"] as? String == "video" }.compactMap {
            ($0["best_effort_timestamp_time"] as? String).flatMap(Double.init) ?? ($0["pts_time"] as? String).flatMap(Double.init)
        }
    }

    static func streams(_ probe: [String: Any], type: String) -> [[String: Any]] {
        (probe["streams"] as? [[String: Any]] ?? []).filter { $0["codec_type"] as? String == type }
    }

    /// Copies a safetensors model file with `__metadata__` entries set (the header is rewritten; tensor data
    /// offsets are relative to the end of the header, so they stay valid).
    static func copyModel(_ source: String, to destination: String, settingMetadata entries: [String: String]) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        let length = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var header = try #require(try JSONSerialization.jsonObject(with: data[8..<(8 + length)]) as? [String: Any])
        var metadata = header["__metadata__"] as? [String: String] ?? [:]
        metadata.merge(entries) { $1 }
        header["__metadata__"] = metadata
        var json = try JSONSerialization.data(withJSONObject: header)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data((0..<8).map { UInt8(truncatingIfNeeded: json.count >> (8 * $0)) })
        out.append(json)
        out.append(data[(8 + length)...])
        try out.write(to: URL(fileURLWithPath: destination))
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segstream-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

final class LockedData: @unchecked Sendable {
    private var data = Data()
    private let lock = NSLock()
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}
