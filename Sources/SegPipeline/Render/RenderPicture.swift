import CSegKernels
import SegMedia

/// What `FrameRenderer` draws on: packed RGB24 (still images, `infer`) or planar YUV 4:2:0 in limited-range
/// BT.709 (video: the decoded frame goes to the encoder without an RGB round trip). A view over memory its
/// maker owns (CSegKernels' `seg_picture`).
public struct RenderPicture {
    let raw: seg_picture

    public var width: Int { Int(raw.width) }
    public var height: Int { Int(raw.height) }
    public var isYUV420: Bool { raw.format == Int32(SEG_PICTURE_YUV420.rawValue) }

    /// Packed RGB24, `rowStride` bytes a row (at least 3 · width).
    public static func rgb24(_ base: UnsafeMutablePointer<UInt8>, width: Int, height: Int, rowStride: Int) -> RenderPicture {
        precondition(width > 0 && height > 0 && width < Int(Int32.max) && height < Int(Int32.max) && rowStride >= 3 * width,
                     "RenderPicture: bad RGB24 geometry")
        return RenderPicture(raw: seg_picture(format: Int32(SEG_PICTURE_RGB24.rawValue), width: Int32(width), height: Int32(height),
                                              y_or_rgb: base, u: nil, v: nil, stride: rowStride, chroma_stride: 0))
    }

    public static func yuv420(_ planes: YUV420Planes) -> RenderPicture {
        precondition(planes.width < Int(Int32.max) && planes.height < Int(Int32.max), "RenderPicture: picture too large")
        return RenderPicture(raw: seg_picture(format: Int32(SEG_PICTURE_YUV420.rawValue), width: Int32(planes.width),
                                              height: Int32(planes.height), y_or_rgb: planes.y, u: planes.u, v: planes.v,
                                              stride: planes.lumaStride, chroma_stride: planes.chromaStride))
    }

    /// The same memory seen `width` pixels wide (at most the picture's width): drawing clips to it.
    func clipped(toWidth width: Int) -> RenderPicture {
        var r = raw
        r.width = Int32(min(width, Int(raw.width)))
        return RenderPicture(raw: r)
    }
}
