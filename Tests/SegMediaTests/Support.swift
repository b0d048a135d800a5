import Foundation
import Testing
@testable import SegMedia

/// Runs a command-line tool and returns its stdout (stderr is captured and reported on failure).
@discardableResult
func tool(_ name: String, _ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [name] + args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw ToolError(message: "\(name) \(args.joined(separator: " ")) failed (\(p.terminationStatus)): "
                        + String(decoding: errData.suffix(600), as: UTF8.self))
    }
    return String(decoding: data, as: UTF8.self)
}

struct ToolError: Error, CustomStringConvertible { var message: String; var description: String { message } }

/// `ffmpeg -y -v error …` writing `output`.
func ffmpeg(_ args: [String], output: String) throws {
    try tool("ffmpeg", ["-nostdin", "-y", "-v", "error"] + args + [output])
}

/// Tests expect FFmpeg to complain (corrupt streams, missing files): keep its lines out of the test output.
/// They are still collected for `MediaLibrary.recentFFmpegLog()`.
func quietFFmpeg() { MediaLibrary.setFFmpegLogLevel(-8) }   // AV_LOG_QUIET

/// This test process's scratch root, `$TMPDIR/segmedia-tests-<pid>`. Roots left by earlier runs whose process
/// is gone are removed on first use (a test cannot clean up after the whole run).
let scratchRoot: String = {
    let tmp = NSTemporaryDirectory()
    let fm = FileManager.default
    for name in (try? fm.contentsOfDirectory(atPath: tmp)) ?? [] where name.hasPrefix("segmedia-tests-") {
        if let pid = Int32(name.dropFirst("segmedia-tests-".count)), kill(pid, 0) != 0, errno == ESRCH {
            try? fm.removeItem(atPath: tmp + "/" + name)
        }
    }
    let root = tmp + "/segmedia-tests-\(getpid())"
    try? fm.createDirectory(atPath: root, withIntermediateDirectories: true)
    return root
}()

/// A fresh temporary directory per test.
func makeTempDir(_ label: String = #function) throws -> String {
    quietFFmpeg()
    let safe = label.filter { $0.isLetter || $0.isNumber }
    let dir = scratchRoot + "/\(safe)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// What ffprobe says about the video frames of a file.
struct ProbedFrame: Equatable {
    var pts: Int64?
    var width: Int
    var height: Int
}

func probeFrames(_ path: String, stream: String = "v:0") throws -> [ProbedFrame] {
    let csv = try tool("ffprobe", ["-v", "error", "-select_streams", stream, "-show_entries",
                                   "frame=best_effort_timestamp,width,height", "-of", "csv=p=0", path])
    return csv.split(separator: "\n").compactMap { line in
        let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard f.count >= 3 else { return nil }
        // ffprobe orders the fields as in its frame section: best_effort_timestamp, width, height.
        return ProbedFrame(pts: Int64(f[0]), width: Int(f[1]) ?? 0, height: Int(f[2]) ?? 0)
    }
}

/// Presentation times (seconds) of the video frames of a file, per ffprobe.
func probeFrameTimes(_ path: String) throws -> [Double] {
    let csv = try tool("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries",
                                   "frame=best_effort_timestamp_time", "-of", "csv=p=0", path])
    // Lines may carry a trailing ",": take the first field.
    return csv.split(separator: "\n").compactMap { line in line.split(separator: ",").first.flatMap { Double($0) } }
}

/// One `-show_entries stream=…` value per stream of the selected type.
func probeStream(_ path: String, _ stream: String, _ entries: String) throws -> [String: String] {
    let out = try tool("ffprobe", ["-v", "error", "-select_streams", stream, "-show_entries", "stream=\(entries)",
                                   "-of", "default=nw=1", path])
    var d: [String: String] = [:]
    for line in out.split(separator: "\n") {
        let kv = line.split(separator: "=", maxSplits: 1).map(String.init)
        if kv.count == 2 { d[kv[0]] = kv[1] }
    }
    return d
}

