import Foundation
import SegEngine
import SFNet

/// A value behind a pthread mutex (`NSLock`, which ThreadSanitizer understands), for state the daemon's threads
/// share. `@unchecked Sendable`: `value` is only touched inside ``withLock(_:)``.
final class ServeLocked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Turns taken in arrival order (a ticket lock): every stream waiting for the model gets the next turn after the
/// ones already waiting, so a fast source cannot starve a slow one.
final class FairTurns: @unchecked Sendable {
    private let condition = NSCondition()
    private var nextTicket: UInt64 = 0
    private var serving: UInt64 = 0

    func withTurn<Result>(_ body: () -> Result) -> Result {
        condition.lock()
        let ticket = nextTicket
        nextTicket += 1
        while serving != ticket { condition.wait() }
        condition.unlock()
        defer {
            condition.lock()
            serving += 1
            condition.broadcast()
            condition.unlock()
        }
        return body()
    }
}

/// One loaded model shared by every source that names it: each forward pass takes a fair turn (``FairTurns``).
///
/// The engine's models are single-owner today (their activation arenas are reused between calls), so the
/// streams' `InferenceSession`s must not call one concurrently; this wrapper serializes them, first come first
/// served. When the engine's shared sessions land (`model.makeSession()` and a process-wide worker pool with fair
/// turns) the pool does this and the wrapper becomes a pass-through.
public final class SharedModel: SegmentationModel, @unchecked Sendable {
    private let model: any SegmentationModel
    private let turns = FairTurns()
    /// The file it was loaded from.
    public let path: String

    public init(_ model: any SegmentationModel, path: String) {
        self.model = model
        self.path = path
    }

    public var config: SFNetConfig { model.config }
    public var threads: Int { model.threads }
    public var precision: ModelPrecision { model.precision }
    public var activationBytes: Int { turns.withTurn { model.activationBytes } }

    public func forward(input: Tensor, outputHeight: Int, outputWidth: Int) -> Tensor {
        turns.withTurn { model.forward(input: input, outputHeight: outputHeight, outputWidth: outputWidth) }
    }

    public func predictLabels(input: Tensor, outputHeight: Int, outputWidth: Int,
                              into labels: UnsafeMutableBufferPointer<UInt8>) {
        turns.withTurn { model.predictLabels(input: input, outputHeight: outputHeight, outputWidth: outputWidth, into: labels) }
    }

    public func profile(input: Tensor) -> [LayerTiming] { turns.withTurn { model.profile(input: input) } }
}

/// Every distinct model file loaded once: the cache key is the path and the precision asked for (nil: the
/// file's own). Used by the daemon's loop thread only.
public final class ModelCache {
    public struct Key: Hashable, Sendable {
        public var path: String
        public var precision: Precision?
    }

    /// Loads one model file (the daemon's default: `loadSegmentationModel` with every core).
    public typealias Loader = (_ path: String, _ precision: ModelPrecision?) throws -> any SegmentationModel

    private let loader: Loader
    /// The model used by sources without `model:` (the CLI resolves the bundled one).
    public let defaultPath: String?
    public private(set) var models: [Key: SharedModel] = [:]

    public init(defaultPath: String?, loader: @escaping Loader) {
        self.defaultPath = defaultPath
        self.loader = loader
    }

    public func key(for source: SourceConfig) -> Key? {
        guard let path = source.model ?? defaultPath else { return nil }
        return Key(path: URL(fileURLWithPath: path).standardizedFileURL.path, precision: source.precision)
    }

    /// The shared model of `source`, loaded now if no source used it yet. Throws a one-line description.
    public func model(for source: SourceConfig) throws -> SharedModel {
        guard let key = key(for: source) else {
            throw ServeError("source \(source.name): no model: set `model:` or install the bundled model")
        }
        if let model = models[key] { return model }
        do {
            let loaded = try loader(key.path, source.precision.map { $0 == .int8 ? .int8 : .fp32 })
            let shared = SharedModel(loaded, path: key.path)
            models[key] = shared
            return shared
        } catch {
            throw ServeError("source \(source.name): model \(key.path): \(error)")
        }
    }

    /// Loads every model `config` needs (start-up and reload: a bad model keeps the old configuration).
    public func loadAll(_ config: ServeConfig) throws {
        for source in config.sources { _ = try model(for: source) }
    }

    /// Forgets the models no source of `config` uses.
    public func prune(keeping config: ServeConfig) {
        let used = Set(config.sources.compactMap(key(for:)))
        models = models.filter { used.contains($0.key) }
    }
}

/// A daemon failure that is not a configuration problem; its description is one line.
public struct ServeError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
