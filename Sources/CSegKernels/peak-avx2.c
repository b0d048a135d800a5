/* AVX2 instruction-rate probes (peak.c): 12 independent accumulator chains, so the loop runs at the multiply
   units' throughput, not at one instruction's latency. */
#include <immintrin.h>

#include "peak.h"

/* int8 as the AVX2 igemm multiplies: vpmaddwd on s16-widened operands (16 MACs) then vpaddd. Unlike vpdpbusd,
   vpmaddwd does not read its accumulator, so with constant operands the compiler computes the product once, outside
   the loop, and the probe timed the vpaddd alone (3× the multiply rate on a CPU whose ymm multiplies run at half
   its adds'); each chain's operand goes through an empty asm, so every chain's vpmaddwd runs every round. */
__attribute__((target("avx2"))) uint64_t seg_peak_int8__avx2(uint64_t rounds, int32_t *sink) {
    const __m256i a = _mm256_set1_epi16(3), b = _mm256_set1_epi16(-2);
    __m256i c[SEG_PEAK_CHAINS];
    for (int k = 0; k < SEG_PEAK_CHAINS; k++) c[k] = _mm256_set1_epi32(k);
    for (uint64_t r = 0; r < rounds; r++) {
        for (int k = 0; k < SEG_PEAK_CHAINS; k++) {
            __m256i x = a;
            __asm__ volatile("" : "+x"(x));   /* a value the compiler cannot share between chains or rounds */
            c[k] = _mm256_add_epi32(c[k], _mm256_madd_epi16(x, b));
        }
        /* Opaque to the optimiser: no chain may be folded into a closed form. */
        __asm__ volatile("" : "+x"(c[0]), "+x"(c[1]), "+x"(c[2]), "+x"(c[3]), "+x"(c[4]), "+x"(c[5]));
        __asm__ volatile("" : "+x"(c[6]), "+x"(c[7]), "+x"(c[8]), "+x"(c[9]), "+x"(c[10]), "+x"(c[11]));
    }
    __m256i s = c[0];
    for (int k = 1; k < SEG_PEAK_CHAINS; k++) s = _mm256_add_epi32(s, c[k]);
    *sink = _mm256_extract_epi32(s, 0);
    return rounds * SEG_PEAK_CHAINS * 16;
}

__attribute__((target("avx2,fma"))) uint64_t seg_peak_fp32__avx2(uint64_t rounds, float *sink) {
    const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-6f);
    __m256 c[SEG_PEAK_CHAINS];
    for (int k = 0; k < SEG_PEAK_CHAINS; k++) c[k] = _mm256_set1_ps((float)k);
    for (uint64_t r = 0; r < rounds; r++) {
        for (int k = 0; k < SEG_PEAK_CHAINS; k++) c[k] = _mm256_fmadd_ps(c[k], a, b);
        /* Opaque to the optimiser: no chain may be folded into a closed form. */
        __asm__ volatile("" : "+x"(c[0]), "+x"(c[1]), "+x"(c[2]), "+x"(c[3]), "+x"(c[4]), "+x"(c[5]));
        __asm__ volatile("" : "+x"(c[6]), "+x"(c[7]), "+x"(c[8]), "+x"(c[9]), "+x"(c[10]), "+x"(c[11]));
    }
    __m256 s = c[0];
    for (int k = 1; k < SEG_PEAK_CHAINS; k++) s = _mm256_add_ps(s, c[k]);
    *sink = _mm256_cvtss_f32(s);
    return rounds * SEG_PEAK_CHAINS * 8;
}
