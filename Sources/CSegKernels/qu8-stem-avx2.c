/* AVX2 row quantizer of the fused first conv (8 pixels per step); the conv itself runs the AVX2 igemm. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>

#include "qu8-stem.h"

#define SEG_TARGET __attribute__((target("avx2,fma")))

/* seg_qu8_quantize_scalar on 8 lanes: max_ps(0, t) and min_ps(255, t) keep Swift's operand order. */
static inline SEG_TARGET __m256i quantize8(__m256 v, __m256 inv, __m256 zp) {
    __m256 t = _mm256_add_ps(_mm256_mul_ps(v, inv), zp);
    t = _mm256_max_ps(_mm256_setzero_ps(), t);
    t = _mm256_min_ps(_mm256_set1_ps(255.0f), t);
    t = _mm256_add_ps(t, _mm256_set1_ps(12582912.0f));
    return _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000));
}

SEG_TARGET void seg_qu8_rgbx_row__avx2(const float *r, const float *g, const float *b, size_t n, float inv, float zp,
                                       uint32_t pad, uint32_t *dst) {
    const __m256 vinv = _mm256_set1_ps(inv), vzp = _mm256_set1_ps(zp);
    const __m256i vpad = _mm256_set1_epi32((int32_t)pad);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i qr = quantize8(_mm256_loadu_ps(r + i), vinv, vzp);
        const __m256i qg = quantize8(_mm256_loadu_ps(g + i), vinv, vzp);
        const __m256i qb = quantize8(_mm256_loadu_ps(b + i), vinv, vzp);
        const __m256i px = _mm256_or_si256(_mm256_or_si256(qr, _mm256_slli_epi32(qg, 8)),
                                           _mm256_or_si256(_mm256_slli_epi32(qb, 16), vpad));
        _mm256_storeu_si256((__m256i *)(dst + i), px);
    }
    seg_qu8_rgbx_row__scalar(r + i, g + i, b + i, n - i, inv, zp, pad, dst + i);
}