func countPackets(_ path: String, stream: String) throws -> Int {
    let out = try tool("ffprobe", ["-v", "error", "-select_streams", stream, "-show_entries", "packet=pts",
                                   "-of", "csv=p=0", path])
    return out.split(separator: "\n").count
}

/// Decodes every frame of a source.
func readAll(_ source: VideoSource) throws -> [VideoFrame] {
    var frames: [VideoFrame] = []
    while let f = try source.nextFrame() { frames.append(f) }
    return frames
}

/// Test clips, each generated once per test process (static lets are initialised once, thread-safely).
enum Clips {
    static let dir: String = {
        quietFFmpeg()
        let d = scratchRoot + "/clips"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    static func make(_ name: String, _ args: [String]) -> String {
        let path = dir + "/" + name
        do { try ffmpeg(args, output: path) } catch { Issue.record("cannot generate \(name): \(error)") }
        return path
    }

    static let src = ["-f", "lavfi", "-i"]

    /// 160×96, 20 frames at 10 fps, H.264 yuv420p in MP4.
    static let basic = make("basic.mp4", src + ["testsrc2=size=160x96:rate=10:duration=2", "-c:v", "libx264",
                                                "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
    /// Odd size 721×405, 10 frames, FFV1 yuv420p in MKV.
    static let odd = make("odd.mkv", src + ["testsrc2=size=722x406:rate=25", "-frames:v", "10", "-vf", "scale=721:405", "-c:v", "ffv1",
                                            "-pix_fmt", "yuv420p"])
    /// Variable frame rate: 10 frames 40 ms apart, then 10 frames 120 ms apart (MKV, 1 ms time base).
    static let vfr = make("vfr.mkv", src + ["testsrc2=size=160x96:rate=25", "-frames:v", "20",
                                            "-vf", "setpts='if(lt(N,10),N*0.04,0.4+(N-10)*0.12)/TB'",
                                            "-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast"])
    /// 1 s of video (25 fps) with an AAC sine track, MP4.
    static let withAudio = make("audio.mp4", ["-f", "lavfi", "-i", "testsrc2=size=160x96:rate=25:duration=1",
                                              "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
                                              "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                                              "-c:a", "aac", "-b:a", "64k", "-shortest"])
    /// 12 frames at 160×96 then 12 frames at 320×192 in one MPEG-TS (byte concatenation, continuous times).
    static let resolutionChange: String = {
        let a = make("rc-a.ts", src + ["testsrc2=size=160x96:rate=10", "-frames:v", "12", "-c:v", "libx264",
                                       "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        let b = make("rc-b.ts", src + ["testsrc2=size=320x192:rate=10", "-frames:v", "12", "-c:v", "libx264",
                                       "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-output_ts_offset", "1.2"])
        let out = dir + "/rc.ts"
        var data = FileManager.default.contents(atPath: a) ?? Data()
        data.append(FileManager.default.contents(atPath: b) ?? Data())
        _ = FileManager.default.createFile(atPath: out, contents: data)
        return out
    }()
    /// 30 frames of H.264 in MPEG-TS with the last 35% of the bytes chopped off.
    static let truncated: String = {
        let full = make("full.ts", src + ["testsrc2=size=160x96:rate=25", "-frames:v", "30", "-c:v", "libx264",
                                          "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        let out = dir + "/truncated.ts"
        let data = FileManager.default.contents(atPath: full) ?? Data()
        _ = FileManager.default.createFile(atPath: out, contents: data.prefix(data.count * 65 / 100))
        return out
    }()

    /// Pixel-format clips: (path, pixel format FFmpeg reports).
    static func format(_ pixfmt: String) -> String {
        switch pixfmt {
        case "rgb24": return make("fmt-rgb24.mov", src + ["testsrc2=size=160x96:rate=10", "-frames:v", "10",
                                                          "-c:v", "png", "-pix_fmt", "rgb24"])
        default: return make("fmt-\(pixfmt).mkv", src + ["testsrc2=size=160x96:rate=10", "-frames:v", "10",
                                                         "-c:v", "ffv1", "-pix_fmt", pixfmt])
        }
    }
}
