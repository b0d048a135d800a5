import CSegKernels
import Testing
@testable import SegPipeline

/// The 19 Cityscapes training classes and their customary colours: a realistic legend.
let cityscapesNames = [
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
]
let cityscapesPalette: [[UInt8]] = [
    [128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153],
    [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60],
    [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32],
]

/// A frame, its labels and a renderer's output, as arrays, with padded strides to catch stride bugs.
struct RenderCase {
    let width: Int, height: Int
    var frame: [UInt8]
    var labels: [UInt8]
    let stride: Int, labelStride: Int

    init(width: Int, height: Int, pixel: (Int, Int) -> (UInt8, UInt8, UInt8), label: (Int, Int) -> UInt8) {
        self.width = width
        self.height = height
        stride = 3 * width + 5
        labelStride = width + 3
        frame = [UInt8](repeating: 0xAB, count: stride * height)
        labels = [UInt8](repeating: 0xEE, count: labelStride * height)
        for y in 0..<height {
            for x in 0..<width {
                let p = pixel(x, y)
                frame[y * stride + 3 * x] = p.0
                frame[y * stride + 3 * x + 1] = p.1
                frame[y * stride + 3 * x + 2] = p.2
                labels[y * labelStride + x] = label(x, y)
            }
        }
    }

    func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(frame[(y * stride + 3 * x)..<(y * stride + 3 * x + 3)]) }
    func label(_ x: Int, _ y: Int) -> UInt8 { labels[y * labelStride + x] }

    /// Renders and returns the output (packed, stride 3·outWidth) and its width; checks that nothing was
    /// written past the output (a canary tail) or into the input.
    func render(_ renderer: FrameRenderer, hud: HUDText? = nil) -> (image: [UInt8], width: Int) {
        let size = renderer.outputSize(frameWidth: width, frameHeight: height)
        let canary = 4096
        var out = [UInt8](repeating: 0x5A, count: 3 * size.width * size.height + canary)
        let (frameBefore, labelsBefore) = (frame, labels)
        frame.withUnsafeBufferPointer { f in
            labels.withUnsafeBufferPointer { l in
                out.withUnsafeMutableBufferPointer { o in
                    renderer.render(frame: f.baseAddress!, width: width, height: height, rowStride: stride,
                                    labels: l.baseAddress!, labelRowStride: labelStride, hud: hud,
                                    into: o.baseAddress!, outRowStride: 3 * size.width)
                }
            }
        }
        #expect(out.suffix(canary).allSatisfy { $0 == 0x5A }, "wrote past the output")
        #expect(frame == frameBefore && labels == labelsBefore, "wrote into the input")
        return (Array(out.dropLast(canary)), size.width)
    }
}

func blend(_ a: UInt8, _ b: UInt8, alpha: Double) -> UInt8 {
    let w = Int((alpha * 256).rounded())
    return UInt8((Int(a) * (256 - w) + Int(b) * w + 128) >> 8)
}

func randomCase(width: Int = 37, height: Int = 23, classes: Int = 19) -> RenderCase {
    var rng = SystemRandomNumberGenerator()
    return RenderCase(
        width: width, height: height,
        pixel: { _, _ in (UInt8.random(in: 0...255, using: &rng), UInt8.random(in: 0...255, using: &rng),
                          UInt8.random(in: 0...255, using: &rng)) },
        label: { _, _ in
            let r = Int.random(in: 0..<(classes + 3), using: &rng)
            return r < classes ? UInt8(r) : [UInt8(classes), 200, 255][r - classes]
        })
}

/// Bounding box (x0, y0, x1, y1, inclusive) of the pixels where two packed RGB images differ.
func differenceBox(_ a: [UInt8], _ b: [UInt8], width: Int) -> (x0: Int, y0: Int, x1: Int, y1: Int)? {
    var box: (x0: Int, y0: Int, x1: Int, y1: Int)?
    for i in stride(from: 0, to: a.count, by: 3) where a[i] != b[i] || a[i + 1] != b[i + 1] || a[i + 2] != b[i + 2] {
        let x = (i / 3) % width, y = (i / 3) / width
        if let b0 = box {
            box = (min(b0.x0, x), min(b0.y0, y), max(b0.x1, x), max(b0.y1, y))
        } else {
            box = (x, y, x, y)
        }
    }
    return box
}

@Suite("Frame renderer: image modes")
struct RenderModeTests {
    let plain = RenderStyle(showLegend: false, showHUD: false)

