import Testing
@testable import SegPipeline

@Suite("Instance overlay")
struct InstanceOverlayTests {
    /// 8×6 frame, all car; one 4×4 instance at (2,1) with instance id 1 (shade 166/256) in mask mode, where the
    /// panel is the class colour: interior = colour × 166/256 (rounded toward zero per channel change),
    /// the instance's border pixels white, everything else untouched.
    @Test("mask mode: the instance's interior is its shade of the class colour, its border white, the rest unchanged")
    func maskMode() {
        let w = 8, h = 6
        let frame = [UInt8](repeating: 90, count: 3 * w * h)
        let labels = [UInt8](repeating: 13, count: w * h)
        var segments = [Int32](repeating: 0, count: w * h)
        for y in 1..<5 { for x in 2..<6 { segments[y * w + x] = 1 } }
        let renderer = FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames,
                                     style: RenderStyle(mode: .mask, showLegend: false, showHUD: false))
        var plain = [UInt8](repeating: 0, count: 3 * w * h), drawn = plain
        renderer.render(frame: frame, width: w, height: h, rowStride: 3 * w, labels: labels, labelRowStride: w, hud: nil,
                        into: &plain, outRowStride: 3 * w)
        segments.withUnsafeBufferPointer { seg in
            renderer.render(frame: frame, width: w, height: h, rowStride: 3 * w, labels: labels, labelRowStride: w, hud: nil,
                            into: &drawn, outRowStride: 3 * w,
                            instances: InstanceOverlay(segments: seg.baseAddress!, segmentClasses: [13], instanceIDs: [1]))
        }
        let car = cityscapesPalette[13].map(Int.init)  // [0, 0, 142]
        for y in 0..<h {
            for x in 0..<w {
                let px = Array(drawn[(3 * (y * w + x))..<(3 * (y * w + x) + 3)]).map(Int.init)
                let inside = (1..<5).contains(y) && (2..<6).contains(x)
                let border = inside && (y == 1 || y == 4 || x == 2 || x == 5)
                if !inside {
                    #expect(px == car && px == Array(plain[(3 * (y * w + x))..<(3 * (y * w + x) + 3)]).map(Int.init))
                } else if border {
                    #expect(px == [255, 255, 255])
                } else {
                    #expect(px == car.map { $0 + (256 * (166 - 256) * $0) / 65536 }, "(\(x), \(y))")
                    #expect(px == [0, 0, 93])  // 142 − 49 (−49.9 toward zero)
                }
            }
        }
    }

    @Test("no instances draws exactly what the semantic renderer draws")
    func emptyIsIdentity() {
        let w = 7, h = 5
        let frame = (0..<(3 * w * h)).map { UInt8($0 % 251) }
        let labels = (0..<(w * h)).map { UInt8($0 % 19) }
        let segments = [Int32](repeating: 0, count: w * h)
        let renderer = FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames, style: RenderStyle())
        var plain = [UInt8](repeating: 0, count: 3 * w * h), drawn = plain
        renderer.render(frame: frame, width: w, height: h, rowStride: 3 * w, labels: labels, labelRowStride: w, hud: nil,
                        into: &plain, outRowStride: 3 * w)
        segments.withUnsafeBufferPointer { seg in
            renderer.render(frame: frame, width: w, height: h, rowStride: 3 * w, labels: labels, labelRowStride: w, hud: nil,
                            into: &drawn, outRowStride: 3 * w,
                            instances: InstanceOverlay(segments: seg.baseAddress!, segmentClasses: [], instanceIDs: []))
        }
        #expect(plain == drawn)
    }
}
