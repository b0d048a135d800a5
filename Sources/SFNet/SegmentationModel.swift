import CSegKernels
import Foundation
import SegEngine

/// A prepared segmentation network, whatever its arithmetic: fp32 (`SFNetModel`) or int8
/// (`SFNetInt8Model`). Immutable once loaded (weights folded, packed and Winograd-transformed at load), so
/// one model serves any number of streams at once: each stream makes its own `InferenceSession`, which
/// holds everything a forward pass writes (docs/engine.md).
public protocol SegmentationModel: AnyObject, Sendable {
    var config: SFNetConfig { get }
    /// The arithmetic this model runs in.
    var precision: ModelPrecision { get }
    /// A session (one per stream) whose layers fan out to `pool`.
    func makeSession(pool: WorkerPool) -> InferenceSession
}

extension SegmentationModel {
    /// A session on the process-wide worker pool (`WorkerPool.shared`).
    public func makeSession() -> InferenceSession { makeSession(pool: .shared) }
}

/// What a session needs of a model: its passes, run with the session's workspace. Every state a pass
/// writes is in the workspace; the model itself is only read.
protocol SessionRunner: AnyObject, Sendable {
    func forward(input: NetworkInput, outputHeight: Int, outputWidth: Int, _ ws: Workspace) -> Tensor
    func predictLabels(input: NetworkInput, outputHeight: Int, outputWidth: Int, into labels: UnsafeMutableBufferPointer<UInt8>,
                       _ ws: Workspace)
    func lowResolutionLogits(input: NetworkInput, _ ws: Workspace) -> Tensor
    /// predictLabels, and the instance head's output in a fresh CHW tensor (the model must have the head).
    func predictLabelsAndInstances(input: NetworkInput, outputHeight: Int, outputWidth: Int,
                                   into labels: UnsafeMutableBufferPointer<UInt8>, _ ws: Workspace) -> Tensor
}

/// The per-stream state of forward passes: the execution context (scratch, indirection tables, profiling,
/// observer), the graph's buffer slots (per input size plan), an arena for buffers outside the graph, and
/// the output stage's scratch.
final class Workspace {
    let context: ExecutionContext
    let arena = ActivationArena()
    /// Per-worker tables and row buffers of the int8 output stage (a few hundred KiB at 1024×2048); grows to
    /// the largest size seen, so steady-state frames allocate nothing. Not part of `activationBytes`.
    var upsampleScratch = TensorStorage(capacity: 0)
    /// The graph's buffer plan per input size (height, width): one model per session, so one engine's sizes.
    private var plans: [[Int]: GraphPlan] = [:]
    /// The plan's slots (`GraphPlan.slotElements`), grown to the largest size seen.
    private(set) var slots: [TensorStorage] = []
    init(pool: WorkerPool) { context = ExecutionContext(pool: pool) }

    /// The plan for this input size (made on first use with `make`), with the slots it needs in place.
    func plan(height: Int, width: Int, _ make: () -> GraphPlan) -> GraphPlan {
        let p: GraphPlan
        if let cached = plans[[height, width]] { p = cached } else { p = make(); plans[[height, width]] = p }
        for (k, n) in p.slotElements.enumerated() {
            if k == slots.count { slots.append(TensorStorage(capacity: n)) }
            else if slots[k].capacity < n { slots[k] = TensorStorage(capacity: n) }
        }
        return p
    }

    /// The fp32 network input of a pass given 8-bit planes: grown to the largest size seen, allocated only
    /// by a layer that needs the tensor (the fp32 engine; an int8 first layer other than the fused stem).
    private var normalizedInput = TensorStorage(capacity: 0)

    /// `input` as the fp32 tensor: the one given, or the planes normalised into this workspace's buffer
    /// (valid until the next pass).
    func tensor(_ input: NetworkInput) -> Tensor {
        guard case .pixels(let planes, let scale, let bias) = input else { return input.normalized() }
        let n = 3 * planes.height * planes.width
        if normalizedInput.capacity < n { normalizedInput = TensorStorage(capacity: n) }
        let t = Tensor(storage: normalizedInput, offset: 0, channels: 3, height: planes.height, width: planes.width)
        planes.normalize(scale: scale, bias: bias, into: t)
        return t
    }

    /// Bytes of activation memory held: the slots, the arena (buffers outside the graph) and the normalised input.
    var activationBytes: Int { arena.bytes + slots.reduce(0) { $0 + $1.capacity * 4 } + normalizedInput.capacity * 4 }
}

