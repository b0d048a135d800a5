import CSegKernels

/// Bilinear resizing (PyTorch `interpolate(mode="bilinear")` with an explicit target size).
public enum Resize {
    /// Resizes x (C×Hi×Wi) into y (C×Ho×Wo); y may be a channel slice of a concat buffer.
    public static func bilinear(_ x: Tensor, into y: Tensor, alignCorners: Bool, context: ExecutionContext,
                                name: String = "resize") {
        precondition(y.channels == x.channels, "resize: \(x.channels) channels into \(y.channels)")
        context.measure(name) {
            Pooling.perChannel(x.channels, context) { r in
                seg_f32_bilinear_resize(x.data + r.lowerBound * x.planeSize, r.count, x.height, x.width,
                                        y.data + r.lowerBound * y.planeSize, y.height, y.width, alignCorners ? 1 : 0)
            }
        }
    }

    /// labels[i·W + j] = argmax_c resize(x)[c, i, j] for an output of height×width, without storing the
    /// resized logits. `labels` holds height·width bytes; x has at most 256 channels.
    public static func bilinearArgmax(_ x: Tensor, height: Int, width: Int, alignCorners: Bool,
                                      labels: UnsafeMutablePointer<UInt8>, context: ExecutionContext,
                                      name: String = "upsample_argmax") {
        precondition(x.channels >= 1 && x.channels <= 256)
        context.measure(name) {
            let workers = min(context.threads, height)
            context.parallel(workers) { t in
                let rows = ExecutionContext.split(height, parts: workers, index: t)
                seg_f32_bilinear_argmax_u8(x.data, x.channels, x.height, x.width, labels, height, width,
                                           rows.lowerBound, rows.upperBound, alignCorners ? 1 : 0)
            }
        }
    }

    /// labels[p] = argmax_c x[c, p] (first maximum wins).
    public static func argmax(_ x: Tensor, labels: UnsafeMutablePointer<UInt8>) {
        precondition(x.channels >= 1 && x.channels <= 256)
        seg_f32_argmax_channels_u8(x.data, x.channels, x.planeSize, labels)
    }
}
