/* AVX-512 transforms of Winograd F(4×4,3×3) (f32-winograd43.c): one lane per tile, 16 horizontally adjacent
   tiles per vector, so the transformed values land in v[e][c][j..j+16] with one plain store each. The same
   float operations in the same order as the scalar reference (no FMA), so the results are bit-identical. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>

#include "CSegKernels.h"
#include "f32-winograd43.h"

#define SEG_TARGET __attribute__((target("avx512f,avx512cd,avx512bw,avx512dq,avx512vl")))

/* Tiles per row segment: bounds the stack buffer of the column pass (6 rows × 4·64 + 16 floats). */
enum { SEGMENT_TILES = 64, BUF_COLS = 4 * SEGMENT_TILES + 16 };

static inline SEG_TARGET __mmask16 tail_mask(size_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* seg_winograd43_bt on six vectors. */
static inline SEG_TARGET void bt(const __m512 d[6], __m512 out[6]) {
    const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f);
    out[0] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(d[0], four), _mm512_mul_ps(d[2], five)), d[4]);
    out[1] = _mm512_sub_ps(_mm512_add_ps(d[3], d[4]), _mm512_mul_ps(_mm512_add_ps(d[1], d[2]), four));
    out[2] = _mm512_add_ps(_mm512_sub_ps(d[4], d[3]), _mm512_mul_ps(_mm512_sub_ps(d[1], d[2]), four));
    const __m512 e = _mm512_sub_ps(d[4], d[2]), f = _mm512_mul_ps(_mm512_sub_ps(d[3], d[1]), two);
    out[3] = _mm512_add_ps(e, f);
    out[4] = _mm512_sub_ps(e, f);
    out[5] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(d[1], four), _mm512_mul_ps(d[3], five)), d[5]);
}

/* seg_winograd43_at on six vectors. */
static inline SEG_TARGET void at(const __m512 s[6], __m512 out[4]) {
    const __m512 a = _mm512_add_ps(s[1], s[2]), b = _mm512_sub_ps(s[1], s[2]);
    const __m512 c = _mm512_add_ps(s[3], s[4]), d = _mm512_sub_ps(s[3], s[4]);
    out[0] = _mm512_add_ps(_mm512_add_ps(s[0], a), c);
    out[1] = _mm512_add_ps(b, _mm512_mul_ps(d, _mm512_set1_ps(2.0f)));
    out[2] = _mm512_add_ps(a, _mm512_mul_ps(c, _mm512_set1_ps(4.0f)));
    out[3] = _mm512_add_ps(_mm512_add_ps(b, _mm512_mul_ps(d, _mm512_set1_ps(8.0f))), s[5]);
}

SEG_TARGET void seg_f32_winograd43_input__avx512(const float *x, size_t C, size_t H, size_t W, size_t pad,
                                                 size_t tilesW, size_t t0, size_t nt, float *v, size_t ldv) {
    const size_t plane = C * ldv;
    /* Stride-4 deinterleave of 64 consecutive floats a|b|c|d into q0..q3 (q_k[j] = p[4j + k]): two rounds
       of two-source permutes. */
    const __m512i even = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 2, 6, 10, 14, 18, 22, 26, 30);
    const __m512i odd = _mm512_setr_epi32(1, 5, 9, 13, 17, 21, 25, 29, 3, 7, 11, 15, 19, 23, 27, 31);
    const __m512i low = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i high = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    float buf[6][BUF_COLS] __attribute__((aligned(64)));
    for (size_t j = 0; j < nt;) {
        const size_t t = t0 + j, ty = t / tilesW, tx = t % tilesW;
        size_t n = tilesW - tx;
        if (n > nt - j) n = nt - j;
        if (n > SEGMENT_TILES) n = SEGMENT_TILES;
        const ptrdiff_t y0 = (ptrdiff_t)(4 * ty) - (ptrdiff_t)pad, xs = (ptrdiff_t)(4 * tx) - (ptrdiff_t)pad;
        const size_t cols = 4 * ((n + 15) / 16 * 16) + 16;   /* what the row pass reads, a multiple of 16 */
        /* Column lanes inside the image, per 16-column step: the same for every channel. */
        const __m512i lo = _mm512_set1_epi32((int)-xs), hi = _mm512_set1_epi32((int)((ptrdiff_t)W - xs));
        for (size_t c = 0; c < C; c++) {
            const float *xc = x + c * H * W;
            /* Column pass: buf[k][i] = (Bᵀ·d)[k] for column xs + i; rows and columns outside the image are 0. */
            for (size_t i = 0; i < cols; i += 16) {
                const __m512i col = _mm512_add_epi32(_mm512_set1_epi32((int)i), lane);
                const __mmask16 inside = _mm512_cmpge_epi32_mask(col, lo) & _mm512_cmplt_epi32_mask(col, hi);
                __m512 d[6], out[6];
                for (int r = 0; r < 6; r++) {
                    const ptrdiff_t yy = y0 + r;
                    d[r] = (yy >= 0 && yy < (ptrdiff_t)H && inside)
                               ? _mm512_maskz_loadu_ps(inside, xc + yy * (ptrdiff_t)W + xs + (ptrdiff_t)i)
                               : _mm512_setzero_ps();
                }
                bt(d, out);
                for (int k = 0; k < 6; k++) _mm512_store_ps(&buf[k][i], out[k]);
            }
            /* Row pass, 16 tiles at a time. */
            for (size_t b = 0; b < n; b += 16) {
                const __mmask16 store = tail_mask(n - b);
                float *o = v + c * ldv + j + b;
                for (int k = 0; k < 6; k++) {
                    const float *p = &buf[k][4 * b];
                    const __m512 pa = _mm512_load_ps(p), pb = _mm512_load_ps(p + 16);
                    const __m512 pc = _mm512_load_ps(p + 32), pd = _mm512_load_ps(p + 48);
                    const __m512 ab02 = _mm512_permutex2var_ps(pa, even, pb), ab13 = _mm512_permutex2var_ps(pa, odd, pb);
                    const __m512 cd02 = _mm512_permutex2var_ps(pc, even, pd), cd13 = _mm512_permutex2var_ps(pc, odd, pd);
                    __m512 d[6], out[6];
                    d[0] = _mm512_permutex2var_ps(ab02, low, cd02);
                    d[2] = _mm512_permutex2var_ps(ab02, high, cd02);
                    d[1] = _mm512_permutex2var_ps(ab13, low, cd13);
                    d[3] = _mm512_permutex2var_ps(ab13, high, cd13);
                    /* q4[j] = q0[j + 1], q5[j] = q1[j + 1]: shift one lane in, taking p[64], p[65] last. */
                    d[4] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(p[64])),
                                                                   _mm512_castps_si512(d[0]), 1));
                    d[5] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(p[65])),
                                                                   _mm512_castps_si512(d[1]), 1));
                    bt(d, out);
                    for (int q = 0; q < 6; q++) _mm512_mask_storeu_ps(o + (size_t)(k * 6 + q) * plane, store, out[q]);
                }
            }
        }
        j += n;
    }
}

