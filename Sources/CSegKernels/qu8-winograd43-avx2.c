/* AVX2 kernels of the int8 Winograd F(4×4,3×3) (contracts in qu8-winograd43.h): the input transform 16
   channels per ymm, a 6-tile × 16-channel vpmaddwd GEMM (int16 pairs → exact int32, the same products as
   vpdpwssd), and the int32 output transform with the dense kernels' float requantization. Without VNNI the
   dense AVX2 conv also runs on int16 vpmaddwd, so here Winograd keeps its whole 4× cut in multiplies. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>
#include <string.h>

#include "qu8-winograd43.h"

#define SEG_TARGET __attribute__((target("avx2,fma")))
#define MR 6

/* Bᵀ·d on int16 lanes (|values| ≤ 25500 throughout). */
static inline SEG_TARGET void bt16(const __m256i d[6], __m256i o[6]) {
    const __m256i d13 = _mm256_sub_epi16(d[3], d[1]), d42 = _mm256_sub_epi16(d[4], d[2]);
    o[0] = _mm256_add_epi16(_mm256_sub_epi16(_mm256_slli_epi16(_mm256_sub_epi16(d[0], d[2]), 2), d[2]), d[4]);
    o[1] = _mm256_sub_epi16(_mm256_add_epi16(d[3], d[4]), _mm256_slli_epi16(_mm256_add_epi16(d[1], d[2]), 2));
    o[2] = _mm256_add_epi16(_mm256_sub_epi16(d[4], d[3]), _mm256_slli_epi16(_mm256_sub_epi16(d[1], d[2]), 2));
    o[3] = _mm256_add_epi16(d42, _mm256_slli_epi16(d13, 1));
    o[4] = _mm256_sub_epi16(d42, _mm256_slli_epi16(d13, 1));
    o[5] = _mm256_add_epi16(_mm256_sub_epi16(_mm256_slli_epi16(_mm256_sub_epi16(d[1], d[3]), 2), d[3]), d[5]);
}

SEG_TARGET void seg_qu8_wino_input__avx2(size_t cin, size_t cin_pad, const uint8_t *const p[36], int16_t *v,
                                         size_t e_stride) {
    for (size_t c = 0; c < cin_pad; c += 16) {
        const size_t left = c < cin ? cin - c : 0;
        __m256i t[6][6];
        for (int q = 0; q < 6; q++) {   /* Bᵀ·d, column by column */
            __m256i col[6], out[6];
            for (int r = 0; r < 6; r++) {
                __m128i b;
                if (left >= 16) b = _mm_loadu_si128((const __m128i *)(p[r * 6 + q] + c));
                else {   /* never read past channel cin */
                    uint8_t tail[16] = {0};
                    memcpy(tail, p[r * 6 + q] + c, left);
                    b = _mm_loadu_si128((const __m128i *)tail);
                }
                col[r] = _mm256_cvtepu8_epi16(b);
            }
            bt16(col, out);
            for (int r = 0; r < 6; r++) t[r][q] = out[r];
        }
        for (int r = 0; r < 6; r++) {   /* (Bᵀ·d)·B */
            __m256i out[6];
            bt16(t[r], out);
            for (int q = 0; q < 6; q++) _mm256_storeu_si256((__m256i *)(v + (size_t)(r * 6 + q) * e_stride + c), out[q]);
        }
    }
}

static inline SEG_TARGET __m256i bcast2(const int16_t *p) {
    int32_t x;
    memcpy(&x, p, 4);
    return _mm256_set1_epi32(x);
}

SEG_TARGET void seg_qu8_wino_gemm_6x16__avx2(size_t mr, size_t nc, size_t kc2, const int16_t *v, size_t v_stride,
                                             const int16_t *u, int32_t *m, size_t m_stride) {
    const size_t gn = (nc + 15) / 16 * 16;
    /* Rows past mr repeat the last one (their sums are computed and dropped). */
    const int16_t *v0 = v, *v1 = v + (mr > 1 ? 1 : mr - 1) * v_stride, *v2 = v + (mr > 2 ? 2 : mr - 1) * v_stride;
    const int16_t *v3 = v + (mr > 3 ? 3 : mr - 1) * v_stride, *v4 = v + (mr > 4 ? 4 : mr - 1) * v_stride;
    const int16_t *v5 = v + (mr > 5 ? 5 : mr - 1) * v_stride;
    for (size_t j = 0; j < gn; j += 16) {
        __m256i acc[MR][2];
        for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
        const int16_t *wt = u + j * 2;
        for (size_t k = 0; k < 2 * kc2; k += 2, wt += gn * 2) {
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)wt), w1 = _mm256_loadu_si256((const __m256i *)(wt + 16));
            __m256i x;
#define ROW(I, P)                                                                    \
    x = bcast2(P + k);                                                               \
    acc[I][0] = _mm256_add_epi32(acc[I][0], _mm256_madd_epi16(x, w0));              \
    acc[I][1] = _mm256_add_epi32(acc[I][1], _mm256_madd_epi16(x, w1));
            ROW(0, v0) ROW(1, v1) ROW(2, v2) ROW(3, v3) ROW(4, v4) ROW(5, v5)
#undef ROW
        }
        for (size_t i = 0; i < mr && i < MR; i++) {
            _mm256_storeu_si256((__m256i *)(m + i * m_stride + j), acc[i][0]);
            _mm256_storeu_si256((__m256i *)(m + i * m_stride + j + 8), acc[i][1]);
        }
    }
}

