/// Panoptic instances drawn over the coloured panel of a frame: each instance's pixels in a shade of its
/// class colour picked by its (stable) instance id, and a one-pixel white outline where an instance meets
/// anything else.
public struct InstanceOverlay {
    /// Thing segment per pixel at the frame's size, `width` per row (0 = none); lent for the call.
    public let segments: UnsafePointer<Int32>
    /// Train id of segment k at k − 1.
    public let segmentClasses: [UInt8]
    /// Instance id of segment k at k − 1 (picks the shade, so an instance keeps its shade while tracked).
    public let instanceIDs: [Int]

    public init(segments: UnsafePointer<Int32>, segmentClasses: [UInt8], instanceIDs: [Int]) {
        precondition(segmentClasses.count == instanceIDs.count, "one id per segment")
        self.segments = segments
        self.segmentClasses = segmentClasses
        self.instanceIDs = instanceIDs
    }

    /// Brightness factors of the class colour, in 1/256: five shades, neighbours in id far apart.
    static let shades: [Int] = [256, 166, 346, 211, 301]

    /// `panel` is the panel's top-left pixel; `colors` 256 RGB triples; `weight` the colour's blend weight
    /// (0…256) in the panel, so a shade changes the drawn pixel by weight × (shade − 1) × colour.
    func draw(on panel: UnsafeMutablePointer<UInt8>, rowStride: Int, width: Int, height: Int,
              colors: UnsafePointer<UInt8>, weight: Int) {
        let count = segmentClasses.count
        guard count > 0 else { return }
        // Per segment: the signed change of each channel.
        var delta = [Int](repeating: 0, count: 3 * (count + 1))
        for k in 1...count {
            let c = Int(segmentClasses[k - 1]), shade = Self.shades[instanceIDs[k - 1] % Self.shades.count]
            for ch in 0..<3 { delta[3 * k + ch] = weight * (shade - 256) * Int(colors[3 * c + ch]) / 65536 }
        }
        delta.withUnsafeBufferPointer { delta in
            for y in 0..<height {
                let row = segments + y * width
                let out = panel + y * rowStride
                for x in 0..<width {
                    let s = Int(row[x])
                    if s == 0 { continue }
                    let edge = (x > 0 && row[x - 1] != row[x]) || (x + 1 < width && row[x + 1] != row[x])
                        || (y > 0 && row[x - width] != row[x]) || (y + 1 < height && row[x + width] != row[x])
                    let px = out + 3 * x
                    if edge {
                        px[0] = 255
                        px[1] = 255
                        px[2] = 255
                    } else {
                        for ch in 0..<3 { px[ch] = UInt8(clamping: Int(px[ch]) + delta[3 * s + ch]) }
                    }
                }
            }
        }
    }
}
