import Foundation
import SegEngine
import Testing

/// Every op against PyTorch's numbers (tools/make_fixtures.py → Fixtures/ops.safetensors).
@Suite struct OpParityTests {
    @Test(arguments: OpFixtures.cases(op: "conv"), [1, 2, 3])
    func convolution(name: String, threads: Int) throws {
        let f = try OpFixtures.file("ops")
        let p = try OpFixtures.parameters(f, name)
        let x = try OpFixtures.tensor(f, "\(name).x")
        let expected = try OpFixtures.tensor(f, "\(name).y")
        let wShape = f.entries["\(name).w"]!.shape
        // Both algorithms: Winograd (3×3 stride 1, when eligible) and im2col + sgemm.
        for winograd in [true, false] {
            let conv = Conv2d(name: name, inChannels: wShape[1], outChannels: wShape[0], kernelSize: p["kernel"] as! Int,
                              stride: p["stride"] as! Int, padding: p["padding"] as! Int, dilation: p["dilation"] as! Int,
                              weight: try f.floats("\(name).w"), bias: f.entries["\(name).b"] != nil ? try f.floats("\(name).b") : nil,
                              relu: p["relu"] as! Bool, allowWinograd: winograd)
            let residual = f.entries["\(name).res"] != nil ? try OpFixtures.tensor(f, "\(name).res") : nil
            let y = Tensor(channels: expected.channels, height: expected.height, width: expected.width)
            conv.run(x, into: y, residual: residual, context: ExecutionContext(threads: threads))
            let tol = 1e-5 * max(1, maxAbs(expected.toArray()))
            #expect(maxAbsDiff(y.toArray(), expected.toArray()) <= tol, "\(name) threads \(threads) winograd \(winograd)")
        }
    }

    @Test func convolutionWithFoldedBatchNorm() throws {
        let f = try OpFixtures.file("ops")
        let name = "conv3x3_bn_relu"
        let x = try OpFixtures.tensor(f, "\(name).x"), expected = try OpFixtures.tensor(f, "\(name).y")
        let bn = BatchNormParameters(gamma: try f.floats("\(name).gamma"), beta: try f.floats("\(name).beta"),
                                     mean: try f.floats("\(name).mean"), variance: try f.floats("\(name).var"))
        let conv = Conv2d(name: name, inChannels: 6, outChannels: 8, kernelSize: 3, padding: 1, weight: try f.floats("\(name).w"),
                          bias: try f.floats("\(name).b"), batchNorm: bn, relu: true)
        let y = Tensor(channels: 8, height: 9, width: 11)
        conv.run(x, into: y, context: ExecutionContext(threads: 2))
        #expect(maxAbsDiff(y.toArray(), expected.toArray()) <= 1e-5 * max(1, maxAbs(expected.toArray())))
    }

    @Test func convolutionIntoChannelSlice() throws {
        // A producer writing into a slice of a concat buffer must leave the other channels alone.
        let f = try OpFixtures.file("ops")
        let name = "conv1x1_bias"
        let x = try OpFixtures.tensor(f, "\(name).x"), expected = try OpFixtures.tensor(f, "\(name).y")
        let conv = Conv2d(name: name, inChannels: 16, outChannels: 24, kernelSize: 1, weight: try f.floats("\(name).w"),
                          bias: try f.floats("\(name).b"))
        let cat = Tensor(channels: 30, height: 13, width: 17)
        for i in 0..<cat.count { cat.data[i] = -7 }
        conv.run(x, into: cat.channelSlice(3..<27), context: ExecutionContext(threads: 2))
        #expect(maxAbsDiff(cat.channelSlice(3..<27).toArray(), expected.toArray()) <= 1e-5 * max(1, maxAbs(expected.toArray())))
        #expect(cat.channelSlice(0..<3).toArray().allSatisfy { $0 == -7 })
        #expect(cat.channelSlice(27..<30).toArray().allSatisfy { $0 == -7 })
    }

