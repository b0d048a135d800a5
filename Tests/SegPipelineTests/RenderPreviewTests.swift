import Foundation
import Testing
@testable import SegPipeline

/// Writes a PNG of a synthetic annotated frame for a person to look at, when SEGSTREAM_RENDER_PREVIEW
/// names a directory: `SEGSTREAM_RENDER_PREVIEW=/tmp swift test --filter RenderPreview`.
@Suite("Frame renderer: preview image")
struct RenderPreviewTests {
    static let directory = ProcessInfo.processInfo.environment["SEGSTREAM_RENDER_PREVIEW"]

    @Test("gradient frame, striped labels, overlay + legend + HUD, at 320×180 and 1280×720",
          .enabled(if: directory != nil))
    func preview() throws {
        for (w, h, mode) in [(320, 180, VisualizationMode.overlay), (1280, 720, .overlay), (320, 180, .sideBySide)] {
            let c = RenderCase(
                width: w, height: h,
                pixel: { x, y in (UInt8(x * 255 / w), UInt8(y * 255 / h), UInt8(255 - x * 255 / w)) },
                label: { x, y in x < w / 10 ? 255 : UInt8(((x + y) / max(1, h / 9)) % 19) })
            let r = FrameRenderer(palette: cityscapesPalette, classNames: cityscapesNames,
                                  style: RenderStyle(mode: mode, legendContent: .all))
            let (out, ow) = c.render(r, hud: HUDText(fps: 23.4, inferenceMilliseconds: 41, frameIndex: 120))
            let name = "render-check\(w == 320 && mode == .overlay ? "" : "-\(w)x\(h)-\(mode.rawValue)").png"
            try PNG.rgb(out, width: ow, height: h).write(to: URL(fileURLWithPath: Self.directory!).appendingPathComponent(name))
        }
    }
}

/// The smallest correct PNG: 8-bit RGB, filter 0, zlib "stored" (uncompressed) blocks.
enum PNG {
    static func rgb(_ pixels: [UInt8], width: Int, height: Int) -> Data {
        var raw = [UInt8]()
        raw.reserveCapacity((3 * width + 1) * height)
        for y in 0..<height {
            raw.append(0)
            raw += pixels[(3 * width * y)..<(3 * width * (y + 1))]
        }
        var z: [UInt8] = [0x78, 0x01]
        var i = 0
        repeat {
            let n = min(65535, raw.count - i)
            z.append(i + n == raw.count ? 1 : 0)
            z += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            z += raw[i..<(i + n)]
            i += n
        } while i < raw.count
        var a: UInt32 = 1, b: UInt32 = 0
        for v in raw {
            a = (a + UInt32(v)) % 65521
            b = (b + a) % 65521
        }
        z += be32((b << 16) | a)
        var ihdr = be32(UInt32(width)) + be32(UInt32(height))
        ihdr += [8, 2, 0, 0, 0]
        return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", z) + chunk("IEND", []))
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in body {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return be32(UInt32(data.count)) + body + be32(~crc)
    }
}
