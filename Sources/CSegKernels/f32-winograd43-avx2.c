/* AVX2 transforms of Winograd F(4×4,3×3) (f32-winograd43.c), for machines without AVX-512: the layout of
   f32-winograd43-avx512.c with 8 tiles per vector. The same float operations in the same order as the scalar
   reference (no FMA), so the results are bit-identical. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>

#include "CSegKernels.h"
#include "f32-winograd43.h"

#define SEG_TARGET __attribute__((target("avx2")))

/* Tiles per row segment: bounds the stack buffer of the column pass (6 rows × 4·64 + 8 floats). */
enum { SEGMENT_TILES = 64, BUF_COLS = 4 * SEGMENT_TILES + 8 };

/* Lanes [0, n) set, as the sign-bit mask that maskload/maskstore take. */
static inline SEG_TARGET __m256i tail_mask(size_t n) {
    const int count = n >= 8 ? 8 : (int)n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* seg_winograd43_bt on six vectors. */
static inline SEG_TARGET void bt(const __m256 d[6], __m256 out[6]) {
    const __m256 four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f), two = _mm256_set1_ps(2.0f);
    out[0] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(d[0], four), _mm256_mul_ps(d[2], five)), d[4]);
    out[1] = _mm256_sub_ps(_mm256_add_ps(d[3], d[4]), _mm256_mul_ps(_mm256_add_ps(d[1], d[2]), four));
    out[2] = _mm256_add_ps(_mm256_sub_ps(d[4], d[3]), _mm256_mul_ps(_mm256_sub_ps(d[1], d[2]), four));
    const __m256 e = _mm256_sub_ps(d[4], d[2]), f = _mm256_mul_ps(_mm256_sub_ps(d[3], d[1]), two);
    out[3] = _mm256_add_ps(e, f);
    out[4] = _mm256_sub_ps(e, f);
    out[5] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(d[1], four), _mm256_mul_ps(d[3], five)), d[5]);
}

/* seg_winograd43_at on six vectors. */
static inline SEG_TARGET void at(const __m256 s[6], __m256 out[4]) {
    const __m256 a = _mm256_add_ps(s[1], s[2]), b = _mm256_sub_ps(s[1], s[2]);
    const __m256 c = _mm256_add_ps(s[3], s[4]), d = _mm256_sub_ps(s[3], s[4]);
    out[0] = _mm256_add_ps(_mm256_add_ps(s[0], a), c);
    out[1] = _mm256_add_ps(b, _mm256_mul_ps(d, _mm256_set1_ps(2.0f)));
    out[2] = _mm256_add_ps(a, _mm256_mul_ps(c, _mm256_set1_ps(4.0f)));
    out[3] = _mm256_add_ps(_mm256_add_ps(b, _mm256_mul_ps(d, _mm256_set1_ps(8.0f))), s[5]);
}

SEG_TARGET void seg_f32_winograd43_input__avx2(const float *x, size_t C, size_t H, size_t W, size_t pad,
                                               size_t tilesW, size_t t0, size_t nt, float *v, size_t ldv) {
    const size_t plane = C * ldv;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i rotate = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0);
    float buf[6][BUF_COLS] __attribute__((aligned(32)));
    for (size_t j = 0; j < nt;) {
        const size_t t = t0 + j, ty = t / tilesW, tx = t % tilesW;
        size_t n = tilesW - tx;
        if (n > nt - j) n = nt - j;
        if (n > SEGMENT_TILES) n = SEGMENT_TILES;
        const ptrdiff_t y0 = (ptrdiff_t)(4 * ty) - (ptrdiff_t)pad, xs = (ptrdiff_t)(4 * tx) - (ptrdiff_t)pad;
        const size_t cols = 4 * ((n + 7) / 8 * 8) + 8;   /* what the row pass reads, a multiple of 8 */
        /* Column lanes inside the image (xs + i + lane in [0, W)), per 8-column step: the same for every channel. */
        const __m256i first = _mm256_set1_epi32((int)-xs - 1), end = _mm256_set1_epi32((int)((ptrdiff_t)W - xs));
        for (size_t c = 0; c < C; c++) {
            const float *xc = x + c * H * W;
            /* Column pass: buf[k][i] = (Bᵀ·d)[k] for column xs + i; rows and columns outside the image are 0. */
            for (size_t i = 0; i < cols; i += 8) {
                const __m256i col = _mm256_add_epi32(_mm256_set1_epi32((int)i), lane);
                const __m256i inside = _mm256_and_si256(_mm256_cmpgt_epi32(col, first), _mm256_cmpgt_epi32(end, col));
                __m256 d[6], out[6];
                for (int r = 0; r < 6; r++) {
                    const ptrdiff_t yy = y0 + r;
                    d[r] = (yy >= 0 && yy < (ptrdiff_t)H)
                               ? _mm256_maskload_ps(xc + yy * (ptrdiff_t)W + xs + (ptrdiff_t)i, inside)
                               : _mm256_setzero_ps();
                }
                bt(d, out);
                for (int k = 0; k < 6; k++) _mm256_store_ps(&buf[k][i], out[k]);
            }
            /* Row pass, 8 tiles at a time: tile b + l reads buf[k][4(b + l) .. 4(b + l) + 5]. */
            for (size_t b = 0; b < n; b += 8) {
                const __m256i store = tail_mask(n - b);
                float *o = v + c * ldv + j + b;
                for (int k = 0; k < 6; k++) {
                    const float *p = &buf[k][4 * b];
                    /* Eight 4-float tile rows → q0..q3 (q_m[l] = p[4l + m]): pair 128-bit halves of tiles l and
                       l + 4, then a 4×4 transpose inside each half. */
                    const __m256 pa = _mm256_load_ps(p), pb = _mm256_load_ps(p + 8);
                    const __m256 pc = _mm256_load_ps(p + 16), pd = _mm256_load_ps(p + 24);
                    const __m256 r0 = _mm256_permute2f128_ps(pa, pc, 0x20), r1 = _mm256_permute2f128_ps(pa, pc, 0x31);
                    const __m256 r2 = _mm256_permute2f128_ps(pb, pd, 0x20), r3 = _mm256_permute2f128_ps(pb, pd, 0x31);
                    const __m256 lo01 = _mm256_unpacklo_ps(r0, r1), hi01 = _mm256_unpackhi_ps(r0, r1);
                    const __m256 lo23 = _mm256_unpacklo_ps(r2, r3), hi23 = _mm256_unpackhi_ps(r2, r3);
                    __m256 d[6], out[6];
                    d[0] = _mm256_shuffle_ps(lo01, lo23, 0x44);
                    d[1] = _mm256_shuffle_ps(lo01, lo23, 0xEE);
                    d[2] = _mm256_shuffle_ps(hi01, hi23, 0x44);
                    d[3] = _mm256_shuffle_ps(hi01, hi23, 0xEE);
                    /* q4[l] = q0[l + 1], q5[l] = q1[l + 1]: rotate one lane down, taking p[32], p[33] last. */
                    d[4] = _mm256_blend_ps(_mm256_permutevar8x32_ps(d[0], rotate), _mm256_set1_ps(p[32]), 0x80);
                    d[5] = _mm256_blend_ps(_mm256_permutevar8x32_ps(d[1], rotate), _mm256_set1_ps(p[33]), 0x80);
                    bt(d, out);
                    for (int q = 0; q < 6; q++) _mm256_maskstore_ps(o + (size_t)(k * 6 + q) * plane, store, out[q]);
                }
            }
        }
        j += n;
    }
}

