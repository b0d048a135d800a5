/* AVX-512 int8 boundary gate (qu8-boundary-gate.c): 16 channels per step, the table read by a gather, masked tail. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>

#include "qu8-common.h"

#define SEG_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))

SEG_TARGET void seg_qu8_gate_row__avx512(size_t c, const uint8_t *a, const uint8_t *b, const float *table,
                                         int32_t b_zp, int32_t y_zp, uint8_t *y) {
    const __m512i bzp = _mm512_set1_epi32(b_zp), yzp = _mm512_set1_epi32(y_zp);
    const __m512 lo = _mm512_set1_ps((float)(0 - y_zp)), hi = _mm512_set1_ps((float)(255 - y_zp));
    for (size_t ch = 0; ch < c; ch += 16) {
        const __mmask16 m = c - ch >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (c - ch)) - 1);
        const __m512i ai = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, a + ch));
        const __m512i bi = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, b + ch)), bzp);
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(bi), _mm512_i32gather_ps(ai, table, 4));
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        _mm_mask_storeu_epi8(y + ch, m, _mm512_cvtusepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), yzp)));
    }
}
