/* AVX2 int8 boundary gate (qu8-boundary-gate.c): 8 channels per step, the table read by a gather; scalar tail. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>
#include <math.h>

#include "qu8-common.h"

#define SEG_TARGET __attribute__((target("avx2,fma")))

SEG_TARGET void seg_qu8_gate_row__avx2(size_t c, const uint8_t *a, const uint8_t *b, const float *table, int32_t b_zp,
                                       int32_t y_zp, uint8_t *y) {
    const __m256i bzp = _mm256_set1_epi32(b_zp), yzp = _mm256_set1_epi32(y_zp);
    const float lo_s = (float)(0 - y_zp), hi_s = (float)(255 - y_zp);
    const __m256 lo = _mm256_set1_ps(lo_s), hi = _mm256_set1_ps(hi_s);
    size_t ch = 0;
    for (; ch + 8 <= c; ch += 8) {
        const __m256i ai = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(a + ch)));
        const __m256i bi = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(b + ch))), bzp);
        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(bi), _mm256_i32gather_ps(table, ai, 4));
        v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
        const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), yzp);
        const __m128i q16 = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i *)(y + ch), _mm_packus_epi16(q16, q16));
    }
    for (; ch < c; ch++) {
        float v = (float)((int32_t)b[ch] - b_zp) * table[a[ch]];
        v = v < lo_s ? lo_s : v;
        v = v > hi_s ? hi_s : v;
        y[ch] = (uint8_t)((int32_t)lrintf(v) + y_zp);
    }
}
