/* The decoder blocks' gating ops (issue #15, docs/blocks.md): FBNet's Dual Feature Modulator
   y = x + (x·S_s)·S_c and IFBFNet's balanced fusion y = W_h·h + W_l·l, in fp32 (planar CHW) and u8 (NHWC).
   The scalar kernels here are the reference every SIMD variant (gate-avx2.c) reproduces bit for bit: the same
   float operations in the same order, no FMA. The sigmoids of the gate logits (O(H·W + C) values, shared by all
   channels or pixels) are computed once per op by seg_f32_sigmoid, in every ISA. */
#pragma STDC FP_CONTRACT OFF
#include <math.h>

#include "gate.h"

void seg_f32_sigmoid(const float *x, size_t n, float scale, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = scale / (1.0f + expf(-x[i]));
}

void seg_f32_modulate__scalar(const float *x, size_t C, size_t HW, const float *gs, const float *gc, float *y,
                              size_t p0, size_t p1) {
    for (size_t c = 0; c < C; c++) {
        const float *xc = x + c * HW;
        float *yc = y + c * HW;
        for (size_t p = p0; p < p1; p++) yc[p] = seg_f32_modulate1(xc[p], gs[p], gc[c]);
    }
}

void seg_f32_balanced_sum__scalar(const float *h, const float *l, size_t C, size_t HW, const float *wh,
                                  const float *wl, float *y, size_t p0, size_t p1) {
    for (size_t c = 0; c < C; c++) {
        const float *hc = h + c * HW, *lc = l + c * HW;
        float *yc = y + c * HW;
        for (size_t p = p0; p < p1; p++) yc[p] = seg_f32_balanced1(hc[p], lc[p], wh[c], wl[c]);
    }
}

void seg_qu8_modulate__scalar(size_t c, const uint8_t *x, size_t x_stride, uint8_t x_zp, float x_mult,
                              const float *gs, const float *gc, uint8_t *y, size_t y_stride, uint8_t y_zp,
                              size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; p++) {
        const uint8_t *xp = x + p * x_stride;
        uint8_t *yp = y + p * y_stride;
        for (size_t k = 0; k < c; k++) yp[k] = seg_qu8_modulate1(xp[k], x_zp, x_mult, gs[p], gc[k], y_zp);
    }
}

void seg_qu8_balanced_sum__scalar(size_t c, const uint8_t *h, size_t h_stride, uint8_t h_zp, const float *mh,
                                  const uint8_t *l, size_t l_stride, uint8_t l_zp, const float *ml, uint8_t *y,
                                  size_t y_stride, uint8_t y_zp, size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; p++) {
        const uint8_t *hp = h + p * h_stride, *lp = l + p * l_stride;
        uint8_t *yp = y + p * y_stride;
        for (size_t k = 0; k < c; k++) yp[k] = seg_qu8_balanced1(hp[k], h_zp, mh[k], lp[k], l_zp, ml[k], y_zp);
    }
}

/* Entry points: the table of `isa` (cpu.c), or of the active ISA. */
void seg_f32_modulate_isa(seg_isa isa, const float *x, size_t C, size_t HW, const float *gs, const float *gc, float *y,
                          size_t p0, size_t p1) {
    seg_f32_ukernels_get(isa)->modulate(x, C, HW, gs, gc, y, p0, p1);
}

void seg_f32_balanced_sum_isa(seg_isa isa, const float *h, const float *l, size_t C, size_t HW, const float *wh,
                              const float *wl, float *y, size_t p0, size_t p1) {
    seg_f32_ukernels_get(isa)->balanced_sum(h, l, C, HW, wh, wl, y, p0, p1);
}

void seg_qu8_modulate_isa(seg_isa isa, size_t c, const uint8_t *x, size_t x_stride, uint8_t x_zp, float x_mult,
                          const float *gs, const float *gc, uint8_t *y, size_t y_stride, uint8_t y_zp, size_t p0,
                          size_t p1) {
    seg_qu8_ukernels_get(isa)->modulate(c, x, x_stride, x_zp, x_mult, gs, gc, y, y_stride, y_zp, p0, p1);
}

void seg_qu8_balanced_sum_isa(seg_isa isa, size_t c, const uint8_t *h, size_t h_stride, uint8_t h_zp, const float *mh,
                              const uint8_t *l, size_t l_stride, uint8_t l_zp, const float *ml, uint8_t *y,
                              size_t y_stride, uint8_t y_zp, size_t p0, size_t p1) {
    seg_qu8_ukernels_get(isa)->balanced_sum(c, h, h_stride, h_zp, mh, l, l_stride, l_zp, ml, y, y_stride, y_zp, p0, p1);
}
