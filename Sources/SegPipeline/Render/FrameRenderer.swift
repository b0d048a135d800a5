import CSegKernels

/// Turns a decoded frame (YUV 4:2:0 for video, RGB24 for still images: `RenderPicture`) and its per-pixel class
/// ids into the annotated frame that is encoded:
/// palette overlay, mask or side-by-side, an optional legend and an optional HUD line.
///
/// Single owner: one render thread uses a renderer at a time (it keeps per-size layout and scratch
/// buffers that `render` mutates); the pipeline makes its renderer on its render thread.
///
/// Steady state allocates nothing: the colour tables, class-name glyph strings and HUD buffer are built
/// in `init`, and the legend layout once per frame size.
public final class FrameRenderer {
    public let style: RenderStyle
    public let classCount: Int
    public let classNames: [String]
    /// The dark boxes behind legend and HUD: black at this weight (0…256; 154 ≈ 60 %).
    public static let boxWeight: Int32 = 154

    private let maskColors: UnsafeMutablePointer<UInt8>  // 256 × RGB; hidden classes and unknown ids black
    private let blendLUT: UnsafeMutablePointer<UInt16>  // SEG_RENDER_BLEND_LUT_SIZE
    // The same for YUV 4:2:0 pictures (SEG_RENDER_YUV_LUT_SIZE each): overlay, mask (every label at weight 256,
    // hidden classes and unknown ids black) and copy (weight 0: the left panel of side by side).
    private let yuvBlendLUT: UnsafeMutablePointer<Int32>
    private let yuvMaskLUT: UnsafeMutablePointer<Int32>
    private let yuvCopyLUT: UnsafeMutablePointer<Int32>
    private let fontRows: UnsafeMutablePointer<UInt8>  // a copy of BitmapFont.rows
    private let present: UnsafeMutablePointer<UInt8>  // 256 flags, per frame
    private let entries: UnsafeMutablePointer<Int>  // legend class ids, per frame
    private let hudBytes: UnsafeMutablePointer<UInt8>  // HUDText.maxLength
    private let nameBytes: UnsafeMutablePointer<UInt8>  // every class name, ASCII, back to back
    private let nameStart: [Int]
    private let nameLength: [Int]
    private let shownClasses: UnsafeMutablePointer<Int>  // ids of the classes style shows, ascending
    private let shownCount: Int
    private var layout = Layout(frameWidth: -1, frameHeight: -1, scale: 1)

    /// - Parameters:
    ///   - palette: one RGB triple per class; the class count is `palette.count` (at most 256).
    ///   - classNames: names for the legend; missing ones read `class N`. Non-ASCII bytes draw as `?`.
    public init(palette: [[UInt8]], classNames: [String], style: RenderStyle) {
        precondition(palette.count <= 256, "class ids are bytes: at most 256 classes")
        precondition(palette.allSatisfy { $0.count == 3 }, "palette entries are RGB triples")
        precondition(style.alpha >= 0 && style.alpha <= 1, "alpha must be within 0...1")
        self.style = style
        classCount = palette.count
        self.classNames = (0..<palette.count).map { $0 < classNames.count ? classNames[$0] : "class \($0)" }
        let shown = (0..<palette.count).filter { style.isVisible($0) }
        shownCount = shown.count
        shownClasses = .allocate(capacity: max(1, shown.count))
        shownClasses.initialize(from: shown, count: shown.count)

        maskColors = .allocate(capacity: 256 * 3)
        maskColors.initialize(repeating: 0, count: 256 * 3)
        var weights = [UInt16](repeating: 0, count: 256)
        let w = UInt16(style.blendWeight)
        for c in shown {
            for k in 0..<3 { maskColors[3 * c + k] = palette[c][k] }
            weights[c] = w
        }
        blendLUT = .allocate(capacity: Int(SEG_RENDER_BLEND_LUT_SIZE))
        seg_u8_blend_lut_init(maskColors, weights, blendLUT)
        yuvBlendLUT = .allocate(capacity: Int(SEG_RENDER_YUV_LUT_SIZE))
        yuvMaskLUT = .allocate(capacity: Int(SEG_RENDER_YUV_LUT_SIZE))
        yuvCopyLUT = .allocate(capacity: Int(SEG_RENDER_YUV_LUT_SIZE))
        seg_yuv420_blend_lut_init(maskColors, weights, yuvBlendLUT)
        seg_yuv420_blend_lut_init(maskColors, [UInt16](repeating: 256, count: 256), yuvMaskLUT)
        seg_yuv420_blend_lut_init(maskColors, [UInt16](repeating: 0, count: 256), yuvCopyLUT)

        let font = BitmapFont.rows
        fontRows = .allocate(capacity: font.count)
        fontRows.initialize(from: font, count: font.count)
        present = .allocate(capacity: 256)
        present.initialize(repeating: 0, count: 256)
        entries = .allocate(capacity: max(1, palette.count))
        entries.initialize(repeating: 0, count: max(1, palette.count))
        hudBytes = .allocate(capacity: HUDText.maxLength)
        hudBytes.initialize(repeating: 0, count: HUDText.maxLength)

        let encoded = self.classNames.map { name in
            name.utf8.map { $0 >= BitmapFont.firstCharacter && $0 <= BitmapFont.lastCharacter ? $0 : UInt8(ascii: "?") }
        }
        var starts = [Int](), lengths = [Int](), flat = [UInt8]()
        for e in encoded {
            starts.append(flat.count)
            lengths.append(e.count)
            flat += e
        }
        nameStart = starts
        nameLength = lengths
        nameBytes = .allocate(capacity: max(1, flat.count))
        nameBytes.initialize(from: flat, count: flat.count)
    }

