/* AVX2 indirect-GEMM kernel: 6 pixels × 16 output channels per pass. Exact: u8 activations and s16 weights
   (widened once, seg_qu8_igemm_weights) multiply with vpmaddwd (no vpmaddubsw saturation), so the int32
   accumulators equal the scalar and VNNI ones bit for bit. Each 32-bit lane holds one output channel's pair of
   input channels (k, k+1): the weights are loaded as they are, an activation pair is one broadcast, and the 12
   accumulators come out in channel order. (The 4×8 kernel it replaces widened weights and activations with a
   lane-crossing shuffle per vpmaddwd pair, which bound it to about 40 % of vpmaddwd's rate on a Zen 3.) */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>
#include <string.h>

#include "qu8-common.h"

#define SEG_TARGET __attribute__((target("avx2,fma")))
#define MR 6

/* The s16 activation pair at p in every 32-bit lane (vpbroadcastd from memory). */
static inline SEG_TARGET __m256i bcast_pair(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

static inline SEG_TARGET void store_row(__m256i acc, size_t n0, size_t cn, size_t i, void *y, size_t y_stride,
                                        const seg_qu8_epilogue *e) {
    const __m256 lo = _mm256_set1_ps(e->lo), hi = _mm256_set1_ps(e->hi);
    const __m256i bias = _mm256_loadu_si256((const __m256i *)(e->bias + n0));
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(acc, bias)), _mm256_loadu_ps(e->mult + n0));
    if (e->fbias) {
        v = _mm256_add_ps(v, _mm256_loadu_ps(e->fbias + n0));
        float *dst = (float *)((char *)y + i * y_stride) + n0;
        if (cn == 8) _mm256_storeu_ps(dst, v);
        else {
            float tmp[8];
            _mm256_storeu_ps(tmp, v);
            memcpy(dst, tmp, cn * 4);
        }
        return;
    }
    if (e->r) {
        int64_t rr = 0;
        memcpy(&rr, e->r + i * e->r_stride + n0, cn);
        __m256i rq = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(rr));
        __m256 rv = _mm256_cvtepi32_ps(_mm256_sub_epi32(rq, _mm256_set1_epi32(e->r_zp)));
        v = _mm256_add_ps(v, _mm256_mul_ps(rv, _mm256_set1_ps(e->r_mult)));
    }
    v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
    __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), _mm256_set1_epi32(e->y_zp));
    __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    __m128i q8 = _mm_packus_epi16(q16, q16);
    uint8_t *dst = (uint8_t *)y + i * y_stride + n0;
    if (cn == 8) _mm_storel_epi64((__m128i *)dst, q8);
    else {
        int64_t tmp = _mm_cvtsi128_si64(q8);
        memcpy(dst, &tmp, cn);
    }
}

/* Tap t of the 6 rows' activations as s16, rows kcs apart. */
static inline SEG_TARGET void widen_tap(int16_t *xb, const uint8_t *const *a, const size_t *row, size_t a_stride, size_t t,
                                        ptrdiff_t a_offset, const uint8_t *zero, size_t kc, size_t kcs) {
    for (size_t i = 0; i < MR; i++) {
        const uint8_t *p = a[row[i] * a_stride + t];
        if (p != zero) p += a_offset;
        int16_t *b = xb + i * kcs;
        size_t k = 0;
        for (; k + 16 <= kc; k += 16)
            _mm256_store_si256((__m256i *)(b + k), _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(p + k))));
        for (; k < kc; k++) b[k] = p[k];
    }
}

SEG_TARGET void seg_qu8_igemm_minmax_ukernel_6x16c2__avx2(size_t mr, size_t nc, size_t ks, size_t kc,
                                                          const uint8_t *const *a, size_t a_stride, ptrdiff_t a_offset,
                                                          const uint8_t *zero, const int8_t *w8, void *y, size_t y_stride,
                                                          const seg_qu8_epilogue *e) {
    const int16_t *w = (const int16_t *)(const void *)w8;
    const size_t gn = (nc + 15) / 16 * 16;
    size_t row[MR];
    for (size_t i = 0; i < MR; i++) row[i] = i < mr ? i : mr - 1;
    /* The activations of the 6 rows widened to s16 once (one shuffle per 16 channels), so that each pair below
       is a broadcast straight from memory (a load, not a vector shuffle): every tap at once when that fits in
       64 KB of stack (the weights are swept once per 16 channels), else tap by tap. */
    const size_t kcs = (kc + 15) & ~(size_t)15;
    const int hoisted = MR * ks * kcs * 2 <= 65536;
    int16_t xb[hoisted ? MR * ks * kcs : MR * kcs] __attribute__((aligned(32)));
    if (hoisted)
        for (size_t t = 0; t < ks; t++) widen_tap(xb + t * MR * kcs, a, row, a_stride, t, a_offset, zero, kc, kcs);
    for (size_t n0 = 0; n0 < nc; n0 += 16) {
        __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
                c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (size_t t = 0; t < ks; t++) {
            const int16_t *xt = xb + (hoisted ? t * MR * kcs : 0);
            if (!hoisted) widen_tap(xb, a, row, a_stride, t, a_offset, zero, kc, kcs);
            const int16_t *wt = w + t * kc * gn + n0 * 2;
            for (size_t k = 0; k < kc; k += 2, wt += gn * 2) {
                const __m256i w0 = _mm256_load_si256((const __m256i *)wt);
                const __m256i w1 = _mm256_load_si256((const __m256i *)(wt + 16));
                __m256i x;
#define ROW(I, C0, C1)                                      \
    x = bcast_pair(xt + (I) * kcs + k);                     \
    C0 = _mm256_add_epi32(C0, _mm256_madd_epi16(x, w0));   \
    C1 = _mm256_add_epi32(C1, _mm256_madd_epi16(x, w1));
                ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31) ROW(4, c40, c41) ROW(5, c50, c51)
#undef ROW
            }
        }
        const __m256i acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
        for (size_t h = 0; h < 2; h++) {
            const size_t c0 = n0 + 8 * h;
            if (c0 >= nc) break;
            const size_t cn = nc - c0 < 8 ? nc - c0 : 8;
            for (size_t i = 0; i < mr; i++) store_row(acc[i][h], c0, cn, i, y, y_stride, e);
        }
    }
}
