import Foundation
import SFNet

/// Every distinct model file loaded once: the cache key is the path and the precision asked for (nil: the
/// file's own). A loaded model is immutable and serves every source that names it: each source's pipeline makes
/// its own `InferenceSession` on the process-wide `WorkerPool`, whose FIFO turns share inference fairly between
/// the streams (docs/engine.md). Used by the daemon's loop thread only.
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
    public private(set) var models: [Key: any SegmentationModel] = [:]

    public init(defaultPath: String?, loader: @escaping Loader) {
        self.defaultPath = defaultPath
        self.loader = loader
    }

    public func key(for source: SourceConfig) -> Key? {
        guard let path = source.model ?? defaultPath else { return nil }
        return Key(path: URL(fileURLWithPath: path).standardizedFileURL.path, precision: source.precision)
    }

    /// The shared model of `source`, loaded now if no source used it yet. Throws a one-line description.
    public func model(for source: SourceConfig) throws -> any SegmentationModel {
        guard let key = key(for: source) else {
            throw ServeError("source \(source.name): no model: set `model:` or install the bundled model")
        }
        if let model = models[key] { return model }
        do {
            let loaded = try loader(key.path, source.precision.map { $0 == .int8 ? .int8 : .fp32 })
            models[key] = loaded
            return loaded
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
