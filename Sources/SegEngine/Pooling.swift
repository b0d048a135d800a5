import CSegKernels

/// Pooling ops on CHW tensors; threads split the channels.
public enum Pooling {
    /// Output size of a max-pool (PyTorch, ceil_mode false).
    public static func maxPoolOutputSize(height: Int, width: Int, kernel: Int = 3, stride: Int = 2, padding: Int = 1) -> (height: Int, width: Int) {
        ((height + 2 * padding - kernel) / stride + 1, (width + 2 * padding - kernel) / stride + 1)
    }

    /// Max-pool `x` (C×H×W) into `y` (C×Ho×Wo); padding never wins.
    public static func maxPool(_ x: Tensor, into y: Tensor, kernel: Int = 3, stride: Int = 2, padding: Int = 1,
                               context: ExecutionContext, name: String = "maxpool") {
        let (ho, wo) = maxPoolOutputSize(height: x.height, width: x.width, kernel: kernel, stride: stride, padding: padding)
        precondition(y.shape == [x.channels, ho, wo], "maxpool output \(y.shape), expected \([x.channels, ho, wo])")
        context.measure(name) {
            perChannel(x.channels, context) { r in
                seg_f32_maxpool2d(x.data + r.lowerBound * x.planeSize, r.count, x.height, x.width, kernel, stride, padding,
                                  y.data + r.lowerBound * y.planeSize, ho, wo)
            }
        }
    }

    /// Adaptive average pool to y's size, with PyTorch's (overlapping) bins.
    public static func adaptiveAveragePool(_ x: Tensor, into y: Tensor, context: ExecutionContext, name: String = "adaptive_avgpool") {
        precondition(y.channels == x.channels && y.height > 0 && y.width > 0)
        context.measure(name) {
            perChannel(x.channels, context) { r in
                seg_f32_adaptive_avgpool2d(x.data + r.lowerBound * x.planeSize, r.count, x.height, x.width,
                                           y.data + r.lowerBound * y.planeSize, y.height, y.width)
            }
        }
    }

    static func perChannel(_ channels: Int, _ context: ExecutionContext, _ body: (Range<Int>) -> Void) {
        let workers = min(context.threads, channels)
        context.parallel(workers) { t in body(ExecutionContext.split(channels, parts: workers, index: t)) }
    }
}
