import Foundation
import SegEngine
import Testing

/// SeENet's ops against PyTorch (tools/make_fixtures.py → Fixtures/ops.safetensors): the depthwise conv
/// (`F.conv2d(groups=C)`) and the BAM gate (`b·(1 − sigmoid(a))`).
@Suite struct SeENetOpParityTests {
    @Test(arguments: OpFixtures.cases(op: "dwconv"), [1, 2, 3])
    func depthwiseConvolution(name: String, threads: Int) throws {
        let f = try OpFixtures.file("ops")
        let p = try OpFixtures.parameters(f, name)
        let x = try OpFixtures.tensor(f, "\(name).x"), expected = try OpFixtures.tensor(f, "\(name).y")
        let conv = DepthwiseConv2d(name: name, channels: x.channels, kernelSize: p["kernel"] as! Int, padding: p["padding"] as! Int,
                                   dilation: p["dilation"] as! Int, weight: try f.floats("\(name).w"),
                                   bias: f.entries["\(name).b"] != nil ? try f.floats("\(name).b") : nil, relu: p["relu"] as! Bool)
        let residual = f.entries["\(name).res"] != nil ? try OpFixtures.tensor(f, "\(name).res") : nil
        // Into a channel slice of a bigger tensor, as the graph's concats do.
        let cat = Tensor(channels: x.channels + 3, height: expected.height, width: expected.width)
        let y = cat.channelSlice(2..<(2 + x.channels))
        conv.run(x, into: y, residual: residual, context: ExecutionContext(threads: threads))
        #expect(maxAbsDiff(y.toArray(), expected.toArray()) <= 1e-5 * max(1, maxAbs(expected.toArray())), "\(name) threads \(threads)")
        #expect(cat.channelSlice(0..<2).toArray().allSatisfy { $0 == 0 } && cat.channelSlice((2 + x.channels)..<(x.channels + 3)).toArray().allSatisfy { $0 == 0 })
        #expect(conv.macs(height: x.height, width: x.width) == x.channels * (p["kernel"] as! Int) * (p["kernel"] as! Int) * y.planeSize)
    }

    @Test(arguments: OpFixtures.cases(op: "gate"))
    func boundaryGate(name: String) throws {
        let f = try OpFixtures.file("ops")
        let a = try OpFixtures.tensor(f, "\(name).a"), b = try OpFixtures.tensor(f, "\(name).b")
        let expected = try OpFixtures.tensor(f, "\(name).y")
        let y = Tensor(channels: b.channels, height: b.height, width: b.width)
        BoundaryGate.apply(attention: a, feature: b, into: y, context: ExecutionContext(threads: 2))
        #expect(maxAbsDiff(y.toArray(), expected.toArray()) <= 1e-6 * max(1, maxAbs(expected.toArray())))
    }
}
