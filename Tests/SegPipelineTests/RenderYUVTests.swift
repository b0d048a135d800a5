import CSegKernels
import SegMedia
import Testing
@testable import SegPipeline

/// Video frames are drawn in YUV 4:2:0 (limited-range BT.709). Every drawing operation is affine per pixel, so
/// drawing in YUV must give what drawing in RGB and converting gives: luma per pixel, chroma the mean of each
/// 2×2. The RGB renderer (RenderTests) is the reference; the images are constant over 2×2 blocks so that the
/// reference's per-pixel chroma and the picture's shared sample start out equal.
@Suite("Rendering in YUV 4:2:0")
struct RenderYUVTests {
    struct Comparison {
        var worstLuma = 0
        var chromaOff = 0   // chroma samples more than 2 levels off
        var chromaSamples = 0
        var worstChroma = 0
        /// Samples (of either plane) with an instance outline pixel, left out of the chroma figures: the outline
        /// replaces some pixels of a sample whose pixels had different colours, which only the mean survives in 4:2:0.
        var outlineSamples = 0
    }

    /// Renders one frame both ways and compares the YUV result with the RGB result converted.
    static func compare(width w: Int, height h: Int, style: RenderStyle, hud: HUDText?, seed: UInt64,
                        segments: [Int32]? = nil) -> Comparison {
        var rng = SplitMix(seed: seed)
        var frame = [UInt8](repeating: 0, count: 3 * w * h), labels = [UInt8](repeating: 0, count: w * h)
        for by in stride(from: 0, to: h, by: 2) {
            for bx in stride(from: 0, to: w, by: 2) {
                let rgb = (UInt8(rng.next() % 256), UInt8(rng.next() % 256), UInt8(rng.next() % 256))
                // Labels in 8×8 patches (some void), so that regions are larger than a chroma sample.
                let label = UInt8((by / 8 * 7 + bx / 8 * 3) % 21)
                for y in by..<min(by + 2, h) {
                    for x in bx..<min(bx + 2, w) {
                        frame[3 * (y * w + x)] = rgb.0; frame[3 * (y * w + x) + 1] = rgb.1; frame[3 * (y * w + x) + 2] = rgb.2
                        labels[y * w + x] = label == 20 ? 255 : label
                    }
                }
            }
        }
        // Instances lie on their class's labels, as the fusion makes them (a shade of car over another class's
        // colour can leave the RGB cube, where RGB clamps per channel and YUV cannot).
        if let segments { for i in 0..<(w * h) where segments[i] > 0 { labels[i] = 13 } }
        let renderer = FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames, style: style)
        let (ow, oh) = renderer.outputSize(frameWidth: w, frameHeight: h)
        var rgbOut = [UInt8](repeating: 0, count: 3 * ow * oh)
        let input = YUV420Buffer(), output = YUV420Buffer()
        let src = input.reserve(width: w, height: h), dst = output.reserve(width: ow, height: oh)
        // The input picture: each pixel's BT.709 luma, each 2×2 block's chroma (one colour per block).
        for y in 0..<h {
            for x in 0..<w {
                var yuv: [Int32] = [0, 0, 0]
                seg_yuv709_from_rgb(frame[3 * (y * w + x)], frame[3 * (y * w + x) + 1], frame[3 * (y * w + x) + 2], &yuv)
                src.y[y * src.lumaStride + x] = UInt8(yuv[0])
                src.u[(y / 2) * src.chromaStride + x / 2] = UInt8(yuv[1])
                src.v[(y / 2) * src.chromaStride + x / 2] = UInt8(yuv[2])
            }
        }
        func draw(_ instances: InstanceOverlay?) {
            renderer.render(frame: frame, width: w, height: h, rowStride: 3 * w, labels: labels, labelRowStride: w, hud: hud,
                            into: &rgbOut, outRowStride: 3 * ow, instances: instances)
            renderer.render(frame: .yuv420(src), labels: labels, labelRowStride: w, hud: hud, into: .yuv420(dst),
                            instances: instances)
        }
        if let segments {
            let classes = (0..<Int(segments.max() ?? 0)).map { _ in UInt8(13) }
            segments.withUnsafeBufferPointer {
                draw(InstanceOverlay(segments: $0.baseAddress!, segmentClasses: classes, instanceIDs: Array(1...classes.count)))
            }
        } else {
            draw(nil)
        }
        var result = Comparison()
        var expected = [[Int32]](repeating: [0, 0, 0], count: ow * oh)
        for i in 0..<(ow * oh) {
            seg_yuv709_from_rgb(rgbOut[3 * i], rgbOut[3 * i + 1], rgbOut[3 * i + 2], &expected[i])
            result.worstLuma = max(result.worstLuma, abs(Int(dst.y[(i / ow) * dst.lumaStride + i % ow]) - Int(expected[i][0])))
        }
        for cy in 0..<dst.chromaHeight {
            for cx in 0..<dst.chromaWidth {
                if let segments, Self.hasOutline(segments, width: w, height: h, panelX: ow - w, cx: cx, cy: cy) {
                    result.outlineSamples += 2
                    continue
                }
                for (k, plane) in [(1, dst.u), (2, dst.v)] {
                    var sum: Int32 = 0, n: Int32 = 0
                    for y in (2 * cy)..<min(2 * cy + 2, oh) { for x in (2 * cx)..<min(2 * cx + 2, ow) { sum += expected[y * ow + x][k]; n += 1 } }
                    let d = abs(Int(plane[cy * dst.chromaStride + cx]) - Int((sum + n / 2) / n))
                    result.chromaSamples += 1
                    result.worstChroma = max(result.worstChroma, d)
                    if d > 2 { result.chromaOff += 1 }
                }
            }
        }
        return result
    }

    /// Whether output chroma sample (cx, cy) covers an outline pixel of the instances drawn on the panel at `panelX`.
    static func hasOutline(_ seg: [Int32], width w: Int, height h: Int, panelX: Int, cx: Int, cy: Int) -> Bool {
        for y in (2 * cy)..<min(2 * cy + 2, h) {
            for X in (2 * cx)..<(2 * cx + 2) {
                let x = X - panelX
                guard x >= 0 && x < w, seg[y * w + x] > 0 else { continue }
                let s = seg[y * w + x]
                if (x > 0 && seg[y * w + x - 1] != s) || (x + 1 < w && seg[y * w + x + 1] != s)
                    || (y > 0 && seg[(y - 1) * w + x] != s) || (y + 1 < h && seg[(y + 1) * w + x] != s) { return true }
            }
        }
        return false
    }

    @Test("overlay, mask and side by side without text: luma and chroma within 2 levels of RGB, everywhere",
          arguments: [(VisualizationMode.overlay, 64, 48), (.mask, 64, 48), (.sideBySide, 64, 48), (.overlay, 37, 23), (.mask, 37, 23)])
    func plainModes(_ mode: VisualizationMode, _ w: Int, _ h: Int) {
        let c = Self.compare(width: w, height: h, style: RenderStyle(mode: mode, showLegend: false, showHUD: false), hud: nil, seed: 7)
        #expect(c.worstLuma <= 2 && c.worstChroma <= 2, "\(mode) \(w)x\(h): luma \(c.worstLuma), chroma \(c.worstChroma)")
    }

    @Test("with HUD and legend (text at odd positions), at 320×180 and 640×360: luma within 2 everywhere, chroma in 98 % of samples",
          arguments: [(VisualizationMode.overlay, 320, 180), (.sideBySide, 320, 180), (.overlay, 640, 360), (.mask, 321, 181)])
    func textAndBoxes(_ mode: VisualizationMode, _ w: Int, _ h: Int) {
        let style = RenderStyle(mode: mode, showLegend: true, showHUD: true)
        let c = Self.compare(width: w, height: h, style: style, hud: HUDText(fps: 12.5, inferenceMilliseconds: 61.2, frameIndex: 42), seed: 11)
        #expect(c.worstLuma <= 2, "\(mode) \(w)x\(h): luma \(c.worstLuma)")
        #expect(c.chromaOff * 50 <= c.chromaSamples, "\(mode) \(w)x\(h): \(c.chromaOff) of \(c.chromaSamples) chroma samples off by more than 2")
    }

    @Test("panoptic instances in YUV as in RGB: luma everywhere, chroma away from outlines", arguments: [VisualizationMode.overlay, .mask, .sideBySide])
    func instances(_ mode: VisualizationMode) {
        let w = 96, h = 64
        var segments = [Int32](repeating: 0, count: w * h)
        for y in 10..<40 { for x in 12..<50 { segments[y * w + x] = 1 } }
        for y in 20..<60 { for x in 50..<91 { segments[y * w + x] = 2 } }   // touches instance 1: an outline between
        for y in 44..<63 { for x in 3..<21 { segments[y * w + x] = 3 } }
        let c = Self.compare(width: w, height: h, style: RenderStyle(mode: mode, showLegend: false, showHUD: false), hud: nil,
                             seed: 3, segments: segments)
        #expect(c.worstLuma <= 2, "\(mode): luma \(c.worstLuma)")
        #expect(c.worstChroma <= 2, "\(mode): chroma worst \(c.worstChroma) away from outlines")
        #expect(c.outlineSamples > 0 && c.outlineSamples * 4 < c.chromaSamples, "\(c.outlineSamples) outline samples")
    }

    @Test("rendering in place (out = frame) equals rendering to another picture")
    func inPlace() {
        let w = 50, h = 30
        let a = YUV420Buffer(), b = YUV420Buffer()
        let pa = a.reserve(width: w, height: h), pb = b.reserve(width: w, height: h)
        for y in 0..<h { for x in 0..<w { pa.y[y * pa.lumaStride + x] = UInt8((x * 5 + y * 3) % 220 + 16) } }
        for y in 0..<pa.chromaHeight { for x in 0..<pa.chromaWidth { pa.u[y * pa.chromaStride + x] = UInt8(60 + x); pa.v[y * pa.chromaStride + x] = UInt8(190 - y) } }
        let labels = (0..<(w * h)).map { UInt8(($0 / 7) % 19) }
        let renderer = FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames, style: RenderStyle())
        let hud = HUDText(fps: 3)
        renderer.render(frame: .yuv420(pa), labels: labels, labelRowStride: w, hud: hud, into: .yuv420(pb))
        renderer.render(frame: .yuv420(pa), labels: labels, labelRowStride: w, hud: hud, into: .yuv420(pa))
        for y in 0..<h { for x in 0..<w { #expect(pa.y[y * pa.lumaStride + x] == pb.y[y * pb.lumaStride + x]) } }
        for y in 0..<pa.chromaHeight {
            for x in 0..<pa.chromaWidth {
                #expect(pa.u[y * pa.chromaStride + x] == pb.u[y * pb.chromaStride + x] && pa.v[y * pa.chromaStride + x] == pb.v[y * pb.chromaStride + x])
            }
        }
    }
}