    deinit {
        maskColors.deallocate()
        blendLUT.deallocate()
        yuvBlendLUT.deallocate()
        yuvMaskLUT.deallocate()
        yuvCopyLUT.deallocate()
        fontRows.deallocate()
        present.deallocate()
        entries.deallocate()
        hudBytes.deallocate()
        nameBytes.deallocate()
        shownClasses.deallocate()
    }

    /// The size of the annotated frame: the frame's, or twice its width side by side.
    public func outputSize(frameWidth: Int, frameHeight: Int) -> (width: Int, height: Int) {
        Self.outputSize(style: style, frameWidth: frameWidth, frameHeight: frameHeight)
    }

    /// The annotated frame's size under `style`: side by side doubles the width.
    public static func outputSize(style: RenderStyle, frameWidth: Int, frameHeight: Int) -> (width: Int, height: Int) {
        (style.mode == .sideBySide ? 2 * frameWidth : frameWidth, frameHeight)
    }

    /// Draws one annotated RGB24 frame (still images).
    ///
    /// - Parameters:
    ///   - frame: packed RGB24, `height` rows of `rowStride` bytes (≥ 3·width).
    ///   - labels: one class id per pixel at the frame's size, rows `labelRowStride` bytes apart; ids at or
    ///     past the class count (255 = void) are the plain image in overlay, black in mask.
    ///   - hud: the HUD numbers, or nil for no HUD this frame (also none when `style.showHUD` is false).
    ///   - out: packed RGB24 of `outputSize`, rows `outRowStride` bytes apart. In overlay and mask modes it
    ///     may be `frame` itself (same stride); otherwise it must not overlap `frame` or `labels`.
    ///   - instances: panoptic segments to draw over the coloured panel (a shade per instance, outlines), or
    ///     nil for the semantic picture alone.
    public func render(
        frame: UnsafePointer<UInt8>, width: Int, height: Int, rowStride: Int,
        labels: UnsafePointer<UInt8>, labelRowStride: Int,
        hud: HUDText?, into out: UnsafeMutablePointer<UInt8>, outRowStride: Int,
        instances: InstanceOverlay? = nil
    ) {
        let (outWidth, _) = outputSize(frameWidth: width, frameHeight: height)
        render(frame: .rgb24(UnsafeMutablePointer(mutating: frame), width: width, height: height, rowStride: rowStride),
               labels: labels, labelRowStride: labelRowStride, hud: hud,
               into: .rgb24(out, width: outWidth, height: height, rowStride: outRowStride), instances: instances)
    }

