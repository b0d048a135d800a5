/* AVX-512 parts of the fused first conv: the RGBX row quantizer (16 pixels per step) and the direct 3×3
   stride-2 conv over three quantized rows. The conv reads its taps at fixed offsets from the row pointers
   (pixel ox, tap kx at byte 8·ox + 4·kx), so it needs no pointer lists; the 12 pixels × 32 channels tile (or
   6 × 64) keeps 24 zmm accumulators, which start at the bias. The epilogue is the igemm's u8 one, operation
   for operation, so the output is bit-identical to the generic path; or, where the caller has proved
   |v| < 2^30 for every output (pack = 1; 32 or 64 channels), its integer twin: round, add the zero point,
   saturate with vpackssdw/vpackuswb and clamp to [y_min, y_max] in u8, which gives the same bytes because
   the clamp bounds are integers and rounding is monotone. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>
#include <string.h>

#include "qu8-stem.h"

#define SEG_TARGET __attribute__((target("avx512f,avx512cd,avx512bw,avx512dq,avx512vl,avx512vnni")))

/* seg_qu8_quantize_scalar on 16 lanes: max_ps(0, t) and min_ps(255, t) keep Swift's operand order. */
static inline SEG_TARGET __m512i quantize16(__m512 v, __m512 inv, __m512 zp) {
    __m512 t = _mm512_add_ps(_mm512_mul_ps(v, inv), zp);
    t = _mm512_max_ps(_mm512_setzero_ps(), t);
    t = _mm512_min_ps(_mm512_set1_ps(255.0f), t);
    t = _mm512_add_ps(t, _mm512_set1_ps(12582912.0f));
    return _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B400000));
}

SEG_TARGET void seg_qu8_rgbx_row__avx512(const float *r, const float *g, const float *b, size_t n, float inv,
                                         float zp, uint32_t pad, uint32_t *dst) {
    const __m512 vinv = _mm512_set1_ps(inv), vzp = _mm512_set1_ps(zp);
    const __m512i vpad = _mm512_set1_epi32((int32_t)pad);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i qr = quantize16(_mm512_loadu_ps(r + i), vinv, vzp);
        const __m512i qg = quantize16(_mm512_loadu_ps(g + i), vinv, vzp);
        const __m512i qb = quantize16(_mm512_loadu_ps(b + i), vinv, vzp);
        const __m512i px = _mm512_or_si512(_mm512_or_si512(qr, _mm512_slli_epi32(qg, 8)),
                                           _mm512_or_si512(_mm512_slli_epi32(qb, 16), vpad));
        _mm512_storeu_si512((void *)(dst + i), px);
    }
    seg_qu8_rgbx_row__scalar(r + i, g + i, b + i, n - i, inv, zp, pad, dst + i);
}

static inline SEG_TARGET __m512i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* MR output pixels from ox (m of them valid; FULL: m == MR, constant offsets) × NB·16 channels. */
static inline __attribute__((always_inline)) SEG_TARGET void tile(const int NB, const int MR, const int FULL,
                                                                   const int PACK, const uint8_t *const rows[3],
                                                                   size_t ox, size_t m, size_t nc, const int8_t *w,
                                                                   uint8_t *y, size_t y_stride,
                                                                   const seg_qu8_epilogue *e) {
    __m512i acc[MR][NB];
#pragma clang loop unroll(full)
    for (int b = 0; b < NB; b++) {
        const __m512i bias = _mm512_loadu_si512(e->bias + b * 16);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) acc[i][b] = bias;
    }
    size_t off[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) off[i] = 8 * (FULL || (size_t)i < m ? (size_t)i : m - 1);
