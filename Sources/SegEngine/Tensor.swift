import Foundation

/// 64-byte-aligned fp32 storage, padded by 64 bytes past the end (SIMD kernels may over-read), freed on deinit.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    /// Usable elements (the padding is extra).
    public let capacity: Int

    public init(capacity: Int) {
        precondition(capacity >= 0)
        var raw: UnsafeMutableRawPointer?
        let bytes = max(capacity, 1) * MemoryLayout<Float>.stride + 64
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else { fatalError("out of memory allocating \(bytes) bytes") }
        memset(raw, 0, bytes)
        pointer = raw.bindMemory(to: Float.self, capacity: bytes / 4)
        self.capacity = capacity
    }

    deinit { free(pointer) }
}

/// A batch-1 fp32 activation in planar **CHW** layout (NCHW with N = 1): element (c, y, x) lives at
/// `data[(c·height + y)·width + x]`. Channels are contiguous planes, so a channel range is itself a
/// tensor (`channelSlice`): that is how concatenations are built without copies.
///
/// `Tensor` is a *view*: copies share storage (reference semantics for the elements). Ownership rule:
/// one thread writes a tensor at a time; hand tensors between threads, do not share them while writing.
public struct Tensor: @unchecked Sendable {
    public let storage: TensorStorage
    /// Offset of element (0,0,0) in `storage`, in elements.
    public let offset: Int
    public let channels: Int
    public let height: Int
    public let width: Int

    /// A zero-filled tensor with fresh storage.
    public init(channels: Int, height: Int, width: Int) {
        precondition(channels >= 0 && height >= 0 && width >= 0)
        self.init(storage: TensorStorage(capacity: channels * height * width), offset: 0,
                  channels: channels, height: height, width: width)
    }

    /// A tensor copied from CHW-ordered values.
    public init(channels: Int, height: Int, width: Int, values: [Float]) {
        precondition(values.count == channels * height * width, "expected \(channels * height * width) values, got \(values.count)")
        self.init(channels: channels, height: height, width: width)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A view of existing storage.
    public init(storage: TensorStorage, offset: Int, channels: Int, height: Int, width: Int) {
        precondition(offset >= 0 && offset + channels * height * width <= storage.capacity, "view exceeds storage")
        self.storage = storage
        self.offset = offset
        self.channels = channels
        self.height = height
        self.width = width
    }

    public var count: Int { channels * height * width }
    public var planeSize: Int { height * width }
    public var shape: [Int] { [channels, height, width] }
    public var data: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// Channels `range` as a tensor sharing this one's storage.
    public func channelSlice(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= channels)
        return Tensor(storage: storage, offset: offset + range.lowerBound * planeSize,
                      channels: range.count, height: height, width: width)
    }

    /// The elements in CHW order.
    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    public subscript(c: Int, y: Int, x: Int) -> Float {
        get { data[(c * height + y) * width + x] }
        nonmutating set { data[(c * height + y) * width + x] = newValue }
    }
}