    /// Draws one annotated frame on a picture of either format (both the same format): `out` is `outputSize` of
    /// `frame`'s size; in overlay and mask modes it may be `frame` itself, otherwise it must not overlap it.
    /// Other parameters as above.
    public func render(frame: RenderPicture, labels: UnsafePointer<UInt8>, labelRowStride: Int, hud: HUDText?,
                       into out: RenderPicture, instances: InstanceOverlay? = nil) {
        let width = frame.width, height = frame.height
        let (outWidth, _) = outputSize(frameWidth: width, frameHeight: height)
        precondition(frame.isYUV420 == out.isYUV420, "FrameRenderer: frame and output must have the same format")
        precondition(out.width == outWidth && out.height == height && labelRowStride >= width, "FrameRenderer: bad output size")
        if layout.frameWidth != width || layout.frameHeight != height {
            layout = Layout(frameWidth: width, frameHeight: height, scale: style.resolvedTextScale(frameHeight: height))
        }

        let panelX = style.mode == .sideBySide ? width : 0
        if frame.isYUV420 {
            withUnsafePointer(to: frame.raw) { src in
                withUnsafePointer(to: out.raw) { dst in
                    switch style.mode {
                    case .overlay: seg_yuv420_overlay(src, labels, labelRowStride, yuvBlendLUT, dst, 0)
                    case .mask: seg_yuv420_overlay(src, labels, labelRowStride, yuvMaskLUT, dst, 0)
                    case .sideBySide:
                        seg_yuv420_overlay(src, labels, labelRowStride, yuvCopyLUT, dst, 0)
                        seg_yuv420_overlay(src, labels, labelRowStride, yuvBlendLUT, dst, Int32(width))
                    }
                }
            }
        } else {
            // One kernel call per row.
            let rowStride = frame.raw.stride, outRowStride = out.raw.stride
            for y in 0..<height {
                let src = UnsafePointer(frame.raw.y_or_rgb!) + y * rowStride
                let lab = labels + y * labelRowStride
                let dst = out.raw.y_or_rgb! + y * outRowStride
                switch style.mode {
                case .overlay:
                    seg_u8_overlay_blend(src, lab, width, blendLUT, dst)
                case .mask:
                    seg_u8_palette_map(lab, width, maskColors, dst)
                case .sideBySide:
                    dst.update(from: src, count: 3 * width)
                    seg_u8_overlay_blend(src, lab, width, blendLUT, dst + 3 * width)
                }
            }
        }
        if let instances {
            instances.draw(on: out, panelX: panelX, width: width, height: height,
                           colors: maskColors, weight: style.mode == .mask ? 256 : style.blendWeight)
        }

        let canvas = Canvas(picture: out)
        var hudBoxHeight = 0
        if style.showHUD, let hud {
            let n = hud.write(into: hudBytes, capacity: HUDText.maxLength)
            let l = layout
            hudBoxHeight = BitmapFont.capHeight * l.scale + 2 * l.pad
            let boxWidth = BitmapFont.textWidth(characters: n) * l.scale + 2 * l.pad
            canvas.darken(x: l.margin, y: l.margin, width: boxWidth, height: hudBoxHeight)
            drawText(hudBytes, count: n, x: l.margin + l.pad, y: l.margin + l.pad, on: canvas)
        }
        if style.showLegend {
            // Side by side, the HUD sits over the left panel and the legend over the right one.
            let reserved = hudBoxHeight > 0 && style.mode != .sideBySide ? hudBoxHeight + layout.margin : 0
            drawLegend(labels: labels, labelRowStride: labelRowStride, panelX: panelX, panelWidth: width,
                       topReserved: reserved, on: canvas)
        }
    }

    // MARK: - Legend and text

    /// Sizes derived from the frame size and text scale, all in output pixels.
    struct Layout {
        let frameWidth: Int, frameHeight: Int, scale: Int
        var margin: Int { 4 * scale }
        var pad: Int { 3 * scale }
        var lineHeight: Int { BitmapFont.lineHeight * scale + scale }
        var swatch: Int { BitmapFont.capHeight * scale }
        var swatchGap: Int { 4 * scale }
        var columnGap: Int { 8 * scale }
    }

    struct Canvas {
        let picture: RenderPicture
        var width: Int { picture.width }
        var height: Int { picture.height }

