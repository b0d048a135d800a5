/* AVX2 bilinear blend, 16 channels per step, exact integer math identical to the scalar kernel; the fused
   add runs the same float sequence as scalar. */
#include <immintrin.h>

#include "qu8-common.h"

#define SEG_TARGET __attribute__((target("avx2,fma")))

/* v = (B − x_zp·16384)·x_mult + (r − r_zp)·r_mult, clamped, rounded, + y_zp (int32 lanes). */
static inline SEG_TARGET __m256i add_epilogue(__m256i b, __m256i r, const seg_qu8_blend_add *e) {
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(b, _mm256_set1_epi32(e->x_zp16384))),
                             _mm256_set1_ps(e->x_mult));
    __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(r, _mm256_set1_epi32(e->r_zp))),
                             _mm256_set1_ps(e->r_mult));
    v = _mm256_add_ps(v, t);
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(e->lo)), _mm256_set1_ps(e->hi));
    return _mm256_add_epi32(_mm256_cvtps_epi32(v), _mm256_set1_epi32(e->y_zp));
}

SEG_TARGET void seg_qu8_bilinear_ukernel__avx2(size_t n, size_t c, const uint8_t *const *t, const int16_t *w,
                                               uint8_t *y, size_t y_stride, const seg_qu8_blend_add *add) {
    const __m256i round = _mm256_set1_epi32(8192);
    for (size_t i = 0; i < n; i++, t += 4, w += 4, y += y_stride) {
        const uint8_t *a = t[0], *b = t[1], *d = t[2], *e = t[3];
        const uint8_t *r = add ? add->r + i * add->r_stride : NULL;
        const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        const __m256i wab = _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)w1 << 16 | (uint16_t)w0));
        const __m256i wde = _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)w3 << 16 | (uint16_t)w2));
        size_t k = 0;
        for (; k + 16 <= c; k += 16) {
            const __m256i va = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + k)));
            const __m256i vb = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + k)));
            const __m256i vd = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(d + k)));
            const __m256i ve = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(e + k)));
            __m256i lo = _mm256_add_epi32(_mm256_madd_epi16(_mm256_unpacklo_epi16(va, vb), wab),
                                          _mm256_madd_epi16(_mm256_unpacklo_epi16(vd, ve), wde));
            __m256i hi = _mm256_add_epi32(_mm256_madd_epi16(_mm256_unpackhi_epi16(va, vb), wab),
                                          _mm256_madd_epi16(_mm256_unpackhi_epi16(vd, ve), wde));
            if (r) {
                /* Same lane permutation as lo/hi: unpack the residual against zero. */
                const __m256i vr = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(r + k)));
                const __m256i z = _mm256_setzero_si256();
                lo = add_epilogue(lo, _mm256_unpacklo_epi16(vr, z), add);
                hi = add_epilogue(hi, _mm256_unpackhi_epi16(vr, z), add);
            } else {
                lo = _mm256_srai_epi32(_mm256_add_epi32(lo, round), 14);
                hi = _mm256_srai_epi32(_mm256_add_epi32(hi, round), 14);
            }
            const __m256i s16 = _mm256_packus_epi32(lo, hi);  /* undoes the lane-local unpack order */
            const __m256i u8 = _mm256_permute4x64_epi64(_mm256_packus_epi16(s16, s16), 0x08);
            _mm_storeu_si128((__m128i *)(y + k), _mm256_castsi256_si128(u8));
        }
        for (; k < c; k++) {
            const int32_t acc = w0 * a[k] + w1 * b[k] + w2 * d[k] + w3 * e[k];
            y[k] = r ? seg_qu8_blend_add_scalar(acc, r[k], add) : (uint8_t)((acc + 8192) >> 14);
        }
    }
}
