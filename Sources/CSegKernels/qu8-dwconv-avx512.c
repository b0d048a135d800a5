/* AVX-512 pixel kernel of the int8 depthwise conv (qu8-dwconv.c): 16 channels per step in int32 lanes, masked
   loads and stores for the last ones, the dense conv's float epilogue. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>

#include "qu8-common.h"

#define SEG_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))

SEG_TARGET void seg_qu8_dw_pixel__avx512(size_t c, size_t c16, size_t taps, const uint8_t *const *x, const int32_t *w,
                                         int32_t x_zp, const int32_t *bias, const float *mult,
                                         const seg_qu8_epilogue *e, uint8_t *y) {
    const __m512i zp = _mm512_set1_epi32(x_zp), yzp = _mm512_set1_epi32(e->y_zp);
    const __m512 lo = _mm512_set1_ps(e->lo), hi = _mm512_set1_ps(e->hi);
    for (size_t ch = 0; ch < c; ch += 16) {
        const __mmask16 m = c - ch >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (c - ch)) - 1);
        __m512i acc = _mm512_setzero_si512();
        for (size_t t = 0; t < taps; t++) {
            if (!x[t]) continue;
            const __m512i xv = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, x[t] + ch)), zp);
            acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(xv, _mm512_load_si512(w + t * c16 + ch)));
        }
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc, _mm512_load_si512(bias + ch))),
                                 _mm512_load_ps(mult + ch));
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), yzp);
        _mm_mask_storeu_epi8(y + ch, m, _mm512_cvtusepi32_epi8(q));
    }
}
