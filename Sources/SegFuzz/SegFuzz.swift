// Coverage-guided fuzz targets (libFuzzer) for the two parsers that read untrusted bytes:
//
//   model  SafetensorsFile(bytes:) → SFNetConfig(metadata:) → SFNetModel / SFNetInt8Model (every shape,
//          dtype, offset and metadata check the loader does before a single inference)
//   video  VideoSource over the bytes as a file: probe, demux, decode up to 8 frames
//
// Built with libFuzzer (bench/fuzz.sh, tools/fuzz-smoke.sh):
//   swift build --scratch-path .build-fuzz --product SegFuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
//   SEGFUZZ_TARGET=model .build-fuzz/debug/SegFuzz CORPUS_DIR -max_total_time=60
// A normal build makes a replay tool instead: `SegFuzz model|video FILE...` runs the same harness once per
// file (reproducing a crash without libFuzzer, or checking a corpus in a test).
import Foundation
import SegEngine
import SegMedia
import SFNet

/// Runs one input through a harness. Every thrown error is an expected outcome (a rejected input); a crash,
/// a trap or a sanitizer report is a finding.
enum Harness: String {
    case model, video

    func run(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .model: Self.model(bytes)
        case .video: Self.video(bytes)
        }
    }

    static func model(_ bytes: UnsafeRawBufferPointer) {
        do {
            let file = try SafetensorsFile(bytes: Array(bytes))
            let config = try SFNetConfig(metadata: file.metadata)
            switch config.precision {
            case .fp32: _ = try SFNetModel(file: file)
            case .int8: _ = try SFNetInt8Model(file: file)
            }
        } catch {
            _ = "\(error)"   // descriptions must not crash either (MessageText on hostile names)
        }
    }

    /// The input is written to one scratch file per process (FFmpeg's file protocol, as for a real input).
    static let scratch = "/dev/shm/segfuzz-\(getpid()).bin"

    static func video(_ bytes: UnsafeRawBufferPointer) {
        let fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return }
        _ = write(fd, bytes.baseAddress, bytes.count)
        close(fd)
        do {
            var options = SourceOptions()
            options.decoderThreads = 1
            options.formatOptions = ["probesize": "32768", "analyzeduration": "500000"]
            let source = try VideoSource(scratch, options: options)
            let converter = FrameConverter(quality: .bilinear)
            var n = 0
            while n < 8, let frame = try source.nextFrame() {
                let w = min(frame.width, 64), h = min(frame.height, 64)
                var rgb = [UInt8](repeating: 0, count: w * h * 3)
                try rgb.withUnsafeMutableBufferPointer {
                    try converter.convertToRGB24(frame, width: w, height: h, into: $0.baseAddress!, rowStride: w * 3)
                }
                n += 1
            }
        } catch {
            _ = "\(error)"
        }
    }

    static var fromEnvironment: Harness {
        Harness(rawValue: ProcessInfo.processInfo.environment["SEGFUZZ_TARGET"] ?? "model") ?? .model
    }
}

#if FUZZING
private let harness = Harness.fromEnvironment

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    MediaLibrary.setFFmpegLogLevel(-8)   // quiet: corrupt inputs make FFmpeg talk
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    harness.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

// SwiftPM links an executable's entry point as `<Target>_main` (aliased to `main`), so libFuzzer's own main is
// never pulled from its archive: start its driver from ours.
typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: FuzzCallback) -> Int32

@_cdecl("SegFuzz_main")
public func segFuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector) { data, size in fuzzerTestOneInput(data, size) }
}
#else
@main
struct Replay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let first = args.first, let harness = Harness(rawValue: first) else {
            FileHandle.standardError.write(Data("usage: SegFuzz model|video FILE...\n".utf8))
            exit(64)
        }
        MediaLibrary.setFFmpegLogLevel(-8)
        for path in args.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            data.withUnsafeBytes { harness.run($0) }
        }
        print("SegFuzz: \(args.count - 1) inputs ran through the \(harness.rawValue) harness")
    }
}
#endif
