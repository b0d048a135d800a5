import CSegKernels

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

    /// Draws on the panel of `picture` at column `panelX` (`width`×`height`, the segments' size); `colors` are
    /// 256 RGB triples; `weight` the colour's blend weight (0…256) in the panel, so a shade changes the drawn
    /// pixel by weight × (shade − 1) × colour (in YUV: × the colour's luma and chroma, offsets removed).
    func draw(on picture: RenderPicture, panelX: Int, width: Int, height: Int, colors: UnsafePointer<UInt8>, weight: Int) {
        let count = segmentClasses.count
        guard count > 0 else { return }
        precondition(count < Int(Int32.max), "too many segments")
        // Per segment: the signed change of each channel.
        var delta = [Int32](repeating: 0, count: 3 * (count + 1))
        var channels = [Int32](repeating: 0, count: 3)   // one colour's channels, reused for every segment
        for k in 1...count {
            let c = Int(segmentClasses[k - 1]), shade = Self.shades[instanceIDs[k - 1] % Self.shades.count]
            if picture.isYUV420 {
                seg_yuv709_from_rgb(colors[3 * c], colors[3 * c + 1], colors[3 * c + 2], &channels)
                channels[0] -= 16; channels[1] -= 128; channels[2] -= 128
            } else {
                for ch in 0..<3 { channels[ch] = Int32(colors[3 * c + ch]) }
            }
            for ch in 0..<3 { delta[3 * k + ch] = Int32(weight * (shade - 256) * Int(channels[ch]) / 65536) }
        }
        withUnsafePointer(to: picture.raw) { p in
            seg_picture_instance_overlay(p, Int32(panelX), segments, Int32(width), Int32(height), Int32(count), delta)
        }
    }
}