SEG_TARGET void seg_f32_winograd43_output__avx512(const float *m, size_t cout, size_t nt, size_t tilesW, size_t t0,
                                                  size_t Ho, size_t Wo, const float *bias, const float *res, int relu,
                                                  float *y) {
    const size_t plane = cout * nt;
    /* Interleave q0..q3 (lane = tile) back into 64 consecutive outputs: pairs first, then pairs of pairs. */
    const __m512i pair_lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i pair_hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i quad_lo = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i quad_hi = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    const __m512 zero = _mm512_setzero_ps();
    for (size_t j = 0; j < nt;) {
        const size_t t = t0 + j, ty = t / tilesW, tx = t % tilesW;
        size_t n = tilesW - tx;
        if (n > nt - j) n = nt - j;
        const size_t oy = 4 * ty;
        for (size_t o = 0; o < cout; o++) {
            const __m512 bv = _mm512_set1_ps(bias ? bias[o] : 0.0f);
            for (size_t b = 0; b < n; b += 16) {
                const __mmask16 load = tail_mask(n - b);
                const float *mm = m + o * nt + j + b;
                __m512 t4[4][6];   /* Aᵀ·s, down the columns first */
                for (int q = 0; q < 6; q++) {
                    __m512 col[6], out[4];
                    for (int r = 0; r < 6; r++) col[r] = _mm512_maskz_loadu_ps(load, mm + (size_t)(r * 6 + q) * plane);
                    at(col, out);
                    for (int r = 0; r < 4; r++) t4[r][q] = out[r];
                }
                /* Output columns of these tiles: [ox, ox + 4·min(16, n − b)) clipped to Wo. */
                const size_t ox = 4 * (tx + b);
                size_t width = 4 * (n - b < 16 ? n - b : 16);
                if (width > Wo - ox) width = Wo - ox;
                for (int r = 0; r < 4 && oy + r < Ho; r++) {
                    __m512 q[4];
                    at(t4[r], q);
                    const __m512 l01 = _mm512_permutex2var_ps(q[0], pair_lo, q[1]);
                    const __m512 h01 = _mm512_permutex2var_ps(q[0], pair_hi, q[1]);
                    const __m512 l23 = _mm512_permutex2var_ps(q[2], pair_lo, q[3]);
                    const __m512 h23 = _mm512_permutex2var_ps(q[2], pair_hi, q[3]);
                    const __m512 z[4] = {_mm512_permutex2var_ps(l01, quad_lo, l23),
                                         _mm512_permutex2var_ps(l01, quad_hi, l23),
                                         _mm512_permutex2var_ps(h01, quad_lo, h23),
                                         _mm512_permutex2var_ps(h01, quad_hi, h23)};
                    const size_t row = (oy + r) * Wo + ox;
                    for (int s = 0; s < 4 && 16 * (size_t)s < width; s++) {
                        const __mmask16 keep = tail_mask(width - 16 * (size_t)s);
                        const size_t p = row + 16 * (size_t)s;
                        __m512 val = _mm512_add_ps(z[s], bv);
                        if (res) val = _mm512_add_ps(val, _mm512_maskz_loadu_ps(keep, res + o * Ho * Wo + p));
                        /* As the scalar `val < 0 ? 0 : val`: keeps −0 and NaN, which max_ps would not. */
                        if (relu) val = _mm512_mask_mov_ps(val, _mm512_cmp_ps_mask(val, zero, _CMP_LT_OQ), zero);
                        _mm512_mask_storeu_ps(y + o * Ho * Wo + p, keep, val);
                    }
                }
            }
        }
        j += n;
    }
}