SEG_TARGET void seg_f32_winograd43_output__avx2(const float *m, size_t cout, size_t nt, size_t tilesW, size_t t0,
                                                size_t Ho, size_t Wo, const float *bias, const float *res, int relu,
                                                float *y) {
    const size_t plane = cout * nt;
    const __m256 zero = _mm256_setzero_ps();
    for (size_t j = 0; j < nt;) {
        const size_t t = t0 + j, ty = t / tilesW, tx = t % tilesW;
        size_t n = tilesW - tx;
        if (n > nt - j) n = nt - j;
        const size_t oy = 4 * ty;
        for (size_t o = 0; o < cout; o++) {
            const __m256 bv = _mm256_set1_ps(bias ? bias[o] : 0.0f);
            for (size_t b = 0; b < n; b += 8) {
                const __m256i load = tail_mask(n - b);
                const float *mm = m + o * nt + j + b;
                __m256 t4[4][6];   /* Aᵀ·s, down the columns first */
                for (int q = 0; q < 6; q++) {
                    __m256 col[6], out[4];
                    for (int r = 0; r < 6; r++) col[r] = _mm256_maskload_ps(mm + (size_t)(r * 6 + q) * plane, load);
                    at(col, out);
                    for (int r = 0; r < 4; r++) t4[r][q] = out[r];
                }
                /* Output columns of these tiles: [ox, ox + 4·min(8, n − b)) clipped to Wo. */
                const size_t ox = 4 * (tx + b);
                size_t width = 4 * (n - b < 8 ? n - b : 8);
                if (width > Wo - ox) width = Wo - ox;
                for (int r = 0; r < 4 && oy + r < Ho; r++) {
                    __m256 q[4];
                    at(t4[r], q);
                    /* The inverse of the input kernel's shuffle: q0..q3 (lane = tile) → 32 consecutive outputs. */
                    const __m256 lo01 = _mm256_unpacklo_ps(q[0], q[1]), hi01 = _mm256_unpackhi_ps(q[0], q[1]);
                    const __m256 lo23 = _mm256_unpacklo_ps(q[2], q[3]), hi23 = _mm256_unpackhi_ps(q[2], q[3]);
                    const __m256 r0 = _mm256_shuffle_ps(lo01, lo23, 0x44), r1 = _mm256_shuffle_ps(lo01, lo23, 0xEE);
                    const __m256 r2 = _mm256_shuffle_ps(hi01, hi23, 0x44), r3 = _mm256_shuffle_ps(hi01, hi23, 0xEE);
                    const __m256 z[4] = {_mm256_permute2f128_ps(r0, r1, 0x20), _mm256_permute2f128_ps(r2, r3, 0x20),
                                         _mm256_permute2f128_ps(r0, r1, 0x31), _mm256_permute2f128_ps(r2, r3, 0x31)};
                    const size_t row = (oy + r) * Wo + ox;
                    for (int s = 0; s < 4 && 8 * (size_t)s < width; s++) {
                        const __m256i keep = tail_mask(width - 8 * (size_t)s);
                        const size_t p = row + 8 * (size_t)s;
                        __m256 val = _mm256_add_ps(z[s], bv);
                        if (res) val = _mm256_add_ps(val, _mm256_maskload_ps(res + o * Ho * Wo + p, keep));
                        /* As the scalar `val < 0 ? 0 : val`: keeps −0 and NaN, which max_ps would not. */
                        if (relu) val = _mm256_blendv_ps(val, zero, _mm256_cmp_ps(val, zero, _CMP_LT_OQ));
                        _mm256_maskstore_ps(y + o * Ho * Wo + p, keep, val);
                    }
                }
            }
        }
        j += n;
    }
}
