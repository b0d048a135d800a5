/* AVX2 variants of the gating ops (gate.c holds the scalar reference and the definitions): 8 lanes, the same
   float operations in the same order (mul, mul, add; no FMA), round half to even as lrintf. */
#include <immintrin.h>

#include "gate.h"

#define SEG_TARGET __attribute__((target("avx2")))

SEG_TARGET void seg_f32_modulate__avx2(const float *x, size_t C, size_t HW, const float *gs, const float *gc,
                                       float *y, size_t p0, size_t p1) {
    for (size_t c = 0; c < C; c++) {
        const float *xc = x + c * HW;
        float *yc = y + c * HW;
        const __m256 g = _mm256_set1_ps(gc[c]);
        size_t p = p0;
        for (; p + 8 <= p1; p += 8) {
            const __m256 v = _mm256_loadu_ps(xc + p);
            __m256 t = _mm256_mul_ps(v, _mm256_loadu_ps(gs + p));
            t = _mm256_mul_ps(t, g);
            _mm256_storeu_ps(yc + p, _mm256_add_ps(v, t));
        }
        for (; p < p1; p++) yc[p] = seg_f32_modulate1(xc[p], gs[p], gc[c]);
    }
}

SEG_TARGET void seg_f32_balanced_sum__avx2(const float *h, const float *l, size_t C, size_t HW, const float *wh,
                                           const float *wl, float *y, size_t p0, size_t p1) {
    for (size_t c = 0; c < C; c++) {
        const float *hc = h + c * HW, *lc = l + c * HW;
        float *yc = y + c * HW;
        const __m256 a = _mm256_set1_ps(wh[c]), b = _mm256_set1_ps(wl[c]);
        size_t p = p0;
        for (; p + 8 <= p1; p += 8) {
            const __m256 u = _mm256_mul_ps(a, _mm256_loadu_ps(hc + p));
            const __m256 v = _mm256_mul_ps(b, _mm256_loadu_ps(lc + p));
            _mm256_storeu_ps(yc + p, _mm256_add_ps(u, v));
        }
        for (; p < p1; p++) yc[p] = seg_f32_balanced1(hc[p], lc[p], wh[c], wl[c]);
    }
}

/* 8 u8 at p, minus zp, as floats. */
static inline SEG_TARGET __m256 load8(const uint8_t *p, __m256i zp) {
    const __m256i i = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(i, zp));
}

/* clamp(v, lo, hi), round half to even, + zp, stored as 8 u8. */
static inline SEG_TARGET void store8(uint8_t *p, __m256 v, __m256 lo, __m256 hi, __m256i zp) {
    v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
    const __m256i i = _mm256_add_epi32(_mm256_cvtps_epi32(v), zp);
    const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    _mm_storel_epi64((__m128i *)p, _mm_packus_epi16(w, w));
}

SEG_TARGET void seg_qu8_modulate__avx2(size_t c, const uint8_t *x, size_t x_stride, uint8_t x_zp, float x_mult,
                                       const float *gs, const float *gc, uint8_t *y, size_t y_stride, uint8_t y_zp,
                                       size_t p0, size_t p1) {
    const __m256i xz = _mm256_set1_epi32(x_zp), yz = _mm256_set1_epi32(y_zp);
    const __m256 m = _mm256_set1_ps(x_mult);
    const __m256 lo = _mm256_set1_ps(-(float)y_zp), hi = _mm256_set1_ps(255.0f - (float)y_zp);
    for (size_t p = p0; p < p1; p++) {
        const uint8_t *xp = x + p * x_stride;
        uint8_t *yp = y + p * y_stride;
        const __m256 g = _mm256_set1_ps(gs[p]);
        size_t k = 0;
        for (; k + 8 <= c; k += 8) {
            const __m256 v = _mm256_mul_ps(load8(xp + k, xz), m);
            __m256 t = _mm256_mul_ps(v, g);
            t = _mm256_mul_ps(t, _mm256_loadu_ps(gc + k));
            store8(yp + k, _mm256_add_ps(v, t), lo, hi, yz);
        }
        for (; k < c; k++) yp[k] = seg_qu8_modulate1(xp[k], x_zp, x_mult, gs[p], gc[k], y_zp);
    }
}

SEG_TARGET void seg_qu8_balanced_sum__avx2(size_t c, const uint8_t *h, size_t h_stride, uint8_t h_zp,
                                           const float *mh, const uint8_t *l, size_t l_stride, uint8_t l_zp,
                                           const float *ml, uint8_t *y, size_t y_stride, uint8_t y_zp, size_t p0,
                                           size_t p1) {
    const __m256i hz = _mm256_set1_epi32(h_zp), lz = _mm256_set1_epi32(l_zp), yz = _mm256_set1_epi32(y_zp);
    const __m256 lo = _mm256_set1_ps(-(float)y_zp), hi = _mm256_set1_ps(255.0f - (float)y_zp);
    for (size_t p = p0; p < p1; p++) {
        const uint8_t *hp = h + p * h_stride, *lp = l + p * l_stride;
        uint8_t *yp = y + p * y_stride;
        size_t k = 0;
        for (; k + 8 <= c; k += 8) {
            const __m256 a = _mm256_mul_ps(load8(hp + k, hz), _mm256_loadu_ps(mh + k));
            const __m256 b = _mm256_mul_ps(load8(lp + k, lz), _mm256_loadu_ps(ml + k));
            store8(yp + k, _mm256_add_ps(a, b), lo, hi, yz);
        }
        for (; k < c; k++) yp[k] = seg_qu8_balanced1(hp[k], h_zp, mh[k], lp[k], l_zp, ml[k], y_zp);
    }
}
