/* int8 bilinear resize and FAM flow warp: coordinates and Q14 tap weights are computed here, once, in
   scalar float code shared by every ISA; the per-ISA micro-kernels only blend channel vectors. */
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#include <stdlib.h>

#include "qu8-common.h"

/* Q14 tap weights from float fractions: each weight is rounded on its own, then the rounding remainder
   goes to the largest weight, so the four always sum to exactly 16384 and never go negative. */
static inline void weights(float fy, float fx, int16_t *w) {
    const float gy = 1.0f - fy, gx = 1.0f - fx;
    float p[4];
    p[0] = gy * gx;
    p[1] = gy * fx;
    p[2] = fy * gx;
    p[3] = fy * fx;
    int32_t q[4], sum = 0, big = 0;
    for (int i = 0; i < 4; i++) {
        float s = p[i] * 16384.0f;
        q[i] = (int32_t)lrintf(s);
        sum += q[i];
        if (q[i] > q[big]) big = i;
    }
    q[big] += 16384 - sum;
    for (int i = 0; i < 4; i++) w[i] = (int16_t)q[i];
}

/* Source coordinate of destination index d (resize). */
static inline void src_coord(size_t d, size_t in, size_t out, int align_corners, size_t *i0, size_t *i1,
                             float *f) {
    float s;
    if (align_corners) {
        float scale = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
        s = (float)d * scale;
    } else {
        float scale = (float)in / (float)out;
        s = ((float)d + 0.5f) * scale - 0.5f;
        if (s < 0.0f) s = 0.0f;
    }
    size_t i = (size_t)s;
    if (i > in - 1) i = in - 1;
    float frac = s - (float)i;
    *i0 = i;
    *i1 = i + 1 < in ? i + 1 : in - 1;
    *f = frac;
}

void seg_qu8_resize_bilinear_isa(seg_isa isa, size_t c, size_t in_h, size_t in_w, const uint8_t *x,
                                 size_t x_stride, size_t out_h, size_t out_w, uint8_t *y, size_t y_stride,
                                 int align_corners, size_t row_begin, size_t row_end) {
    if (row_end > out_h) row_end = out_h;
    if (row_begin >= row_end || out_w == 0 || c == 0) return;
    const seg_qu8_ukernels *uk = seg_qu8_ukernels_get(isa);
    const uint8_t **t = malloc(out_w * 4 * sizeof *t);
    int16_t *w = malloc(out_w * 4 * sizeof *w);
    size_t *cx = malloc(out_w * 2 * sizeof *cx);
    float *fx = malloc(out_w * sizeof *fx);
    if (!t || !w || !cx || !fx) goto done;
    for (size_t j = 0; j < out_w; j++) src_coord(j, in_w, out_w, align_corners, &cx[2 * j], &cx[2 * j + 1], &fx[j]);
    for (size_t i = row_begin; i < row_end; i++) {
        size_t y0, y1;
        float fy;
        src_coord(i, in_h, out_h, align_corners, &y0, &y1, &fy);
        const uint8_t *r0 = x + y0 * in_w * x_stride, *r1 = x + y1 * in_w * x_stride;
        for (size_t j = 0; j < out_w; j++) {
            t[4 * j + 0] = r0 + cx[2 * j] * x_stride;
            t[4 * j + 1] = r0 + cx[2 * j + 1] * x_stride;
            t[4 * j + 2] = r1 + cx[2 * j] * x_stride;
            t[4 * j + 3] = r1 + cx[2 * j + 1] * x_stride;
            weights(fy, fx[j], w + 4 * j);
        }
        uk->bilinear(out_w, c, t, w, y + i * out_w * y_stride, y_stride, NULL);
    }
done:
    free(t);
    free(w);
    free(cx);
    free(fx);
}

void seg_qu8_resize_bilinear(size_t c, size_t in_h, size_t in_w, const uint8_t *x, size_t x_stride,
                             size_t out_h, size_t out_w, uint8_t *y, size_t y_stride, int align_corners,
                             size_t row_begin, size_t row_end) {
    seg_qu8_resize_bilinear_isa(seg_isa_active(), c, in_h, in_w, x, x_stride, out_h, out_w, y, y_stride,
                                align_corners, row_begin, row_end);
}