/// One stream's handle on a model: the model (shared, immutable) plus this stream's workspace.
///
/// Single owner: not `Sendable`; use a session from one thread at a time (make one per stream; sessions
/// of one model run concurrently). Each pass takes a turn on the worker pool (`WorkerPool.withTurn`, FIFO),
/// so concurrent streams alternate whole forward passes.
public final class InferenceSession {
    public let model: any SegmentationModel
    private let runner: any SessionRunner
    private let workspace: Workspace
    /// The model's configuration and arithmetic (conveniences for `model.config`, `model.precision`).
    public var config: SFNetConfig { model.config }
    public var precision: ModelPrecision { model.precision }
    /// The pool this session's passes fan out to.
    public var pool: WorkerPool { workspace.context.pool }
    public var threads: Int { workspace.context.threads }

    init(model: any SegmentationModel & SessionRunner, pool: WorkerPool) {
        self.model = model
        runner = model
        workspace = Workspace(pool: pool)
    }

    /// The int8 kernels' ISA for this session: nil follows the dispatch table (best, or SEGSTREAM_ISA);
    /// tests pin each ISA. Unused by fp32 models.
    public var isa: seg_isa? {
        get { workspace.context.isa }
        set { workspace.context.isa = newValue }
    }

    /// Forces the int8 3×3 convs' algorithm (`ExecutionContext.int8Algorithm`); nil: measured per conv.
    public var int8Algorithm: QConv2d.Algorithm? {
        get { workspace.context.int8Algorithm }
        set { workspace.context.int8Algorithm = newValue }
    }

    /// fp32 logits, numClasses×height×width: the network's low-resolution logits resized (bilinear,
    /// align_corners=True, as the reference) straight to that size, usually the input's. Allocates only
    /// the returned tensor.
    public func forward(input: NetworkInput, outputHeight: Int, outputWidth: Int) -> Tensor {
        pool.withTurn { runner.forward(input: input, outputHeight: outputHeight, outputWidth: outputWidth, workspace) }
    }

    /// Train ids (argmax of the logits resized to outputHeight×outputWidth, fused: the full-size logits
    /// are never stored), row-major, into `labels` (at least outputHeight·outputWidth bytes).
    public func predictLabels(input: NetworkInput, outputHeight: Int, outputWidth: Int,
                              into labels: UnsafeMutableBufferPointer<UInt8>) {
        precondition(labels.count >= outputHeight * outputWidth, "labels buffer too small")
        pool.withTurn {
            runner.predictLabels(input: input, outputHeight: outputHeight, outputWidth: outputWidth, into: labels, workspace)
        }
    }

    /// Train ids into `labels` as `predictLabels`, and the instance head's output from the same pass: fp32
    /// `config.instanceHead.channels`×h×w at the network's fusion resolution (heatmap logits per thing class,
    /// then dx, dy in cells), in a fresh tensor. The model must have an instance head (`config.instanceHead`).
    public func predictLabelsAndInstances(input: NetworkInput, outputHeight: Int, outputWidth: Int,
                                          into labels: UnsafeMutableBufferPointer<UInt8>) -> Tensor {
        precondition(config.instanceHead != nil, "the model has no instance head")
        precondition(labels.count >= outputHeight * outputWidth, "labels buffer too small")
        return pool.withTurn {
            runner.predictLabelsAndInstances(input: input, outputHeight: outputHeight, outputWidth: outputWidth,
                                             into: labels, workspace)
        }
    }

    /// Logits at the network's fusion resolution (/4 of the input for R18, /16 for DF1, /8 for DF2),
    /// numClasses×h×w, in a fresh tensor.
    public func lowResolutionLogits(input: NetworkInput) -> Tensor {
        pool.withTurn { runner.lowResolutionLogits(input: input, workspace) }
    }

    // The fp32 tensor forms of the passes above.

    public func forward(input: Tensor, outputHeight: Int, outputWidth: Int) -> Tensor {
        forward(input: .tensor(input), outputHeight: outputHeight, outputWidth: outputWidth)
    }

    public func predictLabels(input: Tensor, outputHeight: Int, outputWidth: Int, into labels: UnsafeMutableBufferPointer<UInt8>) {
        predictLabels(input: .tensor(input), outputHeight: outputHeight, outputWidth: outputWidth, into: labels)
    }

