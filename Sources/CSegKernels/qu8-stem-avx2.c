/* AVX2 parts of the fused first conv: the RGBX row quantizer (8 pixels per step) and the direct 3×3 stride-2
   conv over three quantized rows. As the AVX2 igemm, u8 pixels and s8 weights are widened to s16 and multiplied
   with vpmaddwd (exact: no vpmaddubsw saturation), each accumulator holding two partial sums per channel that
   are folded at the end, and the epilogue is the igemm's u8 one, operation for operation: the bytes equal the
   generic path's. Unlike the igemm on per-tile pointer lists, the conv reads its taps at fixed offsets from the
   row pointers (pixel ox, tap kx at byte 8·ox + 4·kx) and widens the weights once per row, not once per tile. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>
#include <string.h>

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

/* The pixel's four bytes as s16, repeated four times. */
static inline SEG_TARGET __m256i bcast4_u16(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_cvtepu8_epi16(_mm_set1_epi32(v));
}

/* MR output pixels from ox (m of them valid; FULL: m == MR, constant offsets) × NB·8 channels from channel c0.
   wv: the widened weights, [tap][block of 8 channels][2] (channels 0–3, 4–7 of the block). */
static inline __attribute__((always_inline)) SEG_TARGET void tile(const int NB, const int MR, const int FULL,
                                                                   const uint8_t *const rows[3], size_t ox, size_t m,
                                                                   size_t c0, size_t nc, const __m256i *wv,
                                                                   size_t blocks, uint8_t *y, size_t y_stride,
                                                                   const seg_qu8_epilogue *e) {
    __m256i acc[MR][NB][2];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++)
#pragma clang loop unroll(full)
        for (int b = 0; b < NB; b++) acc[i][b][0] = acc[i][b][1] = _mm256_setzero_si256();
    size_t off[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) off[i] = 8 * (FULL || (size_t)i < m ? (size_t)i : m - 1);
    const size_t b0 = c0 / 8;
#pragma clang loop unroll(full)
    for (int ky = 0; ky < 3; ky++) {
#pragma clang loop unroll(full)
        for (int kx = 0; kx < 3; kx++) {
            const uint8_t *row = rows[ky] + 8 * ox + 4 * kx;
            const __m256i *wt = wv + ((size_t)(ky * 3 + kx) * blocks + b0) * 2;
#pragma clang loop unroll(full)
            for (int i = 0; i < MR; i++) {
                const __m256i x = bcast4_u16(row + off[i]);
#pragma clang loop unroll(full)
                for (int b = 0; b < NB; b++) {
                    acc[i][b][0] = _mm256_add_epi32(acc[i][b][0], _mm256_madd_epi16(x, wt[2 * b]));
                    acc[i][b][1] = _mm256_add_epi32(acc[i][b][1], _mm256_madd_epi16(x, wt[2 * b + 1]));
                }
            }
        }
    }
    const __m256 lo = _mm256_set1_ps(e->lo), hi = _mm256_set1_ps(e->hi);
    const __m256i yzp = _mm256_set1_epi32(e->y_zp);
#pragma clang loop unroll(full)
    for (int b = 0; b < NB; b++) {
        const size_t n0 = c0 + (size_t)b * 8;
        if (n0 >= nc) break;
        const size_t cn = nc - n0 < 8 ? nc - n0 : 8;
        const __m256i bias = _mm256_loadu_si256((const __m256i *)(e->bias + n0));
        const __m256 mult = _mm256_loadu_ps(e->mult + n0);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            if (!FULL && (size_t)i >= m) break;
            /* Two partial sums per channel, folded into channel order (as the igemm). */
            const __m256i a = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[i][b][0], acc[i][b][1]), 0xD8);
            __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(a, bias)), mult);
            v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
            const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), yzp);
            const __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
            const __m128i q8 = _mm_packus_epi16(q16, q16);
            uint8_t *dst = y + (ox + (size_t)i) * y_stride + n0;
            if (cn == 8) _mm_storel_epi64((__m128i *)dst, q8);
            else {
                const int64_t t = _mm_cvtsi128_si64(q8);
                memcpy(dst, &t, cn);
            }
        }
    }
}

static inline __attribute__((always_inline)) SEG_TARGET void row_nb(const int NB, const int MR,
                                                                     const uint8_t *const rows[3], size_t ox_begin,
                                                                     size_t ox_end, size_t c0, size_t nc,
                                                                     const __m256i *wv, size_t blocks, uint8_t *y,
                                                                     size_t y_stride, const seg_qu8_epilogue *e) {
    size_t ox = ox_begin;
    for (; ox + MR <= ox_end; ox += MR) tile(NB, MR, 1, rows, ox, MR, c0, nc, wv, blocks, y, y_stride, e);
    if (ox < ox_end) tile(NB, MR, 0, rows, ox, ox_end - ox, c0, nc, wv, blocks, y, y_stride, e);
}

/* pack is ignored: the float-clamp epilogue is the exact one, and on AVX2 the integer twin saves little. */
SEG_TARGET void seg_qu8_stem_row_ukernel__avx2(const uint8_t *const rows[3], size_t ox_begin, size_t ox_end, size_t nc,
                                               const int8_t *w, uint8_t *y, size_t y_stride, const seg_qu8_epilogue *e,
                                               int pack) {
    (void)pack;
    /* The packed weights: per tap, gn channels (nc rounded up to 16, zero-padded) × 4 bytes (R, G, B, pad). */
    const size_t gn = (nc + 15) / 16 * 16, blocks = (nc + 7) / 8;
    __m256i wv[9 * (SEG_QU8_GROUP / 8) * 2];
    for (size_t t = 0; t < 9; t++)
        for (size_t b = 0; b < blocks; b++) {
            const int8_t *src = w + (t * gn + b * 8) * 4;
            wv[(t * blocks + b) * 2] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)src));
            wv[(t * blocks + b) * 2 + 1] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + 16)));
        }
    /* At most 32 channels a pass keeps the accumulators (MR · NB · 2 ≤ 12) in the 16 ymm registers. */
    for (size_t c0 = 0; c0 < nc; c0 += 32) {
        switch ((nc - c0 + 7) / 8) {
        case 1: row_nb(1, 6, rows, ox_begin, ox_end, c0, nc, wv, blocks, y, y_stride, e); break;
        case 2: row_nb(2, 3, rows, ox_begin, ox_end, c0, nc, wv, blocks, y, y_stride, e); break;
        case 3: row_nb(3, 2, rows, ox_begin, ox_end, c0, nc, wv, blocks, y, y_stride, e); break;
        default: row_nb(4, 1, rows, ox_begin, ox_end, c0, nc, wv, blocks, y, y_stride, e); break;
        }
    }
}
