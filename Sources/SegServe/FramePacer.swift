/// `fps:`: picks which decoded frames to process so that at most `fps` frames a second go through, evenly
/// spaced, by the frames' own timestamps (never by the wall clock, so a file processed faster than real time is
/// paced the same way as a camera).
///
/// Time is cut into slots of 1/fps seconds; the first frame in each new slot is processed. At 25 → 10 fps that
/// keeps frames 0, 3, 5, 8, 10, … (gaps of 0.12 and 0.08 s, the best a 25 fps source allows), never two in a
/// slot, and never two closer than half a slot (variable-rate sources). A timestamp that goes backwards (a looping file starting over, a camera that reset its clock) starts
/// the slots again from that frame. Frames without a timestamp are all processed.
public struct FramePacer: Sendable, Equatable {
    /// nil: every frame.
    public let fps: Double?
    private var lastSlot: Int64?
    private var lastKept: Double?
    private var lastTime: Double?

    public init(fps: Double?) {
        precondition(fps.map { $0 > 0 && $0.isFinite } ?? true, "fps must be positive")
        self.fps = fps
    }

    /// Whether to process the frame presented at `time` seconds.
    public mutating func shouldProcess(time: Double?) -> Bool {
        guard let fps, let time, time.isFinite else { return true }
        let slot = Int64((time * fps + 1e-9).rounded(.down))  // 0.3 s × 10 is 2.9999…: still slot 3
        defer { lastTime = time }
        if let lastSlot, let lastKept, let lastTime, time >= lastTime {
            // One frame per slot, and none closer than half a slot to the last one (two frames either side of a
            // slot boundary would be a burst).
            if slot <= lastSlot || (time - lastKept) * fps + 1e-9 < 0.5 { return false }
        }
        lastSlot = slot
        lastKept = time
        return true
    }
}
