/// The live numbers in the heads-up line, e.g. `23.4 FPS  INFER 41 MS  LAT 95 MS  FRAME 120`.
///
/// The renderer formats it straight into its own byte buffer, so drawing a HUD allocates nothing; `text`
/// gives the same line as a String (for logs and tests). Absent fields are left out; numbers that are
/// not finite or are negative print as `--`.
public struct HUDText: Sendable, Equatable {
    public var fps: Double
    /// Model inference time for the frame.
    public var inferenceMilliseconds: Double?
    /// End-to-end latency, decode to render.
    public var latencyMilliseconds: Double?
    public var frameIndex: Int?

    public init(fps: Double, inferenceMilliseconds: Double? = nil, latencyMilliseconds: Double? = nil,
                frameIndex: Int? = nil) {
        self.fps = fps
        self.inferenceMilliseconds = inferenceMilliseconds
        self.latencyMilliseconds = latencyMilliseconds
        self.frameIndex = frameIndex
    }

    /// The most bytes `write(into:capacity:)` ever produces.
    public static let maxLength = 96

    public var text: String {
        var bytes = [UInt8](repeating: 0, count: Self.maxLength)
        let n = bytes.withUnsafeMutableBufferPointer { write(into: $0.baseAddress!, capacity: $0.count) }
        return String(decoding: bytes[..<n], as: UTF8.self)
    }

    /// Writes the ASCII line into `buffer` (at most `capacity` bytes) and returns its length.
    public func write(into buffer: UnsafeMutablePointer<UInt8>, capacity: Int) -> Int {
        var w = ByteWriter(base: buffer, capacity: capacity)
        w.decimal(fps, places: 1)
        w.ascii(" FPS")
        if let ms = inferenceMilliseconds {
            w.ascii("  INFER ")
            w.decimal(ms, places: ms < 9.95 ? 1 : 0)
            w.ascii(" MS")
        }
        if let ms = latencyMilliseconds {
            w.ascii("  LAT ")
            w.decimal(ms, places: ms < 9.95 ? 1 : 0)
            w.ascii(" MS")
        }
        if let frameIndex {
            w.ascii("  FRAME ")
            if frameIndex >= 0 { w.integer(UInt64(frameIndex)) } else { w.ascii("--") }
        }
        return w.count
    }
}

/// Appends ASCII to a fixed buffer, silently truncating at capacity; no allocation.
struct ByteWriter {
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    var count = 0

    mutating func byte(_ b: UInt8) {
        if count < capacity {
            base[count] = b
            count += 1
        }
    }

    mutating func ascii(_ s: StaticString) {
        let p = s.utf8Start
        for i in 0..<s.utf8CodeUnitCount { byte(p[i]) }
    }

    mutating func integer(_ v: UInt64) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        var v = v
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[n] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                n += 1
            } while v > 0
            while n > 0 {
                n -= 1
                byte(d[n])
            }
        }
    }

    /// `value` rounded to `places` (0 or 1) decimals; `--` when not finite, negative or absurdly large.
    mutating func decimal(_ value: Double, places: Int) {
        guard value.isFinite, value >= 0, value < 1e12 else {
            ascii("--")
            return
        }
        let scale: Double = places > 0 ? 10 : 1
        let t = UInt64((value * scale).rounded())
        if places > 0 {
            integer(t / 10)
            byte(UInt8(ascii: "."))
            byte(UInt8(ascii: "0") + UInt8(t % 10))
        } else {
            integer(t)
        }
    }
}
