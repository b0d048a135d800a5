import CSegKernels
import Foundation
import SegEngine
import SFNet
import Testing

/// The exact int8 Winograd path inside real models: on every conv it applies to, and end to end, it must give
/// the indirect GEMM's bytes.
@Suite struct Int8WinogradTests {
    static let bundledModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/sfnet-df1-synth-int8.safetensors")

    /// Every conv of the bundled model Winograd applies to, on random u8 inputs (all 256 codes, so also the
    /// extremes its exactness bound is about) with and without a residual: identical output bytes.
    @Test func everyWinogradConvOfTheBundledModelEqualsTheIndirectGEMM() throws {
        let model = try SFNetInt8Model(contentsOf: Self.bundledModel)
        let convs = model.int8Convs.filter(\.allowsWinograd)
        let candidates = model.int8Convs.filter { $0.kernelSize == 3 && $0.stride == 1 && $0.output != nil }
        // DF1: the 3×3 stride-1 convs of stages 3–5, the PPM bottleneck, FPN and conv_last.
        #expect(convs.count >= 20, "only \(convs.count) of \(candidates.count) 3×3 stride-1 convs take Winograd")
        let context = ExecutionContext(threads: 2)
        var rng = SystemRandomNumberGenerator()
        for (i, conv) in convs.enumerated() {
            let (h, w) = (7 + i % 9, 13 + (i * 5) % 11)
            let x = QTensor(channels: conv.inChannels, height: h, width: w, params: conv.input)
            for j in 0..<(h * w * x.pixelStride) { x.data[j] = UInt8.random(in: 0...255, using: &rng) }
            let (ho, wo) = conv.outputSize(height: h, width: w)
            let residual = i % 2 == 0 ? nil : QTensor(channels: conv.outChannels, height: ho, width: wo,
                                                      params: QuantParams(scale: 0.05, zeroPoint: 77))
            if let r = residual { for j in 0..<(ho * wo * r.pixelStride) { r.data[j] = UInt8.random(in: 0...255, using: &rng) } }
            let outputs = [QConv2d.Algorithm.igemm, .winograd4x4].map { a in
                let y = QTensor(channels: conv.outChannels, height: ho, width: wo, params: conv.output!)
                context.int8Algorithm = a
                conv.run(x, into: y, residual: residual, context: context)
                return Array(UnsafeBufferPointer(start: y.data, count: ho * wo * y.pixelStride))
            }
            #expect(outputs[0] == outputs[1], "\(conv.name): Winograd differs from the indirect GEMM")
        }
    }

    /// The bundled model (DF1, undilated) and the R18 fixture (dilated layer3/4) end to end: logits and
    /// labels identical with Winograd forced, with the indirect GEMM forced, and with the measured choice
    /// through and after its trial runs.
    @Test(arguments: ["bundled-df1", "r18_w16"])
    func modelOutputsAreIdentical(_ name: String) throws {
        let session: InferenceSession
        if name == "bundled-df1" {
            session = try SFNetInt8Model(contentsOf: Self.bundledModel).session(threads: 2)
        } else {
            session = try quantizedFixture(name, frames: 1).int8
        }
        let int8Model = try #require(session.model as? SFNetInt8Model)
        let convs = int8Model.int8Convs.filter(\.allowsWinograd)
        print("\(name): Winograd applies to \(convs.count) convs, \(convs.filter { $0.dilation > 1 }.count) dilated")
        #expect(convs.count >= 10 && (name != "r18_w16" || convs.contains { $0.dilation > 1 }))
        let x = syntheticFrame(height: 96, width: 160, seed: 5)
        session.int8Algorithm = .igemm
        let logits = session.lowResolutionLogits(input: x).toArray(), labels = session.predictLabels(input: x)
        session.int8Algorithm = .winograd4x4
        #expect(session.lowResolutionLogits(input: x).toArray() == logits)
        #expect(session.predictLabels(input: x) == labels)
        session.int8Algorithm = nil
        for run in 0..<5 { #expect(session.predictLabels(input: x) == labels, "measured choice, run \(run)") }
    }
}
