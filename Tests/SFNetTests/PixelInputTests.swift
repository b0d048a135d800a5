import CSegKernels
import Foundation
import SegEngine
import SFNet
import Testing

/// 8-bit planes with a deterministic pattern: smooth gradients, hard edges and every byte value.
func patternPlanes(width: Int, height: Int, seed: Int) -> PixelPlanes {
    let planes = PixelPlanes(width: width, height: height)
    for c in 0..<3 {
        let p = planes.plane(c)
        for y in 0..<height {
            for x in 0..<planes.rowStride {
                // Past the width: bytes the engine must not read (a wrong stride would show).
                let v = x >= width ? 255 : (x * 7 + y * 13 + c * 71 + seed * 29 + (x / 9 + y / 5) % 2 * 97) & 255
                p[y * planes.rowStride + x] = UInt8(v)
            }
        }
    }
    return planes
}

/// A forward pass from the 8-bit planes (the int8 stem reads them through its table; every other first layer,
/// and the fp32 engine, normalises them in the workspace) against the same pass from the normalised tensor.
@Suite struct PixelInputTests {
    static let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
    static var scale: [Float] { (0..<3).map { 1 / (255 * std[$0]) } }
    static var bias: [Float] { (0..<3).map { -mean[$0] / std[$0] } }

    /// Labels at the input's size and at another size, and the low-resolution logits, bit for bit, on two
    /// frame sizes (the second after the first: buffers reused across sizes).
    static func expectSame(_ session: InferenceSession, _ what: String) {
        for (h, w, seed) in [(64, 96, 1), (45, 77, 2)] {
            let planes = patternPlanes(width: w, height: h, seed: seed)
            let pixels = NetworkInput.pixels(planes, scale: scale, bias: bias)
            let tensor = pixels.normalized()
            #expect(session.predictLabels(input: pixels) == session.predictLabels(input: tensor), "\(what) \(h)x\(w)")
            #expect(session.predictLabels(input: pixels, outputHeight: 31, outputWidth: 45)
                        == session.predictLabels(input: tensor, outputHeight: 31, outputWidth: 45), "\(what) \(h)x\(w) to 31x45")
            let a = session.lowResolutionLogits(input: pixels).toArray().map(\.bitPattern)
            let b = session.lowResolutionLogits(input: tensor).toArray().map(\.bitPattern)
            #expect(a == b, "\(what) \(h)x\(w): logits")
        }
    }

    @Test("fp32 and int8 (fused stem; stem kept in fp32) from planes equal the normalised tensor, every ISA")
    func tinyModels() throws {
        let (fp32, int8, _) = try quantizedFixture("df1_w16_ac0", frames: 1)
        Self.expectSame(fp32, "fp32")
        for isa in [SEG_ISA_SCALAR, SEG_ISA_AVX2, SEG_ISA_AVX512VNNI] where seg_isa_supported(isa) != 0 {
            int8.isa = isa
            Self.expectSame(int8, "int8 \(String(cString: seg_isa_name(isa)))")
        }
        // The first conv in fp32: the int8 engine normalises the planes for it.
        let (_, mixed, _) = try quantizedFixture("df1_w16_ac0", fp32Layers: ["backbone.stage1.0"], frames: 1)
        Self.expectSame(mixed, "int8 with an fp32 stem")
    }

    @Test("an R18 stem (64 outputs) from planes equals the normalised tensor")
    func r18() throws {
        let (_, int8, _) = try quantizedFixture("r18_w16", frames: 1)
        Self.expectSame(int8, "int8 r18")
    }
}
