/* AVX-512 BW bilinear blend, 32 channels per step (masked tail), exact integer math identical to scalar;
   the fused add runs the same float sequence as scalar. */
#include <immintrin.h>

#include "qu8-common.h"

#define SEG_TARGET __attribute__((target("avx512f,avx512cd,avx512bw,avx512dq,avx512vl")))

static inline SEG_TARGET __m512i add_epilogue(__m512i b, __m512i r, const seg_qu8_blend_add *e) {
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(b, _mm512_set1_epi32(e->x_zp16384))),
                             _mm512_set1_ps(e->x_mult));
    __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(r, _mm512_set1_epi32(e->r_zp))),
                             _mm512_set1_ps(e->r_mult));
    v = _mm512_add_ps(v, t);
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(e->lo)), _mm512_set1_ps(e->hi));
    return _mm512_add_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(e->y_zp));
}

SEG_TARGET void seg_qu8_bilinear_ukernel__avx512bw(size_t n, size_t c, const uint8_t *const *t, const int16_t *w,
                                                   uint8_t *y, size_t y_stride, const seg_qu8_blend_add *add) {
    const __m512i round = _mm512_set1_epi32(8192);
    for (size_t i = 0; i < n; i++, t += 4, w += 4, y += y_stride) {
        const uint8_t *a = t[0], *b = t[1], *d = t[2], *e = t[3];
        const uint8_t *r = add ? add->r + i * add->r_stride : NULL;
        const __m512i wab = _mm512_set1_epi32((int32_t)((uint32_t)(uint16_t)w[1] << 16 | (uint16_t)w[0]));
        const __m512i wde = _mm512_set1_epi32((int32_t)((uint32_t)(uint16_t)w[3] << 16 | (uint16_t)w[2]));
        for (size_t k = 0; k < c; k += 32) {
            const size_t left = c - k;
            const __mmask32 m = left >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << left) - 1);
            const __m512i va = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, a + k));
            const __m512i vb = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, b + k));
            const __m512i vd = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, d + k));
            const __m512i ve = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, e + k));
            __m512i lo = _mm512_add_epi32(_mm512_madd_epi16(_mm512_unpacklo_epi16(va, vb), wab),
                                          _mm512_madd_epi16(_mm512_unpacklo_epi16(vd, ve), wde));
            __m512i hi = _mm512_add_epi32(_mm512_madd_epi16(_mm512_unpackhi_epi16(va, vb), wab),
                                          _mm512_madd_epi16(_mm512_unpackhi_epi16(vd, ve), wde));
            if (r) {
                /* Same lane permutation as lo/hi: unpack the residual against zero. */
                const __m512i vr = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, r + k));
                const __m512i z = _mm512_setzero_si512();
                lo = add_epilogue(lo, _mm512_unpacklo_epi16(vr, z), add);
                hi = add_epilogue(hi, _mm512_unpackhi_epi16(vr, z), add);
            } else {
                lo = _mm512_srai_epi32(_mm512_add_epi32(lo, round), 14);
                hi = _mm512_srai_epi32(_mm512_add_epi32(hi, round), 14);
            }
            const __m512i s16 = _mm512_packus_epi32(lo, hi);
            _mm256_mask_storeu_epi8(y + k, m, _mm512_cvtepi16_epi8(s16));
        }
    }
}