    @Test("overlay blends every pixel by (a·(256−w) + b·w + 128) >> 8, w = round(α·256)", arguments: [0.5, 0.3, 0, 1])
    func overlayFormula(alpha: Double) {
        var style = plain
        style.alpha = alpha
        let c = randomCase()
        let (out, _) = c.render(FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames, style: style))
        for y in 0..<c.height {
            for x in 0..<c.width {
                let l = Int(c.label(x, y)), a = c.pixel(x, y)
                let expected = l < 19 ? (0..<3).map { blend(a[$0], cityscapesPalette[l][$0], alpha: alpha) } : a
                #expect(Array(out[(3 * (y * c.width + x))..<(3 * (y * c.width + x) + 3)]) == expected, "(\(x), \(y)) id \(l)")
            }
        }
    }

    @Test("a known pixel: (200,100,50) under (10,20,250) at α 0.5 is (105,60,150)")
    func knownPixel() {
        let c = RenderCase(width: 1, height: 1, pixel: { _, _ in (200, 100, 50) }, label: { _, _ in 0 })
        let r = FrameRenderer(palette: [[10, 20, 250]], classNames: ["x"], style: plain)
        // (200·128 + 10·128 + 128) >> 8 = 105; (100·128 + 20·128 + 128) >> 8 = 60; (50·128 + 250·128 + 128) >> 8 = 150
        #expect(c.render(r).image == [105, 60, 150])
    }

    @Test("mask pixels are the palette colour; hidden classes and unknown ids are black")
    func mask() {
        var style = plain
        style.mode = .mask
        style.visibleClasses = (0..<19).map { $0 % 3 != 0 }
        let c = randomCase()
        let (out, _) = c.render(FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames, style: style))
        for y in 0..<c.height {
            for x in 0..<c.width {
                let l = Int(c.label(x, y))
                let expected = l < 19 && l % 3 != 0 ? cityscapesPalette[l] : [0, 0, 0]
                #expect(Array(out[(3 * (y * c.width + x))..<(3 * (y * c.width + x) + 3)]) == expected)
            }
        }
    }

    @Test("hidden classes and ids ≥ class count leave the image untouched in overlay")
    func hiddenUntouched() {
        var style = plain
        style.visibleClasses = try! RenderStyle.visibility(selecting: ["car", "person"], classNames: cityscapesNames)
        let c = randomCase()
        let (out, _) = c.render(FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames, style: style))
        var changed = 0
        for y in 0..<c.height {
            for x in 0..<c.width {
                let l = Int(c.label(x, y)), o = Array(out[(3 * (y * c.width + x))..<(3 * (y * c.width + x) + 3)])
                if l == 13 || l == 11 {
                    #expect(o == (0..<3).map { blend(c.pixel(x, y)[$0], cityscapesPalette[l][$0], alpha: 0.5) })
                    changed += 1
                } else {
                    #expect(o == c.pixel(x, y), "(\(x), \(y)) id \(l)")
                }
            }
        }
        #expect(changed > 0)
    }

    @Test("side by side: twice as wide, the left half is the input, the right half the overlay")
    func sideBySide() {
        let c = randomCase()
        var style = plain
        style.mode = .sideBySide
        let sbs = FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames, style: style)
        #expect(sbs.outputSize(frameWidth: 37, frameHeight: 23) == (74, 23))
        let (out, w) = c.render(sbs)
        let (overlay, _) = c.render(FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames, style: plain))
        #expect(w == 74)
        for y in 0..<c.height {
            #expect(Array(out[(3 * y * w)..<(3 * y * w + 3 * c.width)])
                == Array(c.frame[(y * c.stride)..<(y * c.stride + 3 * c.width)]))
            #expect(Array(out[(3 * y * w + 3 * c.width)..<(3 * (y + 1) * w)])
                == Array(overlay[(3 * y * c.width)..<(3 * (y + 1) * c.width)]))
        }
    }

    @Test("rendering in place (out = frame) matches rendering to a separate buffer")
    func inPlace() {
        var c = randomCase()
        let r = FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames, style: plain)
        let (expected, _) = c.render(r)
        let (w, h, s, ls) = (c.width, c.height, c.stride, c.labelStride)
        c.labels.withUnsafeBufferPointer { l in
            c.frame.withUnsafeMutableBufferPointer { f in
                r.render(frame: f.baseAddress!, width: w, height: h, rowStride: s, labels: l.baseAddress!,
                         labelRowStride: ls, hud: nil, into: f.baseAddress!, outRowStride: s)
            }
        }
        for y in 0..<h {
            #expect(Array(c.frame[(y * s)..<(y * s + 3 * w)]) == Array(expected[(3 * y * w)..<(3 * (y + 1) * w)]))
        }
    }

    @Test("--classes accepts names in any case, _ or - for spaces, and ids; rejects unknown names")
    func selection() throws {
        let v = try RenderStyle.visibility(selecting: ["Traffic_Light", "car", "0"], classNames: cityscapesNames)
        #expect(v.indices.filter { v[$0] } == [0, 6, 13])
        #expect(throws: RenderStyle.SelectionError.unknownClass("tram")) {
            try RenderStyle.visibility(selecting: ["tram"], classNames: cityscapesNames)
        }
    }

    @Test("the blend kernel is exact at the ends: w = 0 keeps the image, w = 256 gives the colour")
    func kernelEnds() {
        var colors = [UInt8](repeating: 0, count: 768), weights = [UInt16](repeating: 0, count: 256)
        for l in 0..<256 { colors[3 * l] = UInt8(l); colors[3 * l + 1] = UInt8(255 - l); colors[3 * l + 2] = 7 }
        weights[1] = 256
        weights[2] = 999  // clamped to 256
        var lut = [UInt16](repeating: 0, count: Int(SEG_RENDER_BLEND_LUT_SIZE))
        seg_u8_blend_lut_init(colors, weights, &lut)
        let rgb: [UInt8] = [9, 8, 7, 200, 201, 202, 255, 255, 255]
        let labels: [UInt8] = [0, 1, 2]
        var out = [UInt8](repeating: 0, count: 9)
        seg_u8_overlay_blend(rgb, labels, 3, lut, &out)
        #expect(out == [9, 8, 7, 1, 254, 7, 2, 253, 7])
    }
}