/* Sample position along one axis for the warp (pixel form of grid_sample). */
static inline float warp_coord(size_t d, float flow, size_t in, size_t out, int align_corners) {
    if (align_corners) {
        float a = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
        float b = (float)(in - 1) / (float)(2 * out);
        float u0 = (float)d * a;
        float u1 = flow * b;
        return u0 + u1;
    }
    float g0 = out > 1 ? -1.0f + 2.0f * (float)d / (float)(out - 1) : -1.0f;
    float g = g0 + flow / (float)out;
    float s = (g + 1.0f) * (float)in;
    return (s - 1.0f) * 0.5f;
}

void seg_qu8_warp_bilinear_isa(seg_isa isa, size_t c, size_t in_h, size_t in_w, const uint8_t *x,
                               size_t x_stride, uint8_t x_zp, size_t out_h, size_t out_w, const float *flow,
                               size_t flow_stride, uint8_t *y, size_t y_stride, int align_corners,
                               const seg_qu8_add_params *add, size_t row_begin, size_t row_end) {
    if (row_end > out_h) row_end = out_h;
    if (row_begin >= row_end || out_w == 0 || c == 0) return;
    const seg_qu8_ukernels *uk = seg_qu8_ukernels_get(isa);
    const uint8_t **t = malloc(out_w * 4 * sizeof *t);
    int16_t *w = malloc(out_w * 4 * sizeof *w);
    uint8_t *zero = malloc(c);
    if (!t || !w || !zero) goto done;
    for (size_t k = 0; k < c; k++) zero[k] = x_zp;
    seg_qu8_blend_add e;
    if (add) {
        e = (seg_qu8_blend_add){
            .r_stride = add->r_stride,
            .x_mult = add->x_mult * (1.0f / 16384.0f),
            .r_mult = add->r_mult,
            .x_zp16384 = (int32_t)x_zp * 16384,
            .r_zp = add->r_zp,
            .y_zp = add->y_zp,
            .lo = (float)((int32_t)add->y_min - (int32_t)add->y_zp),
            .hi = (float)((int32_t)add->y_max - (int32_t)add->y_zp),
        };
    }
    for (size_t i = row_begin; i < row_end; i++) {
        for (size_t j = 0; j < out_w; j++) {
            const float *f = (const float *)((const char *)flow + (i * out_w + j) * flow_stride);
            float u = warp_coord(j, f[0], in_w, out_w, align_corners);
            float v = warp_coord(i, f[1], in_h, out_h, align_corners);
            /* Clamping far outside changes nothing (all taps out) and keeps floorf in int range. */
            u = fminf(fmaxf(u, -2.0f), (float)in_w + 1.0f);
            v = fminf(fmaxf(v, -2.0f), (float)in_h + 1.0f);
            float u0 = floorf(u), v0 = floorf(v);
            long ix = (long)u0, iy = (long)v0;
            float fx = u - u0, fy = v - v0;
            int xin0 = ix >= 0 && ix < (long)in_w, xin1 = ix + 1 >= 0 && ix + 1 < (long)in_w;
            int yin0 = iy >= 0 && iy < (long)in_h, yin1 = iy + 1 >= 0 && iy + 1 < (long)in_h;
            const uint8_t *r0 = x + (size_t)iy * in_w * x_stride, *r1 = r0 + in_w * x_stride;
            t[4 * j + 0] = yin0 && xin0 ? r0 + (size_t)ix * x_stride : zero;
            t[4 * j + 1] = yin0 && xin1 ? r0 + (size_t)(ix + 1) * x_stride : zero;
            t[4 * j + 2] = yin1 && xin0 ? r1 + (size_t)ix * x_stride : zero;
            t[4 * j + 3] = yin1 && xin1 ? r1 + (size_t)(ix + 1) * x_stride : zero;
            weights(fy, fx, w + 4 * j);
        }
        if (add) e.r = add->r + i * out_w * add->r_stride;
        uk->bilinear(out_w, c, t, w, y + i * out_w * y_stride, y_stride, add ? &e : NULL);
    }
done:
    free(t);
    free(w);
    free(zero);
}

void seg_qu8_warp_bilinear(size_t c, size_t in_h, size_t in_w, const uint8_t *x, size_t x_stride,
                           uint8_t x_zp, size_t out_h, size_t out_w, const float *flow, size_t flow_stride,
                           uint8_t *y, size_t y_stride, int align_corners, const seg_qu8_add_params *add,
                           size_t row_begin, size_t row_end) {
    seg_qu8_warp_bilinear_isa(seg_isa_active(), c, in_h, in_w, x, x_stride, x_zp, out_h, out_w, flow,
                              flow_stride, y, y_stride, align_corners, add, row_begin, row_end);
}
