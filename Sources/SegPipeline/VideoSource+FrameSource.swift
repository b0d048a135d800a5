import SegMedia

/// FFmpeg's demuxer and decoder as a pipeline source. Its counters are read on the decode thread only; the
/// pipeline hands copies to other threads.
extension VideoSource: FrameSource {
    public var streamInfo: StreamInfo {
        StreamInfo(name: info.input, width: info.width, height: info.height, timeBase: info.timeBase,
                   frameRate: info.averageFrameRate, isLive: info.isLive, estimatedFrameCount: info.estimatedFrameCount,
                   audio: info.audio)
    }

    public var damage: SourceDamage {
        SourceDamage(corruptPackets: corruptPackets, corruptFrames: corruptFrames, synthesizedTimestamps: synthesizedTimestamps)
    }

    public func makeInterrupter() -> @Sendable () -> Void {
        let interrupter = self.interrupter
        return { interrupter.interrupt() }
    }
}