    public func predictLabelsAndInstances(input: Tensor, outputHeight: Int, outputWidth: Int,
                                          into labels: UnsafeMutableBufferPointer<UInt8>) -> Tensor {
        predictLabelsAndInstances(input: .tensor(input), outputHeight: outputHeight, outputWidth: outputWidth, into: labels)
    }

    public func lowResolutionLogits(input: Tensor) -> Tensor { lowResolutionLogits(input: .tensor(input)) }

    /// Runs one forward pass (labels path) and returns each layer's time and MAC count, in order.
    public func profile(input: Tensor) -> [LayerTiming] {
        let context = workspace.context
        context.profile = []
        defer { context.profile = nil }
        var labels = [UInt8](repeating: 0, count: input.height * input.width)
        labels.withUnsafeMutableBufferPointer { predictLabels(input: input, into: $0) }
        return context.profile ?? []
    }

    /// Runs the network (up to the low-resolution logits) and hands every fp32 convolution's output (by
    /// conv name, after BN/residual/ReLU) and every fp32 FAM warp-add output (`head.fpn_out_align.<i>.warp`)
    /// to `observer` as it is produced: calibration of the int8 engine. The tensors are only valid inside the call.
    public func observeActivations(input: Tensor, _ observer: (String, Tensor) -> Void) {
        let context = workspace.context
        withoutActuallyEscaping(observer) { o in
            context.activationObserver = o
            defer { context.activationObserver = nil }
            _ = lowResolutionLogits(input: input)
        }
    }

    /// Bytes of activation memory held for reuse by this session.
    public var activationBytes: Int { workspace.activationBytes }

    /// Logits at the input's size, as the PyTorch reference returns them.
    public func forward(input: Tensor) -> Tensor {
        forward(input: input, outputHeight: input.height, outputWidth: input.width)
    }

    /// Train ids at the input's size, into `labels`.
    public func predictLabels(input: Tensor, into labels: UnsafeMutableBufferPointer<UInt8>) {
        predictLabels(input: input, outputHeight: input.height, outputWidth: input.width, into: labels)
    }

    /// Train ids in a fresh array, at the input's size or the one given (the buffer-filling form is the one
    /// the pipeline uses).
    public func predictLabels(input: Tensor, outputHeight: Int? = nil, outputWidth: Int? = nil) -> [UInt8] {
        predictLabels(input: .tensor(input), outputHeight: outputHeight, outputWidth: outputWidth)
    }

    /// The same from either form of the network input.
    public func predictLabels(input: NetworkInput, outputHeight: Int? = nil, outputWidth: Int? = nil) -> [UInt8] {
        let height = outputHeight ?? input.height, width = outputWidth ?? input.width
        var labels = [UInt8](repeating: 0, count: height * width)
        labels.withUnsafeMutableBufferPointer {
            predictLabels(input: input, outputHeight: height, outputWidth: width, into: $0)
        }
        return labels
    }
}

extension SFNetModel {
    public var precision: ModelPrecision { .fp32 }
}

/// Asking a model file for a precision it cannot give.
public struct PrecisionMismatch: Error, CustomStringConvertible, Equatable {
    public let file: ModelPrecision, requested: ModelPrecision
    public init(file: ModelPrecision, requested: ModelPrecision) { self.file = file; self.requested = requested }
    public var description: String {
        switch (file, requested) {
        case (.fp32, .int8):
            return "this is an fp32 model; make an int8 one with `segstream quantize --model FILE --calibrate FRAMES... -o OUT.safetensors`"
        default:
            return "this is an int8 model and it keeps no fp32 weights; run it as int8 (the default) or use the fp32 model it was quantized from"
        }
    }
}

/// Loads a model file (docs/model-format.md, docs/int8.md) as the engine its `precision` metadata names,
/// or as `precision` when given (an fp32 file cannot run as int8 without `segstream quantize`; int8 files
/// keep no fp32 weights, so they run only as int8). Throws `ModelFileError` or `PrecisionMismatch`.
/// The model holds no threads: its sessions run on `WorkerPool.shared` (or a pool given to `makeSession`).
public func loadSegmentationModel(contentsOf url: URL, precision: ModelPrecision? = nil) throws -> any SegmentationModel {
    let file = try SafetensorsFile(contentsOf: url)
    let config = try SFNetConfig(metadata: file.metadata)
    let wanted = precision ?? config.precision
    guard wanted == config.precision else { throw PrecisionMismatch(file: config.precision, requested: wanted) }
    switch config.precision {
    case .fp32: return try SFNetModel(file: file)
    case .int8: return try SFNetInt8Model(file: file)
    }
}
