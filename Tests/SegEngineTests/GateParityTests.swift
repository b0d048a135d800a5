import Foundation
import SegEngine
import Testing

/// The decoder blocks' gates (issue #15) against PyTorch (tools/make_fixtures.py: the modules' arithmetic on
/// random logits): FBNet's modulation and IFBFNet's balanced sum, fp32.
@Suite struct GateParityTests {
    @Test(arguments: OpFixtures.cases(op: "modulate"), [1, 2])
    func modulate(name: String, threads: Int) throws {
        let f = try OpFixtures.file("ops")
        let x = try OpFixtures.tensor(f, "\(name).x"), expected = try OpFixtures.tensor(f, "\(name).y")
        let y = Tensor(channels: x.channels, height: x.height, width: x.width)
        var scratch = [Float](repeating: .nan, count: Gates.modulateScratch(channels: x.channels, height: x.height, width: x.width))
        scratch.withUnsafeMutableBufferPointer {
            Gates.modulate(x, spatial: try! OpFixtures.tensor(f, "\(name).spatial"), channel: try! OpFixtures.tensor(f, "\(name).channel"),
                           into: y, scratch: $0.baseAddress!, context: ExecutionContext(threads: threads))
        }
        #expect(maxAbsDiff(y.toArray(), expected.toArray()) <= 1e-5 * max(1, maxAbs(expected.toArray())), "\(name)")
    }

    @Test(arguments: OpFixtures.cases(op: "balanced_sum"), [1, 2])
    func balancedSum(name: String, threads: Int) throws {
        let f = try OpFixtures.file("ops")
        let high = try OpFixtures.tensor(f, "\(name).high"), expected = try OpFixtures.tensor(f, "\(name).y")
        let y = Tensor(channels: high.channels, height: high.height, width: high.width)
        var scratch = [Float](repeating: .nan, count: Gates.balancedSumScratch(channels: high.channels))
        let low = try OpFixtures.tensor(f, "\(name).low")
        let a = try OpFixtures.tensor(f, "\(name).logits_high"), b = try OpFixtures.tensor(f, "\(name).logits_low")
        scratch.withUnsafeMutableBufferPointer {
            Gates.balancedSum(high: high, low: low, logitsHigh: a, logitsLow: b, into: y, scratch: $0.baseAddress!,
                              context: ExecutionContext(threads: threads))
        }
        #expect(maxAbsDiff(y.toArray(), expected.toArray()) <= 1e-5 * max(1, maxAbs(expected.toArray())), "\(name)")
    }
}
