import SegMedia

/// What a stream pipeline reads: decoded frames in presentation order. `VideoSource` (FFmpeg: files, pipes,
/// network streams, cameras) conforms; tests and generators inject their own.
///
/// Threading: one run calls `nextFrame`, `takeAudioPackets` and `damage` on its decode thread only (the
/// source is handed to that thread for the run). `makeInterrupter()` is called once per run, on the thread
/// that starts it; the closure it returns may be called from any thread.
public protocol FrameSource: AnyObject {
    /// The stream as known after opening (a size of 0 means unknown until the first frame).
    var streamInfo: StreamInfo { get }
    /// The next frame, or nil at the end. Throws `MediaError` when the input breaks (`.interrupted` after an
    /// interrupt).
    func nextFrame() throws -> VideoFrame?
    /// Compressed audio packets read since the last call, in demux order (for stream copy).
    func takeAudioPackets() -> [MediaPacket]
    /// Damage counted so far (cumulative).
    var damage: SourceDamage { get }
    /// A closure that wakes a blocked `nextFrame()` from any thread (it then throws `.interrupted` or
    /// returns nil).
    func makeInterrupter() -> @Sendable () -> Void
}

extension FrameSource {
    public func takeAudioPackets() -> [MediaPacket] { [] }
    public var damage: SourceDamage { SourceDamage() }
    public func makeInterrupter() -> @Sendable () -> Void { {} }
}

/// What a pipeline needs to know about a stream before its first frame.
public struct StreamInfo: Sendable {
    /// The input's name (path or URL), for errors and metrics.
    public var name: String
    public var width: Int
    public var height: Int
    /// Time base of the frames' timestamps.
    public var timeBase: Rational
    public var frameRate: Rational
    /// Live sources drop the oldest queued frame by default instead of waiting.
    public var isLive: Bool
    public var estimatedFrameCount: Int?
    /// The audio stream to copy, when the source keeps its packets.
    public var audio: AudioStreamInfo?

    public init(name: String, width: Int, height: Int, timeBase: Rational, frameRate: Rational, isLive: Bool = false,
                estimatedFrameCount: Int? = nil, audio: AudioStreamInfo? = nil) {
        self.name = name
        self.width = width
        self.height = height
        self.timeBase = timeBase
        self.frameRate = frameRate
        self.isLive = isLive
        self.estimatedFrameCount = estimatedFrameCount
        self.audio = audio
    }
}

/// Damage a source counted: packets skipped, frames concealed, timestamps made up.
public struct SourceDamage: Sendable, Equatable {
    public var corruptPackets = 0
    public var corruptFrames = 0
    public var synthesizedTimestamps = 0
    public init(corruptPackets: Int = 0, corruptFrames: Int = 0, synthesizedTimestamps: Int = 0) {
        self.corruptPackets = corruptPackets
        self.corruptFrames = corruptFrames
        self.synthesizedTimestamps = synthesizedTimestamps
    }
}
