/* AVX2 pixel kernel of the int8 depthwise conv (qu8-dwconv.c): 8 channels per step in int32 lanes, the dense
   conv's float epilogue; channels past the last multiple of 8 run the scalar code (no over-read). */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>

#include "qu8-common.h"

#define SEG_TARGET __attribute__((target("avx2,fma")))

SEG_TARGET void seg_qu8_dw_pixel__avx2(size_t c, size_t c16, size_t taps, const uint8_t *const *x, const int32_t *w,
                                       int32_t x_zp, const int32_t *bias, const float *mult,
                                       const seg_qu8_epilogue *e, uint8_t *y) {
    const __m256i zp = _mm256_set1_epi32(x_zp), yzp = _mm256_set1_epi32(e->y_zp);
    const __m256 lo = _mm256_set1_ps(e->lo), hi = _mm256_set1_ps(e->hi);
    size_t ch = 0;
    for (; ch + 8 <= c; ch += 8) {
        __m256i acc = _mm256_setzero_si256();
        for (size_t t = 0; t < taps; t++) {
            if (!x[t]) continue;
            const __m256i xv = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x[t] + ch))), zp);
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(xv, _mm256_loadu_si256((const __m256i *)(w + t * c16 + ch))));
        }
        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(acc, _mm256_loadu_si256((const __m256i *)(bias + ch)))),
                                 _mm256_loadu_ps(mult + ch));
        v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
        const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), yzp);
        const __m128i q16 = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i *)(y + ch), _mm_packus_epi16(q16, q16));
    }
    for (; ch < c; ch++) {
        int32_t acc = 0;
        for (size_t t = 0; t < taps; t++)
            if (x[t]) acc += ((int32_t)x[t][ch] - x_zp) * w[t * c16 + ch];
        y[ch] = seg_qu8_requant(acc, bias[ch], mult[ch], e, 0);
    }
}
