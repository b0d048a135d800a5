import CFFmpeg

extension VideoFrame {
    /// A frame holding a copy of packed RGB24 pixels (`rowStride` bytes per row), for sources that do not
    /// decode (synthetic test sources, generated scenes): it converts, scales and encodes like a decoded frame.
    /// It arrives when it is made.
    public convenience init(rgb24 pixels: UnsafePointer<UInt8>, width: Int, height: Int, rowStride: Int,
                            timestamp: MediaTime, index: Int) {
        precondition(width > 0 && height > 0 && rowStride >= 3 * width, "VideoFrame(rgb24:): bad geometry")
        guard let f = av_frame_alloc() else { fatalError("av_frame_alloc: out of memory") }
        defer { var p: UnsafeMutablePointer<AVFrame>? = f; av_frame_free(&p) }
        f.pointee.format = AV_PIX_FMT_RGB24.rawValue
        f.pointee.width = Int32(width)
        f.pointee.height = Int32(height)
        guard av_frame_get_buffer(f, 0) >= 0, let data = f.pointee.data.0 else { fatalError("av_frame_get_buffer: out of memory") }
        let stride = Int(f.pointee.linesize.0)
        for y in 0..<height { (data + y * stride).update(from: pixels + y * rowStride, count: 3 * width) }
        f.pointee.pts = timestamp.value
        self.init(moving: f, timestamp: timestamp, synthesized: false, index: index, arrivedAt: monotonicSeconds())
    }
}
