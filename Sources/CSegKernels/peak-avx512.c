/* AVX-512 instruction-rate probes (peak.c): 12 independent accumulator chains. */
#include <immintrin.h>

#include "peak.h"

/* int8 as the VNNI igemm multiplies: vpdpbusd, 64 u8×s8 MACs into 16 int32 lanes. */
__attribute__((target("avx512f,avx512vnni"))) uint64_t seg_peak_int8__avx512vnni(uint64_t rounds, int32_t *sink) {
    const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
    __m512i c[SEG_PEAK_CHAINS];
    for (int k = 0; k < SEG_PEAK_CHAINS; k++) c[k] = _mm512_set1_epi32(k);
    for (uint64_t r = 0; r < rounds; r++) {
        for (int k = 0; k < SEG_PEAK_CHAINS; k++) c[k] = _mm512_dpbusd_epi32(c[k], a, b);
        /* Opaque to the optimiser: no chain may be folded into a closed form. */
        __asm__ volatile("" : "+v"(c[0]), "+v"(c[1]), "+v"(c[2]), "+v"(c[3]), "+v"(c[4]), "+v"(c[5]));
        __asm__ volatile("" : "+v"(c[6]), "+v"(c[7]), "+v"(c[8]), "+v"(c[9]), "+v"(c[10]), "+v"(c[11]));
    }
    __m512i s = c[0];
    for (int k = 1; k < SEG_PEAK_CHAINS; k++) s = _mm512_add_epi32(s, c[k]);
    *sink = _mm512_reduce_add_epi32(s) / 16;
    return rounds * SEG_PEAK_CHAINS * 64;
}

__attribute__((target("avx512f"))) uint64_t seg_peak_fp32__avx512(uint64_t rounds, float *sink) {
    const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-6f);
    __m512 c[SEG_PEAK_CHAINS];
    for (int k = 0; k < SEG_PEAK_CHAINS; k++) c[k] = _mm512_set1_ps((float)k);
    for (uint64_t r = 0; r < rounds; r++) {
        for (int k = 0; k < SEG_PEAK_CHAINS; k++) c[k] = _mm512_fmadd_ps(c[k], a, b);
        /* Opaque to the optimiser: no chain may be folded into a closed form. */
        __asm__ volatile("" : "+v"(c[0]), "+v"(c[1]), "+v"(c[2]), "+v"(c[3]), "+v"(c[4]), "+v"(c[5]));
        __asm__ volatile("" : "+v"(c[6]), "+v"(c[7]), "+v"(c[8]), "+v"(c[9]), "+v"(c[10]), "+v"(c[11]));
    }
    __m512 s = c[0];
    for (int k = 1; k < SEG_PEAK_CHAINS; k++) s = _mm512_add_ps(s, c[k]);
    *sink = _mm512_reduce_add_ps(s) / 16;
    return rounds * SEG_PEAK_CHAINS * 16;
}
