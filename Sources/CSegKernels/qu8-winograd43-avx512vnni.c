/* AVX-512 VNNI kernels of the int8 Winograd F(4×4,3×3) (contracts in qu8-winograd43.h): int16 input
   transform 32 channels at a time, a 6-tile × 64-channel vpdpwssd GEMM (24 zmm accumulators, as the dense
   6x64c4 kernel), and an int32 output transform with the dense kernels' float requantization. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>
#include <string.h>

#include "qu8-winograd43.h"

#define SEG_TARGET __attribute__((target("avx512f,avx512cd,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define MR 6

/* Bᵀ·d on int16 lanes (|values| ≤ 25500 throughout, so nothing wraps). */
static inline SEG_TARGET void bt16(const __m512i d[6], __m512i o[6]) {
    const __m512i d13 = _mm512_sub_epi16(d[3], d[1]), d42 = _mm512_sub_epi16(d[4], d[2]);
    o[0] = _mm512_add_epi16(_mm512_sub_epi16(_mm512_slli_epi16(_mm512_sub_epi16(d[0], d[2]), 2), d[2]), d[4]);
    o[1] = _mm512_sub_epi16(_mm512_add_epi16(d[3], d[4]), _mm512_slli_epi16(_mm512_add_epi16(d[1], d[2]), 2));
    o[2] = _mm512_add_epi16(_mm512_sub_epi16(d[4], d[3]), _mm512_slli_epi16(_mm512_sub_epi16(d[1], d[2]), 2));
    o[3] = _mm512_add_epi16(d42, _mm512_slli_epi16(d13, 1));
    o[4] = _mm512_sub_epi16(d42, _mm512_slli_epi16(d13, 1));
    o[5] = _mm512_add_epi16(_mm512_sub_epi16(_mm512_slli_epi16(_mm512_sub_epi16(d[1], d[3]), 2), d[3]), d[5]);
}

SEG_TARGET void seg_qu8_wino_input__avx512vnni(size_t cin, size_t cin_pad, const uint8_t *const p[36], int16_t *v,
                                               size_t e_stride) {
    for (size_t c = 0; c < cin_pad; c += SEG_QU8_WINO_CBLOCK) {
        const size_t left = cin - c;
        const __mmask32 mask = left >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << left) - 1);
        __m512i t[6][6];
        for (int q = 0; q < 6; q++) {   /* Bᵀ·d, column by column */
            __m512i col[6], out[6];
            for (int r = 0; r < 6; r++) col[r] = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(mask, p[r * 6 + q] + c));
            bt16(col, out);
            for (int r = 0; r < 6; r++) t[r][q] = out[r];
        }
        for (int r = 0; r < 6; r++) {   /* (Bᵀ·d)·B */
            __m512i out[6];
            bt16(t[r], out);
            for (int q = 0; q < 6; q++) _mm512_storeu_si512((void *)(v + (size_t)(r * 6 + q) * e_stride + c), out[q]);
        }
    }
}

static inline SEG_TARGET __m512i bcast2(const int16_t *p) {
    int32_t x;
    memcpy(&x, p, 4);
    return _mm512_set1_epi32(x);
}

static inline __attribute__((always_inline)) SEG_TARGET void gemm_nb(const int NB, size_t mr, size_t kc2,
                                                                     const int16_t *v, size_t v_stride,
                                                                     const int16_t *u, int32_t *m, size_t m_stride) {
    __m512i acc[MR][4];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++)
#pragma clang loop unroll(full)
        for (int b = 0; b < 4; b++) acc[i][b] = _mm512_setzero_si512();
    /* Rows past mr repeat the last one (their sums are computed and dropped). */
    const int16_t *v0 = v, *v1 = v + (mr > 1 ? 1 : mr - 1) * v_stride, *v2 = v + (mr > 2 ? 2 : mr - 1) * v_stride;
    const int16_t *v3 = v + (mr > 3 ? 3 : mr - 1) * v_stride, *v4 = v + (mr > 4 ? 4 : mr - 1) * v_stride;
    const int16_t *v5 = v + (mr > 5 ? 5 : mr - 1) * v_stride;
    const int16_t *wt = u;
    for (size_t k = 0; k < 2 * kc2; k += 2) {
        __m512i wv[4];
#pragma clang loop unroll(full)
        for (int b = 0; b < NB; b++) wv[b] = _mm512_loadu_si512((const void *)(wt + b * 32));
        wt += NB * 32;
        __m512i x;
#define ROW(I, P)                                                                                                   \
    x = bcast2(P + k);                                                                                              \
    _Pragma("clang loop unroll(full)") for (int b = 0; b < NB; b++) acc[I][b] = _mm512_dpwssd_epi32(acc[I][b], x, wv[b]);
        ROW(0, v0) ROW(1, v1) ROW(2, v2) ROW(3, v3) ROW(4, v4) ROW(5, v5)
#undef ROW
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
        if ((size_t)i >= mr) break;
#pragma clang loop unroll(full)
        for (int b = 0; b < NB; b++) _mm512_storeu_si512((void *)(m + i * m_stride + b * 16), acc[i][b]);
    }
}