        func fill(x: Int, y: Int, width w: Int, height h: Int, rgb: (UInt8, UInt8, UInt8), weight: Int32 = 256) {
            withUnsafePointer(to: picture.raw) {
                seg_picture_fill_rect_blend($0, Int32(clamping: x), Int32(clamping: y), Int32(clamping: w), Int32(clamping: h),
                                            rgb.0, rgb.1, rgb.2, weight)
            }
        }

        func darken(x: Int, y: Int, width w: Int, height h: Int) {
            fill(x: x, y: y, width: w, height: h, rgb: (0, 0, 0), weight: FrameRenderer.boxWeight)
        }
    }

    private func drawText(_ text: UnsafePointer<UInt8>, count: Int, x: Int, y: Int, on canvas: Canvas,
                          rgb: (UInt8, UInt8, UInt8) = (255, 255, 255)) {
        let s = layout.scale
        for i in 0..<count {
            let gx = x + i * BitmapFont.advance * s
            if gx >= canvas.width { break }
            withUnsafePointer(to: canvas.picture.raw) {
                seg_picture_draw_bitmap($0, Int32(clamping: gx), Int32(clamping: y), fontRows + BitmapFont.glyphOffset(text[i]),
                                        Int32(BitmapFont.glyphHeight), Int32(BitmapFont.glyphWidth), Int32(s), rgb.0, rgb.1, rgb.2)
            }
        }
    }

    private func drawLegend(labels: UnsafePointer<UInt8>, labelRowStride: Int, panelX: Int, panelWidth: Int,
                            topReserved: Int, on canvas: Canvas) {
        let l = layout
        let frameWidth = l.frameWidth, frameHeight = l.frameHeight
        if style.legendContent == .present {
            present.update(repeating: 0, count: 256)
            for y in 0..<frameHeight {
                seg_u8_label_presence(labels + y * labelRowStride, frameWidth, present)
            }
        }
        var n = 0
        var longest = 0
        // Index loops over raw buffers: iterating an Array allocates in unoptimised builds.
        for k in 0..<shownCount where style.legendContent == .all || present[shownClasses[k]] != 0 {
            let c = shownClasses[k]
            entries[n] = c
            n += 1
            longest = max(longest, nameLength[c])
        }
        guard n > 0 else { return }

        // As many rows as fit under the HUD, then as many columns as fit across the panel.
        let availableHeight = frameHeight - 2 * l.margin - topReserved
        let availableWidth = panelWidth - 2 * l.margin
        let rowsFit = max(1, (availableHeight - 2 * l.pad + l.scale) / l.lineHeight)
        let columnWidth = l.swatch + l.swatchGap + BitmapFont.textWidth(characters: longest) * l.scale
        let columnsFit = max(1, (availableWidth - 2 * l.pad + l.columnGap) / (columnWidth + l.columnGap))
        var columns = (n + rowsFit - 1) / rowsFit
        if columns > columnsFit {
            columns = columnsFit
            n = min(n, columns * rowsFit)
        }
        let rows = (n + columns - 1) / columns
        let boxWidth = 2 * l.pad + columns * columnWidth + (columns - 1) * l.columnGap
        let boxHeight = 2 * l.pad + rows * l.lineHeight - l.scale
        let x0 = max(panelX, panelX + panelWidth - l.margin - boxWidth)
        let y0 = max(0, frameHeight - l.margin - boxHeight)
        // Never paint the legend box across into the other panel.
        canvas.darken(x: x0, y: y0, width: min(boxWidth, panelX + panelWidth - x0), height: boxHeight)
        let panel = Canvas(picture: canvas.picture.clipped(toWidth: panelX + panelWidth))

        let border = max(1, l.scale / 2)
        for i in 0..<n {
            let c = entries[i]
            let ex = x0 + l.pad + (i / rows) * (columnWidth + l.columnGap)
            let ey = y0 + l.pad + (i % rows) * l.lineHeight
            panel.fill(x: ex, y: ey, width: l.swatch, height: l.swatch, rgb: (200, 200, 200))
            let colour = (maskColors[3 * c], maskColors[3 * c + 1], maskColors[3 * c + 2])
            panel.fill(x: ex + border, y: ey + border, width: l.swatch - 2 * border, height: l.swatch - 2 * border,
                       rgb: colour)
            drawText(nameBytes + nameStart[c], count: nameLength[c], x: ex + l.swatch + l.swatchGap, y: ey, on: panel)
        }
    }
}
