import Foundation
import SegEngine
import SFNet
import Testing

/// Activation memory under the graph's liveness plan against the hand-placed acquire/release of the
/// engines it replaced: never more. The "before" bytes are the old engines' `activationBytes` after one
/// labels pass in a fresh model, measured on 229fd37 (a throwaway probe with these fixtures and sizes).
@Suite struct ActivationMemoryTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let model: String, height: Int, width: Int, fp32Before: Int, int8Before: Int
        var testDescription: String { "\(model) \(height)x\(width)" }
    }

    static let cases = [
        Case(model: "r18_w16", height: 64, width: 96, fp32Before: 124_672, int8Before: 75_664),
        Case(model: "r18_w16", height: 96, width: 160, fp32Before: 316_080, int8Before: 190_260),
        Case(model: "df1_w16_ac0", height: 64, width: 96, fp32Before: 25_200, int8Before: 34_584),
        Case(model: "df1_w16_ac0", height: 96, width: 160, fp32Before: 67_536, int8Before: 87_624),
        Case(model: "df2_w16", height: 64, width: 96, fp32Before: 31_760, int8Before: 35_576),
        Case(model: "df2_w16", height: 96, width: 160, fp32Before: 82_128, int8Before: 89_712),
    ]

    @Test(arguments: cases)
    func peakIsNoMoreThanBefore(_ c: Case) throws {
        let x = syntheticFrame(height: c.height, width: c.width, seed: 1)
        let fp32 = try SFNetModel(contentsOf: try fixtureURL(c.model)).session(threads: 2)
        _ = fp32.predictLabels(input: x)
        let (_, int8, _) = try quantizedFixture(c.model, frames: 1)
        let fresh = int8.model.session(threads: 2)
        _ = fresh.predictLabels(input: x)
        print("activation bytes \(c.testDescription): fp32 \(fp32.activationBytes) (before \(c.fp32Before)), int8 \(fresh.activationBytes) (before \(c.int8Before))")
        #expect(fp32.activationBytes <= c.fp32Before)
        #expect(fresh.activationBytes <= c.int8Before)
        #expect(fp32.activationBytes > 0 && fresh.activationBytes > 0)
    }
}