SEG_TARGET void seg_qu8_wino_gemm_6x64__avx512vnni(size_t mr, size_t nc, size_t kc2, const int16_t *v,
                                                   size_t v_stride, const int16_t *u, int32_t *m, size_t m_stride) {
    switch ((nc + 15) / 16) {
    case 4: gemm_nb(4, mr, kc2, v, v_stride, u, m, m_stride); break;
    case 3: gemm_nb(3, mr, kc2, v, v_stride, u, m, m_stride); break;
    case 2: gemm_nb(2, mr, kc2, v, v_stride, u, m, m_stride); break;
    default: gemm_nb(1, mr, kc2, v, v_stride, u, m, m_stride); break;
    }
}

/* A24ᵀ·s on int32 lanes, modulo 2^32 (qu8_wino_at in qu8-winograd43.c). */
static inline SEG_TARGET void at32(const __m512i s[6], __m512i o[4]) {
    const __m512i a = _mm512_add_epi32(s[1], s[2]), b = _mm512_sub_epi32(s[1], s[2]);
    const __m512i c = _mm512_add_epi32(s[3], s[4]), d = _mm512_sub_epi32(s[3], s[4]);
    const __m512i s0x6 = _mm512_add_epi32(_mm512_slli_epi32(s[0], 2), _mm512_slli_epi32(s[0], 1));
    const __m512i s5x24 = _mm512_add_epi32(_mm512_slli_epi32(s[5], 4), _mm512_slli_epi32(s[5], 3));
    const __m512i b4 = _mm512_slli_epi32(b, 2);
    o[0] = _mm512_add_epi32(_mm512_add_epi32(s0x6, _mm512_slli_epi32(a, 2)), c);
    o[1] = _mm512_add_epi32(b4, _mm512_slli_epi32(d, 1));
    o[2] = _mm512_slli_epi32(_mm512_add_epi32(a, c), 2);
    o[3] = _mm512_add_epi32(_mm512_add_epi32(b4, _mm512_slli_epi32(d, 3)), s5x24);
}

SEG_TARGET void seg_qu8_wino_output__avx512vnni(size_t nc, const int32_t *m, size_t e_stride,
                                                const seg_qu8_wino_epilogue *e, uint8_t *const y[16],
                                                const uint8_t *const r[16], int32_t *partial, int acc_in,
                                                int acc_out) {
    const __m512 lo = _mm512_set1_ps(e->lo), hi = _mm512_set1_ps(e->hi), rmult = _mm512_set1_ps(e->r_mult);
    const __m512i yzp = _mm512_set1_epi32(e->y_zp), rzp = _mm512_set1_epi32(e->r_zp);
    const __m512i inv9 = _mm512_set1_epi32((int32_t)SEG_QU8_WINO_INV9);
    for (size_t j = 0; j < nc; j += 16) {
        const size_t left = nc - j;
        const __mmask16 mask = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        __m512i t[4][6];
        for (int q = 0; q < 6; q++) {   /* A24ᵀ·M, column by column */
            __m512i col[6], out[4];
            for (int k = 0; k < 6; k++) col[k] = _mm512_loadu_si512((const void *)(m + (size_t)(k * 6 + q) * e_stride + j));
            at32(col, out);
            for (int k = 0; k < 4; k++) t[k][q] = out[k];
        }
        const __m512i centre = _mm512_maskz_loadu_epi32(mask, e->centre + j);
        const __m512i centre64 = _mm512_maskz_loadu_epi32(mask, e->centre64 + j);
        const __m512i bias = _mm512_maskz_loadu_epi32(mask, e->bias + j);
        const __m512 mult = _mm512_maskz_loadu_ps(mask, e->mult + j);
        for (int k = 0; k < 4; k++) {
            __m512i out[4];
            at32(t[k], out);
            for (int q = 0; q < 4; q++) {
                uint8_t *yp = y[k * 4 + q];
                if (!yp) continue;
                const __m512i p64 = _mm512_sub_epi32(_mm512_mullo_epi32(out[q], inv9), centre64);
                __m512i acc = _mm512_add_epi32(_mm512_srai_epi32(p64, 6), centre);
                int32_t *part = partial + (k * 4 + q) * SEG_QU8_GROUP + j;
                if (acc_in) acc = _mm512_add_epi32(acc, _mm512_maskz_loadu_epi32(mask, part));
                if (acc_out) {
                    _mm512_mask_storeu_epi32(part, mask, acc);
                    continue;
                }
                __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc, bias)), mult);
                if (e->has_r) {
                    const __m128i rq = _mm_maskz_loadu_epi8(mask, r[k * 4 + q] + j);
                    const __m512 rv = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(rq), rzp));
                    v = _mm512_add_ps(v, _mm512_mul_ps(rv, rmult));
                }
                v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
                const __m512i qv = _mm512_add_epi32(_mm512_cvtps_epi32(v), yzp);
                _mm512_mask_cvtepi32_storeu_epi8(yp + j, mask, qv);
            }
        }
    }
}
