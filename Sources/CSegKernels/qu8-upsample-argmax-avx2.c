/* AVX2 micro-kernels of the fused logits upsample + argmax (qu8-upsample-argmax.c): 8 output columns per
   vector, the same fp32 operations in the same order as the scalar reference (no FMA). */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>

#include "qu8-common.h"

#define SEG_TARGET __attribute__((target("avx2,fma")))

SEG_TARGET void seg_qu8_upsample_row_ukernel__avx2(size_t C, const float *p, size_t p_stride, const int32_t *xa,
                                                   const int32_t *xb, const float *wa, const float *wb, size_t n,
                                                   float *h, size_t h_stride) {
    for (size_t j = 0; j < n; j += 8) {
        const __m256i ia = _mm256_loadu_si256((const __m256i *)(xa + j));
        const __m256i ib = _mm256_loadu_si256((const __m256i *)(xb + j));
        const __m256 va = _mm256_loadu_ps(wa + j), vb = _mm256_loadu_ps(wb + j);
        for (size_t c = 0; c < C; c++) {
            const float *r = p + c * p_stride;
            const __m256 a = _mm256_mul_ps(va, _mm256_i32gather_ps(r, ia, 4));
            const __m256 b = _mm256_mul_ps(vb, _mm256_i32gather_ps(r, ib, 4));
            _mm256_storeu_ps(h + c * h_stride + j, _mm256_add_ps(a, b));
        }
    }
}

SEG_TARGET void seg_qu8_argmax_row_ukernel__avx2(size_t C, const float *ha, const float *hb, size_t h_stride,
                                                 float h0, float h1, size_t n, uint8_t *labels) {
    const __m256 w0 = _mm256_set1_ps(h0), w1 = _mm256_set1_ps(h1);
    for (size_t j = 0; j < n; j += 16) {
        __m256 best[2];
        __m256i arg[2];
        for (int b = 0; b < 2; b++) {
            best[b] = _mm256_add_ps(_mm256_mul_ps(w0, _mm256_loadu_ps(ha + j + 8 * b)),
                                    _mm256_mul_ps(w1, _mm256_loadu_ps(hb + j + 8 * b)));
            arg[b] = _mm256_setzero_si256();
        }
        for (size_t c = 1; c < C; c++) {
            const __m256i vc = _mm256_set1_epi32((int)c);
            for (int b = 0; b < 2; b++) {
                const __m256 v = _mm256_add_ps(_mm256_mul_ps(w0, _mm256_loadu_ps(ha + c * h_stride + j + 8 * b)),
                                               _mm256_mul_ps(w1, _mm256_loadu_ps(hb + c * h_stride + j + 8 * b)));
                const __m256 m = _mm256_cmp_ps(v, best[b], _CMP_GT_OQ);
                best[b] = _mm256_blendv_ps(best[b], v, m);
                arg[b] = _mm256_blendv_epi8(arg[b], vc, _mm256_castps_si256(m));
            }
        }
        /* int32 lanes → bytes, in column order. */
        const __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(arg[0], arg[1]), 0xd8);
        const __m128i b8 = _mm_packus_epi16(_mm256_castsi256_si128(w16), _mm256_extracti128_si256(w16, 1));
        uint8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, b8);
        const size_t m = n - j < 16 ? n - j : 16;
        for (size_t k = 0; k < m; k++) labels[j + k] = tmp[k];
    }
}
