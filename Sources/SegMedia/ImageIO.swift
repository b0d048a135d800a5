import CFFmpeg
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Still images: decode anything FFmpeg reads as a single image (PNG, JPEG, BMP, TIFF, WebP, …) through
/// libavformat's image demuxers, and encode PNG (8-bit gray for train-id masks, RGB24 for colour/overlay).
public enum ImageIO {
    /// Decodes the first frame of `path` to RGB24 at its own size.
    public static func readRGB24(_ path: String) throws -> Image8 {
        let (source, frame) = try firstFrame(path)
        _ = source
        return try FrameConverter().rgb24(frame)
    }

    /// Decodes the first frame of `path` to 8-bit gray at its own size (gray PNGs are copied exactly;
    /// colour images are converted to luma).
    public static func readGray8(_ path: String) throws -> Image8 {
        let (source, frame) = try firstFrame(path)
        _ = source
        return try FrameConverter().gray8(frame)
    }

    /// Reads a label map: the 8-bit values of a gray image, or the palette *indices* of a palette (pal8) image
    /// such as a VOC-style mask, copied exactly with no colour conversion. Any other pixel format is rejected
    /// (`invalidInput`), because converting colour to a label would be wrong.
    public static func readLabelMap(_ path: String) throws -> Image8 {
        let (source, frame) = try firstFrame(path)
        _ = source
        let fmt = frame.pixelFormat
        guard fmt == AV_PIX_FMT_GRAY8 || fmt == AV_PIX_FMT_PAL8 else {
            throw MediaError(.invalidInput, "not an 8-bit label image", path: path,
                             detail: "pixel format \(fmt.name); expected gray or pal8")
        }
        let w = frame.width, h = frame.height
        var image = Image8(width: w, height: h, layout: .gray8)
        let src = frame.raw.pointee.data.0!
        let stride = Int(frame.raw.pointee.linesize.0)
        image.pixels.withUnsafeMutableBufferPointer { dst in
            for y in 0..<h { (dst.baseAddress! + y * w).update(from: src + y * stride, count: w) }
        }
        return image
    }

    /// Writes `image` (gray8 or rgb24) as a PNG. `compressionLevel` is zlib's 0–9 (FFmpeg's default when nil);
    /// low levels are much faster for per-frame mask dumps.
    public static func writePNG(_ image: Image8, to path: String, compressionLevel: Int? = nil) throws {
        try image.pixels.withUnsafeBufferPointer { buf in
            try writePNG(pixels: buf.baseAddress!, width: image.width, height: image.height, rowStride: image.rowStride,
                         layout: image.layout, to: path, compressionLevel: compressionLevel)
        }
    }