    @Test(arguments: OpFixtures.cases(op: "adaptive_avgpool"))
    func adaptiveAveragePool(name: String) throws {
        let f = try OpFixtures.file("ops")
        let x = try OpFixtures.tensor(f, "\(name).x"), expected = try OpFixtures.tensor(f, "\(name).y")
        let y = Tensor(channels: expected.channels, height: expected.height, width: expected.width)
        Pooling.adaptiveAveragePool(x, into: y, context: ExecutionContext(threads: 2))
        #expect(maxAbsDiff(y.toArray(), expected.toArray()) <= 1e-6)
    }

    @Test(arguments: OpFixtures.cases(op: "maxpool"))
    func maxPool(name: String) throws {
        let f = try OpFixtures.file("ops")
        let x = try OpFixtures.tensor(f, "\(name).x"), expected = try OpFixtures.tensor(f, "\(name).y")
        let (h, w) = Pooling.maxPoolOutputSize(height: x.height, width: x.width)
        #expect([x.channels, h, w] == expected.shape)
        let y = Tensor(channels: x.channels, height: h, width: w)
        Pooling.maxPool(x, into: y, context: ExecutionContext(threads: 2))
        #expect(y.toArray() == expected.toArray())
    }

    @Test(arguments: OpFixtures.cases(op: "bilinear"))
    func bilinearResize(name: String) throws {
        let f = try OpFixtures.file("ops")
        let p = try OpFixtures.parameters(f, name)
        let x = try OpFixtures.tensor(f, "\(name).x"), expected = try OpFixtures.tensor(f, "\(name).y")
        let y = Tensor(channels: x.channels, height: p["height"] as! Int, width: p["width"] as! Int)
        Resize.bilinear(x, into: y, alignCorners: p["align_corners"] as! Bool, context: ExecutionContext(threads: 2))
        #expect(maxAbsDiff(y.toArray(), expected.toArray()) <= 1e-5)
    }

    @Test(arguments: OpFixtures.cases(op: "flow_warp"))
    func flowWarp(name: String) throws {
        let f = try OpFixtures.file("ops")
        let p = try OpFixtures.parameters(f, name)
        let high = try OpFixtures.tensor(f, "\(name).high"), flow = try OpFixtures.tensor(f, "\(name).flow")
        let lat = try OpFixtures.tensor(f, "\(name).lat"), expected = try OpFixtures.tensor(f, "\(name).y")
        let y = Tensor(channels: lat.channels, height: lat.height, width: lat.width)
        FlowWarp.warpAdd(high: high, flow: flow, lat: lat, into: y, alignCorners: p["align_corners"] as! Bool,
                         context: ExecutionContext(threads: 2))
        #expect(maxAbsDiff(y.toArray(), expected.toArray()) <= 1e-5)
    }

    @Test(arguments: OpFixtures.cases(op: "upsample_argmax"))
    func upsampleArgmax(name: String) throws {
        let f = try OpFixtures.file("ops")
        let p = try OpFixtures.parameters(f, name)
        let x = try OpFixtures.tensor(f, "\(name).x"), expected = try OpFixtures.tensor(f, "\(name).y")
        let (h, w) = (p["height"] as! Int, p["width"] as! Int)
        var labels = [UInt8](repeating: 255, count: h * w)
        labels.withUnsafeMutableBufferPointer {
            Resize.bilinearArgmax(x, height: h, width: w, alignCorners: true, labels: $0.baseAddress!, context: ExecutionContext(threads: 2))
        }
        #expect(labels.map(Float.init) == expected.toArray())
        // The fused path equals resize-then-argmax exactly.
        let up = Tensor(channels: x.channels, height: h, width: w)
        Resize.bilinear(x, into: up, alignCorners: true, context: ExecutionContext(threads: 1))
        var plain = [UInt8](repeating: 0, count: h * w)
        plain.withUnsafeMutableBufferPointer { Resize.argmax(up, labels: $0.baseAddress!) }
        #expect(plain == labels)
    }
}
