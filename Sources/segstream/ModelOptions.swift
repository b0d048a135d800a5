import ArgumentParser
import Foundation
import SegEngine
import SFNet

extension ModelPrecision: ExpressibleByArgument {}

/// `--model` and `--threads`, shared by every command that runs the network.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model file (.safetensors). Default: the bundled int8 model, or its fp32 original with --precision fp32 (see README).")
    var model: String?

    // `.unconditional`: "--threads -1" is a bad value (validate() says so), not a missing one.
    @Option(name: .long, parsing: .unconditional, help: "Engine threads (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Arithmetic: fp32 or int8 (default: the model file's own precision; int8 files come from `segstream quantize`).")
    var precision: ModelPrecision?

    func validate() throws {
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be between 1 and 256") }
    }

    var threadCount: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

    /// The model file to use: `--model`, else `$SEGSTREAM_MODEL`, else the bundled default next to the
    /// installed binary (`../share/segstream/models`) or in the source tree the binary was built in: the
    /// int8 model (what segstream is for), or its fp32 original with `--precision fp32`.
    func resolvedModelPath() throws -> String {
        if let model { return model }
        if let env = ProcessInfo.processInfo.environment["SEGSTREAM_MODEL"], !env.isEmpty { return env }
        let name = precision == .fp32 ? Self.bundledFP32 : Self.bundledInt8
        if let path = BundledFile.locate("models/\(name)") { return path }
        throw CLIError("no model given and the bundled model \(name) was not found; pass --model FILE or set SEGSTREAM_MODEL",
                       .noInput)
    }

    static let bundledInt8 = "sfnet-df1-synth-int8.safetensors"
    static let bundledFP32 = "sfnet-df1-synth.safetensors"

    /// A session (on the process-wide pool) of the loaded model: what a single-stream command runs.
    func loadSession() throws -> InferenceSession { try loadModel().makeSession() }

    /// Loads the model, after sizing the process-wide worker pool to `--threads`.
    func loadModel() throws -> any SegmentationModel {
        WorkerPool.configureShared(threads: threadCount)
        return try Self.loadModel(path: try resolvedModelPath(), precision: precision)
    }

    /// Loads the model file at `path` as `precision` (nil: the file's own), errors mapped to sysexits codes.
    static func loadModel(path: String, precision: ModelPrecision?) throws -> any SegmentationModel {
        guard FileManager.default.fileExists(atPath: path) else { throw CLIError("model file not found: \(path)", .noInput) }
        do {
            return try loadSegmentationModel(contentsOf: URL(fileURLWithPath: path), precision: precision)
        } catch let error as PrecisionMismatch {
            throw CLIError("model \(path): \(error.description)", .usage)
        } catch let error as CustomStringConvertible {
            throw CLIError("model \(path): \(error.description)", .dataError)
        }
    }
}

/// Files shipped with segstream (the default model, the sample clip), found next to the installed binary
/// (`../share/segstream/`) or in the source tree the binary was built in.
enum BundledFile {
    static func locate(_ relativePath: String) -> String? {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [
            exe.appendingPathComponent("../share/segstream/\(relativePath)"),
            exe.appendingPathComponent("../../\(relativePath)"),       // .build/release/segstream in a checkout
            exe.appendingPathComponent("../../../\(relativePath)"),    // .build/<triple>/release/segstream
            URL(fileURLWithPath: relativePath),
        ]
        return candidates.map(\.standardizedFileURL.path).first { FileManager.default.fileExists(atPath: $0) }
    }
}
