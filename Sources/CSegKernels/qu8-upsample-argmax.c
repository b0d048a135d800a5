/* The int8 engine's output stage: bilinear upsample of the classifier's fp32 NHWC logits fused with the
   class argmax (seg_qu8_upsample_argmax in CSegKernels.h). Driver, tables and the scalar reference
   micro-kernels; the per-ISA files only vectorise the two micro-kernels over output columns.

   Arithmetic (identical to seg_f32_bilinear_argmax_u8 on the CHW transpose, so labels are bit-identical
   to the previous int8 output path and to the fp32 engine's upsample of the same logits):
     H_y[c][j] = wa[j]·x[y][xa[j]][c] + wb[j]·x[y][xb[j]][c]          (horizontal pass, per input row y)
     v[c]      = h0·H_ya[c][j] + h1·H_yb[c][j]                        (vertical pass, per output row i)
     label     = the first c with the largest v (ties go to the lower class; a NaN never wins)
   Each product and sum rounds to fp32 on its own (no FMA: FP_CONTRACT OFF here and in the SIMD files),
   which is exactly the order seg_f32_bilinear_argmax_u8 evaluates h0·(wa·a + wb·b) + h1·(wa·c + wb·d).
   H_y does not depend on the output row, so it is computed once per input row (two rows cached)
   instead of once per output row, and the per-row pass is a plain planar SIMD loop. */
#pragma STDC FP_CONTRACT OFF
#include <stdint.h>
#include <string.h>

#include "bilinear-index.h"
#include "qu8-common.h"

static size_t up16(size_t n) { return (n + 15) / 16 * 16; }

/* Scratch layout, every part 64-byte aligned relative to the (64-byte aligned) base:
   xa, xb: int32[wo16]; wa, wb: float[wo16]; p: float[C][wi16 + 32]; h: 2 × float[C][wo16]. */
size_t seg_qu8_upsample_argmax_scratch_bytes(size_t C, size_t Wi, size_t Wo) {
    const size_t wo16 = up16(Wo);
    return 4 * (4 * wo16 + C * (up16(Wi) + 32) + 2 * C * wo16) + 64;
}

void seg_qu8_upsample_argmax_isa(seg_isa isa, const float *x, size_t C, size_t x_stride, size_t Hi, size_t Wi,
                                 uint8_t *labels, size_t Ho, size_t Wo, int align_corners, size_t row_begin,
                                 size_t row_end, void *scratch) {
    if (row_end > Ho) row_end = Ho;
    if (row_begin >= row_end || Wo == 0 || C == 0) return;
    const seg_qu8_ukernels *uk = seg_qu8_ukernels_get(isa);
    const size_t wo16 = up16(Wo), pstride = up16(Wi) + 32;
    char *base = (char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    int32_t *xa = (int32_t *)base, *xb = xa + wo16;
    float *wa = (float *)(xb + wo16), *wb = wa + wo16;
    float *p = wb + wo16;
    float *h[2] = {p + C * pstride, p + C * pstride + C * wo16};
    long tag[2] = {-1, -1};

    for (size_t j = 0; j < wo16; j++) {
        size_t a0, a1;
        float l;
        source_index(j < Wo ? j : Wo - 1, Wi, Wo, align_corners, &a0, &a1, &l);
        xa[j] = (int32_t)a0;
        xb[j] = (int32_t)a1;
        wa[j] = j < Wo ? 1.0f - l : 0.0f;   /* padding columns: finite, never stored */
        wb[j] = j < Wo ? l : 0.0f;
    }
    /* The transpose's padding columns are read (not used) by the permute-window kernels: keep them
       initialised so no uninitialised (possibly signalling-NaN) bits are ever loaded. */
    for (size_t c = 0; c < C; c++) memset(p + c * pstride + Wi, 0, (pstride - Wi) * sizeof(float));

    for (size_t i = row_begin; i < row_end; i++) {
        size_t ya, yb;
        float l;
        source_index(i, Hi, Ho, align_corners, &ya, &yb, &l);
        const float h0 = 1.0f - l, h1 = l;
        int sa = -1, sb = -1;
        for (int s = 0; s < 2; s++) {
            if (tag[s] == (long)ya) sa = s;
            if (tag[s] == (long)yb) sb = s;
        }
        /* Fill the missing rows into a slot that does not hold the other row this output row needs. */
        const size_t need[2] = {ya, yb};
        int *slot[2] = {&sa, &sb};
        for (int k = 0; k < 2; k++) {
            if (*slot[k] >= 0) continue;
            const int other = k == 0 ? sb : sa;
            const int s = other == 0 ? 1 : 0;
            const float *row = x + need[k] * Wi * x_stride;
            for (size_t xx = 0; xx < Wi; xx++)
                for (size_t c = 0; c < C; c++) p[c * pstride + xx] = row[xx * x_stride + c];
            uk->upsample_row(C, p, pstride, xa, xb, wa, wb, wo16, h[s], wo16);
            tag[s] = (long)need[k];
            *slot[k] = s;
            if (k == 0 && yb == ya) { sb = s; break; }
        }
        uk->argmax_row(C, h[sa], h[sb], wo16, h0, h1, Wo, labels + i * Wo);
    }
}

void seg_qu8_upsample_argmax(const float *x, size_t C, size_t x_stride, size_t Hi, size_t Wi, uint8_t *labels,
                             size_t Ho, size_t Wo, int align_corners, size_t row_begin, size_t row_end,
                             void *scratch) {
    seg_qu8_upsample_argmax_isa(seg_isa_active(), x, C, x_stride, Hi, Wi, labels, Ho, Wo, align_corners, row_begin,
                                row_end, scratch);
}

/* ---- scalar reference micro-kernels ---- */

void seg_qu8_upsample_row_ukernel__scalar(size_t C, const float *p, size_t p_stride, const int32_t *xa,
                                          const int32_t *xb, const float *wa, const float *wb, size_t n, float *h,
                                          size_t h_stride) {
    for (size_t c = 0; c < C; c++) {
        const float *r = p + c * p_stride;
        float *o = h + c * h_stride;
        for (size_t j = 0; j < n; j++) {
            const float a = wa[j] * r[xa[j]];
            const float b = wb[j] * r[xb[j]];
            o[j] = a + b;
        }
    }
}

void seg_qu8_argmax_row_ukernel__scalar(size_t C, const float *ha, const float *hb, size_t h_stride, float h0,
                                        float h1, size_t n, uint8_t *labels) {
    for (size_t j = 0; j < n; j++) {
        float best = h0 * ha[j] + h1 * hb[j];
        uint8_t arg = 0;
        for (size_t c = 1; c < C; c++) {
            const float v = h0 * ha[c * h_stride + j] + h1 * hb[c * h_stride + j];
            if (v > best) { best = v; arg = (uint8_t)c; }
        }
        labels[j] = arg;
    }
}
