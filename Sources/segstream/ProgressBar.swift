import Foundation

/// A one-line progress bar on stderr (frames/total, fps, ETA), drawn only when stderr is a terminal.
public struct ProgressBar: Sendable {
    public let enabled: Bool
    public let total: Int?

    public init(total: Int?, enabled: Bool = isatty(STDERR_FILENO) != 0) {
        self.total = total
        self.enabled = enabled
    }

    /// The text of the bar; `draw` writes it.
    public static func line(frames: Int, total: Int?, fps: Double, width: Int = 28) -> String {
        let rate = String(format: "%.1f fps", fps)
        guard let total, total > 0 else { return "\(frames) frames  \(rate)" }
        let fraction = min(1, Double(frames) / Double(total))
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "")
            + String(repeating: " ", count: max(0, width - filled - 1))
        let eta: String
        if fps > 0 && frames < total {
            let s = Int(Double(total - frames) / fps)
            eta = String(format: "ETA %02d:%02d", s / 60, s % 60)
        } else {
            eta = "ETA --:--"
        }
        return "[\(bar)] \(frames)/\(total)  \(rate)  \(eta)"
    }

    public func draw(frames: Int, fps: Double) {
        guard enabled else { return }
        FileHandle.standardError.write(Data(("\r" + Self.line(frames: frames, total: total, fps: fps) + "\u{1B}[K").utf8))
    }

    public func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
