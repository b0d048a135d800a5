/* This CPU's multiply-accumulate peak per core, measured (CSegKernels.h, seg_peak_gmacs). */
#include <time.h>

#include "CSegKernels.h"
#include "peak.h"

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

uint64_t seg_peak_probe(seg_isa isa, int int8, uint64_t rounds, int32_t *int8_lane_sum) {
    int32_t isink = 0;
    float fsink = 0;
    uint64_t macs = 0;
    if (!seg_isa_supported(isa)) return 0;
    switch (isa) {
    case SEG_ISA_AVX512VNNI:
        macs = int8 ? seg_peak_int8__avx512vnni(rounds, &isink) : seg_peak_fp32__avx512(rounds, &fsink);
        break;
    case SEG_ISA_AVX2:
        macs = int8 ? seg_peak_int8__avx2(rounds, &isink) : seg_peak_fp32__avx2(rounds, &fsink);
        break;
    default:
        return 0;
    }
    if (int8_lane_sum) *int8_lane_sum = isink;
    return macs;
}

double seg_peak_gmacs(seg_isa isa, int int8, double seconds) {
    /* Chunks of 100,000 rounds (0.1-0.6 ms, by ISA and CPU); the fastest chunk is the peak (a chunk the OS
       interrupted is slower, never faster). */
    const uint64_t rounds = 100000;
    double best = 0, start = now_seconds(), t = start;
    do {
        const double t0 = now_seconds();
        const uint64_t macs = seg_peak_probe(isa, int8, rounds, NULL);
        t = now_seconds();
        if (macs == 0) return 0;
        const double rate = (double)macs / (t - t0) * 1e-9;
        if (rate > best) best = rate;
    } while (t - start < seconds);
    return best;
}