@Suite("Frame renderer: legend, HUD and font")
struct RenderOverlayTests {
    /// A flat grey frame with unknown labels, so that only the legend and HUD change pixels.
    func greyCase(width: Int, height: Int, label: @escaping (Int, Int) -> UInt8 = { _, _ in 255 }) -> RenderCase {
        RenderCase(width: width, height: height, pixel: { _, _ in (128, 128, 128) }, label: label)
    }

    @Test("the HUD darkens exactly its box in the top-left corner and draws white text in it",
          arguments: [(320, 180), (1920, 1080)])
    func hud(size: (Int, Int)) {
        let c = greyCase(width: size.0, height: size.1)
        let r = FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames,
                              style: RenderStyle(showLegend: false, showHUD: true))
        let hud = HUDText(fps: 23.4, inferenceMilliseconds: 41, frameIndex: 120)
        #expect(hud.text == "23.4 FPS  INFER 41 MS  FRAME 120")
        let (out, w) = c.render(r, hud: hud)
        let s = RenderStyle.defaultTextScale(frameHeight: size.1)
        let margin = 4 * s, pad = 3 * s
        let box = differenceBox(out, c.render(r).image, width: w)!
        #expect(box.x0 == margin && box.y0 == margin)
        #expect(box.x1 == margin + 2 * pad + BitmapFont.textWidth(characters: hud.text.utf8.count) * s - 1)
        #expect(box.y1 == margin + 2 * pad + BitmapFont.capHeight * s - 1)
        #expect(box.x1 < w * 2 / 3)
        var white = 0
        for i in stride(from: 0, to: out.count, by: 3) where out[i] == 255 && out[i + 1] == 255 && out[i + 2] == 255 {
            white += 1
        }
        #expect(white > 100 * s * s)
    }

    @Test("the legend of all classes fits in the bottom-right corner, clear of the HUD, at 320×180 and 1080p",
          arguments: [(320, 180), (1920, 1080)])
    func legendAll(size: (Int, Int)) {
        let c = greyCase(width: size.0, height: size.1)
        let style = RenderStyle(showLegend: true, legendContent: .all, showHUD: true)
        let r = FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames, style: style)
        let hud = HUDText(fps: 23.4, inferenceMilliseconds: 41, frameIndex: 120)
        let hudOnly = FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames,
                                    style: RenderStyle(showLegend: false, showHUD: true))
        let (out, w) = c.render(r, hud: hud)
        let legend = differenceBox(out, c.render(hudOnly, hud: hud).image, width: w)!
        let hudBox = differenceBox(c.render(hudOnly, hud: hud).image, c.render(hudOnly).image, width: w)!
        let s = RenderStyle.defaultTextScale(frameHeight: size.1)
        #expect(legend.x1 == size.0 - 1 - 4 * s && legend.y1 == size.1 - 1 - 4 * s)
        #expect(legend.x0 > size.0 / 3)
        #expect(legend.y0 > hudBox.y1)
        // Every class's swatch colour appears: all 19 entries were drawn.
        for colour in cityscapesPalette {
            var found = false
            for i in stride(from: 0, to: out.count, by: 3) where out[i] == colour[0] && out[i + 1] == colour[1] && out[i + 2] == colour[2] {
                found = true
                break
            }
            #expect(found, "swatch \(colour)")
        }
    }

    @Test("the present-classes legend lists only the classes in the frame, on the overlay panel when side by side")
    func legendPresent() {
        // Left half road (0), right half car (13), a void row.
        let c = greyCase(width: 160, height: 90, label: { x, y in y == 0 ? 255 : (x < 80 ? 0 : 13) })
        var style = RenderStyle(mode: .sideBySide, showLegend: true, legendContent: .present, showHUD: false)
        let r = FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames, style: style)
        style.showLegend = false
        let (out, w) = c.render(r)
        let (bare, _) = c.render(FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames, style: style))
        let box = differenceBox(out, bare, width: w)!
        #expect(box.x0 >= 160)
        let s = 1, lineHeight = 11
        #expect(box.y1 - box.y0 + 1 == 2 * 3 * s + 2 * lineHeight - s)  // two entries
        // pad, swatch, gap, then the longer name ("road", not "car"), pad
        #expect(box.x1 - box.x0 + 1 == 3 + 7 + 4 + BitmapFont.textWidth(characters: 4) + 3)
    }

    @Test("tiny frames clip the legend and HUD instead of writing out of bounds", arguments: [(1, 1), (7, 3), (40, 12)])
    func tiny(size: (Int, Int)) {
        let c = greyCase(width: size.0, height: size.1, label: { x, _ in UInt8(x % 19) })
        for mode in VisualizationMode.allCases {
            let r = FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames,
                                  style: RenderStyle(mode: mode, legendContent: .all, textScale: 3))
            let (out, w) = c.render(r, hud: HUDText(fps: 99.9, inferenceMilliseconds: 1, frameIndex: 1))
            #expect(out.count == 3 * w * size.1)  // and the helper checks its canary tail
        }
    }

    @Test("every printable ASCII glyph exists, is non-empty (space excepted) and differs from every other")
    func glyphs() {
        #expect(BitmapFont.rows.count == 95 * BitmapFont.glyphHeight)
        var seen = Set<[UInt8]>()
        for ch in UInt8(32)...UInt8(126) {
            let o = BitmapFont.glyphOffset(ch)
            let g = Array(BitmapFont.rows[o..<(o + BitmapFont.glyphHeight)])
            #expect(g.allSatisfy { $0 < 32 })
            if ch == 32 {
                #expect(g.allSatisfy { $0 == 0 })
            } else {
                #expect(g.contains { $0 != 0 }, "glyph \(Character(Unicode.Scalar(ch)))")
                #expect(seen.insert(g).inserted, "glyph \(Character(Unicode.Scalar(ch))) duplicates another")
            }
        }
        #expect(BitmapFont.glyphOffset(200) == BitmapFont.glyphOffset(UInt8(ascii: "?")))
    }

    @Test("text scale follows the frame height: 180p 1, 480p 2, 720p 3, 1080p 4, 4K 8")
    func textScale() {
        #expect([180, 480, 720, 1080, 2160].map { RenderStyle.defaultTextScale(frameHeight: $0) } == [1, 2, 3, 4, 8])
        #expect(RenderStyle(textScale: 2).resolvedTextScale(frameHeight: 1080) == 2)
    }

    @Test("HUD numbers: decimals, missing fields, nonsense values")
    func hudText() {
        #expect(HUDText(fps: 9.96).text == "10.0 FPS")
        #expect(HUDText(fps: .nan, inferenceMilliseconds: 7.25, latencyMilliseconds: 95.4, frameIndex: 0).text
            == "-- FPS  INFER 7.3 MS  LAT 95 MS  FRAME 0")
    }
}