/* A24ᵀ·s on int32 lanes, modulo 2^32. */
static inline SEG_TARGET void at32(const __m256i s[6], __m256i o[4]) {
    const __m256i a = _mm256_add_epi32(s[1], s[2]), b = _mm256_sub_epi32(s[1], s[2]);
    const __m256i c = _mm256_add_epi32(s[3], s[4]), d = _mm256_sub_epi32(s[3], s[4]);
    const __m256i s0x6 = _mm256_add_epi32(_mm256_slli_epi32(s[0], 2), _mm256_slli_epi32(s[0], 1));
    const __m256i s5x24 = _mm256_add_epi32(_mm256_slli_epi32(s[5], 4), _mm256_slli_epi32(s[5], 3));
    const __m256i b4 = _mm256_slli_epi32(b, 2);
    o[0] = _mm256_add_epi32(_mm256_add_epi32(s0x6, _mm256_slli_epi32(a, 2)), c);
    o[1] = _mm256_add_epi32(b4, _mm256_slli_epi32(d, 1));
    o[2] = _mm256_slli_epi32(_mm256_add_epi32(a, c), 2);
    o[3] = _mm256_add_epi32(_mm256_add_epi32(b4, _mm256_slli_epi32(d, 3)), s5x24);
}

SEG_TARGET void seg_qu8_wino_output__avx2(size_t nc, const int32_t *m, size_t e_stride, const seg_qu8_wino_epilogue *e,
                                          uint8_t *const y[16], const uint8_t *const r[16], int32_t *partial,
                                          int acc_in, int acc_out) {
    const __m256 lo = _mm256_set1_ps(e->lo), hi = _mm256_set1_ps(e->hi), rmult = _mm256_set1_ps(e->r_mult);
    const __m256i yzp = _mm256_set1_epi32(e->y_zp), rzp = _mm256_set1_epi32(e->r_zp);
    const __m256i inv9 = _mm256_set1_epi32((int32_t)SEG_QU8_WINO_INV9);
    /* m rows hold whole 16-channel blocks, so 8-lane loads never leave them; only stores are cut at nc. */
    for (size_t j = 0; j < nc; j += 8) {
        const size_t n = nc - j < 8 ? nc - j : 8;
        __m256i t[4][6];
        for (int q = 0; q < 6; q++) {
            __m256i col[6], out[4];
            for (int k = 0; k < 6; k++) col[k] = _mm256_loadu_si256((const __m256i *)(m + (size_t)(k * 6 + q) * e_stride + j));
            at32(col, out);
            for (int k = 0; k < 4; k++) t[k][q] = out[k];
        }
        int32_t cbuf[8] = {0}, c64buf[8] = {0}, bbuf[8] = {0};
        float mbuf[8] = {0};
        memcpy(cbuf, e->centre + j, n * 4);
        memcpy(c64buf, e->centre64 + j, n * 4);
        memcpy(bbuf, e->bias + j, n * 4);
        memcpy(mbuf, e->mult + j, n * 4);
        const __m256i centre = _mm256_loadu_si256((const __m256i *)cbuf), centre64 = _mm256_loadu_si256((const __m256i *)c64buf);
        const __m256i bias = _mm256_loadu_si256((const __m256i *)bbuf);
        const __m256 mult = _mm256_loadu_ps(mbuf);
        for (int k = 0; k < 4; k++) {
            __m256i out[4];
            at32(t[k], out);
            for (int q = 0; q < 4; q++) {
                uint8_t *yp = y[k * 4 + q];
                if (!yp) continue;
                const __m256i p64 = _mm256_sub_epi32(_mm256_mullo_epi32(out[q], inv9), centre64);
                __m256i acc = _mm256_add_epi32(_mm256_srai_epi32(p64, 6), centre);
                /* partial rows are 64 wide, so whole 8-lane blocks stay inside them */
                int32_t *part = partial + (k * 4 + q) * SEG_QU8_GROUP + j;
                if (acc_in) acc = _mm256_add_epi32(acc, _mm256_loadu_si256((const __m256i *)part));
                if (acc_out) {
                    _mm256_storeu_si256((__m256i *)part, acc);
                    continue;
                }
                __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(acc, bias)), mult);
                if (e->has_r) {
                    uint8_t rb[8] = {0};
                    memcpy(rb, r[k * 4 + q] + j, n);
                    const __m256i rq = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)rb));
                    const __m256 rv = _mm256_cvtepi32_ps(_mm256_sub_epi32(rq, rzp));
                    v = _mm256_add_ps(v, _mm256_mul_ps(rv, rmult));
                }
                v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
                const __m256i qv = _mm256_add_epi32(_mm256_cvtps_epi32(v), yzp);   /* 0…255 after the clamp */
                const __m128i q16 = _mm_packus_epi32(_mm256_castsi256_si128(qv), _mm256_extracti128_si256(qv, 1));
                const __m128i q8 = _mm_packus_epi16(q16, q16);
                if (n == 8) _mm_storel_epi64((__m128i *)(yp + j), q8);
                else {
                    uint8_t ob[16];
                    _mm_storeu_si128((__m128i *)ob, q8);
                    memcpy(yp + j, ob, n);
                }
            }
        }
    }
}
