import CSegKernels
import Foundation
import Testing

@testable import SegEngine

/// The int8 conv's per-context algorithm choice (`QConv2d.algorithm`): which convs may take Winograd, the
/// trial order, the rule that settles it, and that every run on the way writes the same bytes.
@Suite struct QConv2dAlgorithmTests {
    static func conv(kernel: Int = 3, stride: Int = 1, inChannels: Int = 24, outChannels: Int = 40,
                     output: QuantParams? = QuantParams(scale: 0.2, zeroPoint: 3)) -> QConv2d {
        var rng = SplitMix64(seed: 7)
        let n = outChannels * inChannels * kernel * kernel
        return QConv2d(name: "c", inChannels: inChannels, outChannels: outChannels, kernelSize: kernel, stride: stride,
                       padding: kernel / 2, weight: (0..<n).map { _ in Int8(Int(rng.next() % 255) - 127) },
                       weightScale: [Float](repeating: 0.01, count: outChannels), bias: nil,
                       input: QuantParams(scale: 0.05, zeroPoint: 9), output: output, relu: output != nil)
    }

    @Test func winogradAppliesTo3x3StrideOneU8Convs() {
        #expect(Self.conv().allowsWinograd)
        #expect(!Self.conv(kernel: 1).allowsWinograd)
        #expect(!Self.conv(stride: 2).allowsWinograd)
        #expect(!Self.conv(inChannels: 4).allowsWinograd)
        #expect(!Self.conv(output: nil).allowsWinograd)
    }

    @Test func trialsAlternateThenTheChoiceHolds() throws {
        let isa = try #require([SEG_ISA_AVX512VNNI, SEG_ISA_AVX2].first { seg_isa_supported($0) != 0 },
                               "no ISA with vector Winograd kernels here")
        let conv = Self.conv(), context = ExecutionContext(threads: 2)
        context.isa = isa
        let x = QTensor(channels: 24, height: 13, width: 18, params: conv.input)
        var rng = SplitMix64(seed: 11)
        for i in 0..<(13 * 18 * x.pixelStride) { x.data[i] = UInt8(truncatingIfNeeded: rng.next()) }
        var outputs: [[UInt8]] = [], order: [QConv2d.Algorithm] = []
        for _ in 0..<6 {
            let (algorithm, trial) = conv.algorithm(height: 13, width: 18, isa: isa, context: context)
            order.append(algorithm)
            #expect((trial == nil) == (order.count > 4), "trial \(order.count)")
            let y = QTensor(channels: 40, height: 13, width: 18, params: conv.output!)
            conv.run(x, into: y, context: context, isa: isa)
            outputs.append(Array(UnsafeBufferPointer(start: y.data, count: 13 * 18 * y.pixelStride)))
        }
        #expect(Array(order.prefix(4)) == [.igemm, .winograd4x4, .igemm, .winograd4x4])
        #expect(order[4] == order[5])
        #expect(outputs.allSatisfy { $0 == outputs[0] })
        // Another context starts its own trials; scalar has no vector kernels, so it never tries Winograd.
        #expect(conv.algorithm(height: 13, width: 18, isa: isa, context: ExecutionContext(threads: 1)).0 == .igemm)
        let scalar = conv.algorithm(height: 13, width: 18, isa: SEG_ISA_SCALAR, context: context)
        #expect(scalar.0 == .igemm && scalar.1 == nil)
        context.int8Algorithm = .winograd4x4
        #expect(conv.algorithm(height: 13, width: 18, isa: SEG_ISA_SCALAR, context: context).0 == .winograd4x4)
    }

    @Test func theFasterBestRunWins() {
        let trial = AlgorithmTrial(conv: Self.conv())
        for (a, s) in [(QConv2d.Algorithm.igemm, 2.0), (.winograd4x4, 1.5), (.igemm, 9.0)] {
            trial.record(a, seconds: s)
            #expect(trial.chosen == nil)
        }
        trial.record(.winograd4x4, seconds: 7)
        #expect(trial.chosen == .winograd4x4)
        // One slow igemm run (another process) must not hand the choice to Winograd: medians 5 vs 1.35 would.
        let other = AlgorithmTrial(conv: Self.conv())
        for (a, s) in [(QConv2d.Algorithm.igemm, 1.0), (.winograd4x4, 1.5), (.igemm, 9.0), (.winograd4x4, 1.2)] {
            other.record(a, seconds: s)
        }
        #expect(other.chosen == .igemm)
    }

    /// The trials' clock is each worker's CPU time: a worker that waits (here: sleeps, as when another process
    /// has its core) adds almost nothing, one that computes adds its work, and each worker has its own slot.
    @Test func workerClocksCountCPUTimeNotWaiting() {
        let clocks = WorkerClocks(workers: 2)
        WorkerClocks.time(clocks, worker: 1) { usleep(100_000) }
        #expect(clocks.slowest < 0.05, "a sleeping worker's CPU time: \(clocks.slowest) s")
        var sum: UInt64 = 0
        let busy = DispatchTime.now().uptimeNanoseconds
        WorkerClocks.time(clocks, worker: 0) {
            while DispatchTime.now().uptimeNanoseconds - busy < 30_000_000 { sum &+= UInt64(busy) &* 3 }
        }
        #expect(clocks.slowest > 0 && sum != 1)
        var ran = false
        WorkerClocks.time(nil, worker: 0) { ran = true }
        #expect(ran)
    }
}

/// SplitMix64: small, reproducible.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
