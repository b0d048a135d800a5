/* AVX-512 micro-kernels of the fused logits upsample + argmax (qu8-upsample-argmax.c): 16 output columns
   per vector, the same fp32 operations in the same order as the scalar reference (no FMA), so the labels
   are bit-identical. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>

#include "qu8-common.h"

#define SEG_TARGET __attribute__((target("avx512f,avx512cd,avx512bw,avx512dq,avx512vl")))

/* h[c][j] = wa[j]·p[c][xa[j]] + wb[j]·p[c][xb[j]] for j < n (n a multiple of 16). A block of 16 columns
   whose taps lie within 32 consecutive inputs (always, when upsampling) takes them from a two-register
   window with vpermt2ps; any other block is gathered. */
SEG_TARGET void seg_qu8_upsample_row_ukernel__avx512(size_t C, const float *p, size_t p_stride, const int32_t *xa,
                                                     const int32_t *xb, const float *wa, const float *wb, size_t n,
                                                     float *h, size_t h_stride) {
    for (size_t j = 0; j < n; j += 16) {
        const __m512i ia = _mm512_loadu_si512((const void *)(xa + j));
        const __m512i ib = _mm512_loadu_si512((const void *)(xb + j));
        const __m512 va = _mm512_loadu_ps(wa + j), vb = _mm512_loadu_ps(wb + j);
        const int32_t b0 = xa[j];
        if (xb[j + 15] - b0 < 32 && xa[j + 15] - b0 < 32) {
            const __m512i base = _mm512_set1_epi32(b0);
            const __m512i ka = _mm512_sub_epi32(ia, base), kb = _mm512_sub_epi32(ib, base);
            const float *r = p + b0;
            float *o = h + j;
            for (size_t c = 0; c < C; c++, r += p_stride, o += h_stride) {
                const __m512 lo = _mm512_loadu_ps(r), hi = _mm512_loadu_ps(r + 16);
                const __m512 a = _mm512_mul_ps(va, _mm512_permutex2var_ps(lo, ka, hi));
                const __m512 b = _mm512_mul_ps(vb, _mm512_permutex2var_ps(lo, kb, hi));
                _mm512_storeu_ps(o, _mm512_add_ps(a, b));
            }
        } else {
            for (size_t c = 0; c < C; c++) {
                const float *r = p + c * p_stride;
                const __m512 a = _mm512_mul_ps(va, _mm512_i32gather_ps(ia, r, 4));
                const __m512 b = _mm512_mul_ps(vb, _mm512_i32gather_ps(ib, r, 4));
                _mm512_storeu_ps(h + c * h_stride + j, _mm512_add_ps(a, b));
            }
        }
    }
}

/* One output row: v = h0·ha[c][j] + h1·hb[c][j], running (best, arg) per column; v > best (ordered, so a
   NaN never wins and ties keep the lower class). Four independent 16-column blocks per pass hide the
   compare → blend latency chain. */
SEG_TARGET void seg_qu8_argmax_row_ukernel__avx512(size_t C, const float *ha, const float *hb, size_t h_stride,
                                                   float h0, float h1, size_t n, uint8_t *labels) {
    const __m512 w0 = _mm512_set1_ps(h0), w1 = _mm512_set1_ps(h1);
    size_t j = 0;
    for (; j + 64 <= n; j += 64) {
        __m512 best[4];
        __m128i arg[4];
#pragma clang loop unroll(full)
        for (int b = 0; b < 4; b++) {
            best[b] = _mm512_add_ps(_mm512_mul_ps(w0, _mm512_loadu_ps(ha + j + 16 * b)),
                                    _mm512_mul_ps(w1, _mm512_loadu_ps(hb + j + 16 * b)));
            arg[b] = _mm_setzero_si128();
        }
        for (size_t c = 1; c < C; c++) {
            const float *pa = ha + c * h_stride + j, *pb = hb + c * h_stride + j;
            const __m128i vc = _mm_set1_epi8((char)c);
#pragma clang loop unroll(full)
            for (int b = 0; b < 4; b++) {
                const __m512 v = _mm512_add_ps(_mm512_mul_ps(w0, _mm512_loadu_ps(pa + 16 * b)),
                                               _mm512_mul_ps(w1, _mm512_loadu_ps(pb + 16 * b)));
                const __mmask16 m = _mm512_cmp_ps_mask(v, best[b], _CMP_GT_OQ);
                best[b] = _mm512_mask_mov_ps(best[b], m, v);
                arg[b] = _mm_mask_mov_epi8(arg[b], m, vc);
            }
        }
#pragma clang loop unroll(full)
        for (int b = 0; b < 4; b++) _mm_storeu_si128((__m128i *)(labels + j + 16 * b), arg[b]);
    }
    for (; j < n; j += 16) {
        const __mmask16 keep = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        /* ha/hb rows hold whole 16-column blocks, so the loads need no mask. */
        __m512 best = _mm512_add_ps(_mm512_mul_ps(w0, _mm512_loadu_ps(ha + j)), _mm512_mul_ps(w1, _mm512_loadu_ps(hb + j)));
        __m128i arg = _mm_setzero_si128();
        for (size_t c = 1; c < C; c++) {
            const __m512 v = _mm512_add_ps(_mm512_mul_ps(w0, _mm512_loadu_ps(ha + c * h_stride + j)),
                                           _mm512_mul_ps(w1, _mm512_loadu_ps(hb + c * h_stride + j)));
            const __mmask16 m = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
            best = _mm512_mask_mov_ps(best, m, v);
            arg = _mm_mask_mov_epi8(arg, m, _mm_set1_epi8((char)c));
        }
        _mm_mask_storeu_epi8(labels + j, keep, arg);
    }
}