#pragma clang loop unroll(full)
    for (int ky = 0; ky < 3; ky++) {
        const uint8_t *row = rows[ky] + 8 * ox;
#pragma clang loop unroll(full)
        for (int kx = 0; kx < 3; kx++) {
            const int8_t *wt = w + (ky * 3 + kx) * NB * 64;
            __m512i wv[NB];
#pragma clang loop unroll(full)
            for (int b = 0; b < NB; b++) wv[b] = _mm512_load_si512((const void *)(wt + b * 64));
#pragma clang loop unroll(full)
            for (int i = 0; i < MR; i++) {
                const __m512i x = bcast4(row + off[i] + 4 * kx);
#pragma clang loop unroll(full)
                for (int b = 0; b < NB; b++) acc[i][b] = _mm512_dpbusd_epi32(acc[i][b], x, wv[b]);
            }
        }
    }
    const __m512 lo = _mm512_set1_ps(e->lo), hi = _mm512_set1_ps(e->hi);
    const __m512i yzp = _mm512_set1_epi32(e->y_zp);
    if (PACK) {
        /* Four vectors of 16 int32 → 64 bytes: after the in-lane packs, dword 4l + d holds channels 4l … 4l+3 of
           vector d; the permutation puts vector d's 16 bytes at 16·d. NB = 4: one pixel; NB = 2: two pixels. */
        const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        const __m512i ymin = _mm512_set1_epi8((char)(e->y_zp + (int32_t)e->lo));
        const __m512i ymax = _mm512_set1_epi8((char)(e->y_zp + (int32_t)e->hi));
        __m512 mult[NB];
#pragma clang loop unroll(full)
        for (int b = 0; b < NB; b++) mult[b] = _mm512_loadu_ps(e->mult + b * 16);
        const __mmask64 m64 = nc >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << nc) - 1);
        const __mmask32 m32 = nc >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << nc) - 1);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i += 4 / NB) {
            if (!FULL && (size_t)i >= m) break;
            __m512i q[4];
#pragma clang loop unroll(full)
            for (int v = 0; v < 4; v++) {
                const int ii = i + v / NB, b = v % NB;
                q[v] = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_cvtepi32_ps(acc[ii][b]), mult[b])), yzp);
            }
            __m512i u = _mm512_packus_epi16(_mm512_packs_epi32(q[0], q[1]), _mm512_packs_epi32(q[2], q[3]));
            u = _mm512_min_epu8(_mm512_max_epu8(_mm512_permutexvar_epi32(order, u), ymin), ymax);
            if (NB == 4) {
                _mm512_mask_storeu_epi8(y + (ox + (size_t)i) * y_stride, m64, u);
            } else {
                _mm256_mask_storeu_epi8(y + (ox + (size_t)i) * y_stride, m32, _mm512_castsi512_si256(u));
                if (FULL || (size_t)i + 1 < m)
                    _mm256_mask_storeu_epi8(y + (ox + (size_t)i + 1) * y_stride, m32, _mm512_extracti64x4_epi64(u, 1));
            }
        }
        return;
    }
    __m512 mult[NB];
    __mmask16 mask[NB];
#pragma clang loop unroll(full)
    for (int b = 0; b < NB; b++) {
        mult[b] = _mm512_loadu_ps(e->mult + b * 16);
        const size_t left = nc - (size_t)b * 16;
        mask[b] = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
        if (!FULL && (size_t)i >= m) break;
#pragma clang loop unroll(full)
        for (int b = 0; b < NB; b++) {
            __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[i][b]), mult[b]);
            v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), yzp);
            _mm512_mask_cvtepi32_storeu_epi8(y + (ox + (size_t)i) * y_stride + b * 16, mask[b], q);
        }
    }
}

static inline __attribute__((always_inline)) SEG_TARGET void row_nb(const int NB, const int MR, const int PACK,
                                                                     const uint8_t *const rows[3], size_t ox_begin,
                                                                     size_t ox_end, size_t nc, const int8_t *w,
                                                                     uint8_t *y, size_t y_stride,
                                                                     const seg_qu8_epilogue *e) {
    size_t ox = ox_begin;
    for (; ox + MR <= ox_end; ox += MR) tile(NB, MR, 1, PACK, rows, ox, MR, nc, w, y, y_stride, e);
    if (ox < ox_end) tile(NB, MR, 0, PACK, rows, ox, ox_end - ox, nc, w, y, y_stride, e);
}

SEG_TARGET void seg_qu8_stem_row_ukernel__avx512vnni(const uint8_t *const rows[3], size_t ox_begin, size_t ox_end,
                                                     size_t nc, const int8_t *w, uint8_t *y, size_t y_stride,
                                                     const seg_qu8_epilogue *e, int pack) {
    switch ((nc + 15) / 16) {
    case 4:
        if (pack) row_nb(4, 6, 1, rows, ox_begin, ox_end, nc, w, y, y_stride, e);
        else row_nb(4, 6, 0, rows, ox_begin, ox_end, nc, w, y, y_stride, e);
        break;
    case 3: row_nb(3, 8, 0, rows, ox_begin, ox_end, nc, w, y, y_stride, e); break;
    case 2:
        if (pack) row_nb(2, 12, 1, rows, ox_begin, ox_end, nc, w, y, y_stride, e);
        else row_nb(2, 12, 0, rows, ox_begin, ox_end, nc, w, y, y_stride, e);
        break;
    default: row_nb(1, 12, 0, rows, ox_begin, ox_end, nc, w, y, y_stride, e); break;
    }
}
