import CSegKernels
import Testing

/// The instruction-rate probes behind `segstream profile`'s peaks: each ISA's loop does the multiply-accumulates it
/// reports (the int8 chains' lane-0 sum against its closed form), and the measured rate is positive exactly where
/// a probe exists.
@Suite("peak probes")
struct PeakProbeTests {
    static let chains = 12

    // Each ISA this CPU has (as every kernel test: an ISA the CPU lacks cannot run here).
    @Test("int8 probes run every chain: MAC count and lane sums match the closed form", arguments: [
        (SEG_ISA_AVX2, 16, Int32(-12)),          // vpmaddwd: 2 products of 3·(−2) per int32 lane, 8 lanes
        (SEG_ISA_AVX512VNNI, 64, Int32(-24)),    // vpdpbusd: 4 products per int32 lane, 16 lanes
    ].filter { seg_isa_supported($0.0) != 0 })
    func int8Probe(isa: seg_isa, macsPerInstruction: Int, perRound: Int32) throws {
        for rounds in [1, 7, 1000] {
            var laneSum: Int32 = 0
            let macs = seg_peak_probe(isa, 1, UInt64(rounds), &laneSum)
            #expect(macs == UInt64(rounds * Self.chains * macsPerInstruction))
            // Chain k starts at k and gains perRound every round.
            #expect(laneSum == Int32((0..<Self.chains).reduce(0, +)) + Int32(rounds * Self.chains) * perRound)
        }
    }

    @Test("fp32 probes count FMAs of the widest vectors",
          arguments: [(SEG_ISA_AVX2, 8), (SEG_ISA_AVX512VNNI, 16)].filter { seg_isa_supported($0.0) != 0 })
    func fp32Probe(isa: seg_isa, lanes: Int) throws {
        #expect(seg_peak_probe(isa, 0, 100, nil) == UInt64(100 * Self.chains * lanes))
    }

    @Test("measured peaks: positive for vector ISAs, none for scalar")
    func measured() {
        #expect(seg_peak_gmacs(SEG_ISA_SCALAR, 1, 0.001) == 0)
        #expect(seg_peak_probe(SEG_ISA_SCALAR, 1, 10, nil) == 0)
        for isa in [SEG_ISA_AVX2, SEG_ISA_AVX512VNNI] where seg_isa_supported(isa) != 0 {
            #expect(seg_peak_gmacs(isa, 1, 0.005) > 0)
            #expect(seg_peak_gmacs(isa, 0, 0.005) > 0)
        }
    }
}