    /// Writes `height` rows of `width` pixels (`rowStride` bytes apart) as a PNG.
    public static func writePNG(pixels: UnsafePointer<UInt8>, width: Int, height: Int, rowStride: Int,
                                layout: Image8.Layout, to path: String, compressionLevel: Int? = nil) throws {
        let bytes = try encodePNG(pixels: pixels, width: width, height: height, rowStride: rowStride, layout: layout,
                                  compressionLevel: compressionLevel, path: path)
        guard let fp = fopen(path, "wb") else {
            throw MediaError(.ioError, "cannot create image", path: path, detail: String(cString: strerror(errno)))
        }
        let n = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, fp) }
        let closeFailed = fclose(fp) != 0
        if n != bytes.count || closeFailed {
            unlink(path)
            throw MediaError(.ioError, "cannot write image", path: path, detail: String(cString: strerror(errno)))
        }
    }

    /// PNG file bytes of an image (no file I/O).
    public static func encodePNG(_ image: Image8, compressionLevel: Int? = nil) throws -> [UInt8] {
        try image.pixels.withUnsafeBufferPointer { buf in
            try encodePNG(pixels: buf.baseAddress!, width: image.width, height: image.height, rowStride: image.rowStride,
                          layout: image.layout, compressionLevel: compressionLevel, path: "")
        }
    }

    static func encodePNG(pixels: UnsafePointer<UInt8>, width: Int, height: Int, rowStride: Int, layout: Image8.Layout,
                          compressionLevel: Int?, path: String) throws -> [UInt8] {
        precondition(width > 0 && height > 0 && rowStride >= width * layout.channels, "encodePNG: bad geometry")
        MediaLibrary.ensureInitialized()
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
            throw MediaError(.internalError, "cannot encode PNG", path: path, detail: "FFmpeg has no PNG encoder")
        }
        let ctx = try CodecContext(codec: codec)
        let c = ctx.raw
        c.pointee.width = Int32(width)
        c.pointee.height = Int32(height)
        c.pointee.pix_fmt = layout.avFormat
        c.pointee.time_base = AVRational(num: 1, den: 1)
        if let level = compressionLevel { c.pointee.compression_level = Int32(level) }
        var rc = avcodec_open2(c, codec, nil)
        if rc < 0 { throw MediaError(.internalError, "cannot open the PNG encoder for", path: path, code: rc) }

        // Wrap the caller's pixels in a frame without copying (the encoder only reads them during send).
        let frame = FrameBox()
        let f = frame.raw
        f.pointee.format = layout.avFormat.rawValue
        f.pointee.width = Int32(width)
        f.pointee.height = Int32(height)
        f.pointee.data.0 = UnsafeMutablePointer(mutating: pixels)
        f.pointee.linesize.0 = Int32(rowStride)
        f.pointee.pts = 0
        rc = avcodec_send_frame(c, f)
        f.pointee.data.0 = nil
        if rc < 0 { throw MediaError(.internalError, "cannot encode PNG", path: path, code: rc) }
        _ = avcodec_send_frame(c, nil)
        let packet = PacketBox()
        rc = avcodec_receive_packet(c, packet.raw)
        if rc < 0 { throw MediaError(.internalError, "cannot encode PNG", path: path, code: rc) }
        defer { packet.unref() }
        return Array(UnsafeBufferPointer(start: packet.raw.pointee.data, count: Int(packet.raw.pointee.size)))
    }

    fileprivate static func firstFrame(_ path: String) throws -> (VideoSource, VideoFrame) {
        var options = SourceOptions()
        options.decoderThreads = 1
        let source = try VideoSource(path, options: options)
        guard let frame = try source.nextFrame() else {
            throw MediaError(.invalidInput, "no image in", path: path)
        }
        return (source, frame)
    }
}

extension VideoFrame {
    /// The values of a 16-bit gray frame (gray16le/be: a 16-bit PNG, an FFV1 `gray16le` video such as
    /// Cityscapes-style instance ids), row-major, copied exactly; other formats are rejected.
    public func gray16Values() throws -> [UInt16] {
        let fmt = pixelFormat
        guard fmt == AV_PIX_FMT_GRAY16LE || fmt == AV_PIX_FMT_GRAY16BE else {
            throw MediaError(.invalidInput, "not a 16-bit gray frame", path: "", detail: "pixel format \(fmt.name)")
        }
        let w = width, h = height
        let src = raw.pointee.data.0!
        let stride = Int(raw.pointee.linesize.0)
        let bigEndian = fmt == AV_PIX_FMT_GRAY16BE
        var values = [UInt16](repeating: 0, count: w * h)
        values.withUnsafeMutableBufferPointer { dst in
            for y in 0..<h {
                let row = src + y * stride
                for x in 0..<w {
                    let a = UInt16(row[2 * x]), b = UInt16(row[2 * x + 1])
                    dst[y * w + x] = bigEndian ? a << 8 | b : b << 8 | a
                }
            }
        }
        return values
    }

    /// The values of an 8-bit gray or palette frame (a label map), row-major, copied exactly; other formats
    /// are rejected.
    public func gray8Values() throws -> [UInt8] {
        let fmt = pixelFormat
        guard fmt == AV_PIX_FMT_GRAY8 || fmt == AV_PIX_FMT_PAL8 else {
            throw MediaError(.invalidInput, "not an 8-bit label frame", path: "", detail: "pixel format \(fmt.name)")
        }
        let w = width, h = height
        let src = raw.pointee.data.0!
        let stride = Int(raw.pointee.linesize.0)
        var values = [UInt8](repeating: 0, count: w * h)
        values.withUnsafeMutableBufferPointer { dst in
            for y in 0..<h { (dst.baseAddress! + y * w).update(from: src + y * stride, count: w) }
        }
        return values
    }
}

extension ImageIO {
    /// A 16-bit gray image (a Cityscapes `gtFine_instanceIds.png`): its size and values, copied exactly.
    public static func readGray16(_ path: String) throws -> (width: Int, height: Int, values: [UInt16]) {
        let (source, frame) = try firstFrame(path)
        _ = source
        do { return (frame.width, frame.height, try frame.gray16Values()) } catch let error as MediaError {
            throw MediaError(.invalidInput, "not a 16-bit gray image", path: path, detail: error.detail)
        }
    }
}
