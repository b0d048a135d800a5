/* int8 convolution: weight packing, indirection tables and the ISA-neutral driver. */
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qu8-common.h"

static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

void seg_qu8_quantize_weights(size_t cout, size_t k, const float *w, int8_t *wq, float *scale) {
    for (size_t o = 0; o < cout; o++) {
        const float *row = w + o * k;
        float m = 0.0f;
        for (size_t i = 0; i < k; i++) m = fmaxf(m, fabsf(row[i]));
        float s = m > 0.0f ? m / 127.0f : 1.0f;
        scale[o] = s;
        for (size_t i = 0; i < k; i++) {
            long q = lrintf(row[i] / s);
            wq[o * k + i] = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
        }
    }
}

seg_qu8_conv_weights *seg_qu8_conv_pack(size_t cout, size_t cin, size_t kh, size_t kw, const int8_t *w,
                                        const float *w_scale, const float *bias, float x_scale,
                                        uint8_t x_zp, float y_scale) {
    if (cout == 0 || cin == 0 || kh == 0 || kw == 0) return NULL;
    seg_qu8_conv_weights *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cout = cout;
    p->cin = cin;
    p->cin4 = round_up(cin, 4);
    p->kh = kh;
    p->kw = kw;
    p->taps = kh * kw;
    p->cout64 = round_up(cout, SEG_QU8_GROUP);
    p->ngroups = p->cout64 / SEG_QU8_GROUP;
    p->f32 = !(y_scale > 0.0f);
    size_t cout16 = round_up(cout, 16);
    size_t wbytes = round_up(p->taps * p->cin4 * cout16, 64);
    size_t vbytes = round_up(p->cout64 * 4, 64);
    p->mem = aligned_alloc(64, wbytes + 3 * vbytes);
    if (!p->mem) { free(p); return NULL; }
    memset(p->mem, 0, wbytes + 3 * vbytes);
    p->w = (int8_t *)p->mem;
    p->bias = (int32_t *)((char *)p->mem + wbytes);
    p->mult = (float *)((char *)p->mem + wbytes + vbytes);
    p->fbias = (float *)((char *)p->mem + wbytes + 2 * vbytes);

    const size_t taps = p->taps, cin4 = p->cin4;
    for (size_t g = 0; g < p->ngroups; g++) {
        size_t oc0 = g * SEG_QU8_GROUP;
        size_t gn = cout16 - oc0 < SEG_QU8_GROUP ? cout16 - oc0 : SEG_QU8_GROUP;
        int8_t *gw = p->w + oc0 * taps * cin4;
        for (size_t t = 0; t < taps; t++)
            for (size_t k = 0; k < cin; k++)
                for (size_t j = 0; j < gn && oc0 + j < cout; j++) {
                    size_t o = oc0 + j;
                    gw[((t * (cin4 / 4) + k / 4) * gn + j) * 4 + k % 4] = w[(o * cin + k) * taps + t];
                }
    }
    if (cout <= SEG_QU8_NARROW) {
        p->k64 = round_up(cin4, 64);
        p->wk = aligned_alloc(64, cout * taps * p->k64);
        if (!p->wk) { free(p->mem); free(p); return NULL; }
        memset(p->wk, 0, cout * taps * p->k64);
        for (size_t o = 0; o < cout; o++)
            for (size_t t = 0; t < taps; t++)
                for (size_t k = 0; k < cin; k++) p->wk[(o * taps + t) * p->k64 + k] = w[(o * cin + k) * taps + t];
    }
    for (size_t o = 0; o < cout; o++) {
        int32_t sum = 0;
        for (size_t i = 0; i < cin * taps; i++) sum += w[o * cin * taps + i];
        float sxw = x_scale * w_scale[o];
        float b = bias ? bias[o] : 0.0f;
        if (p->f32) {
            p->bias[o] = -(int32_t)x_zp * sum;
            p->mult[o] = sxw;
            p->fbias[o] = b;
        } else {
            p->bias[o] = (int32_t)lrintf(b / sxw) - (int32_t)x_zp * sum;
            p->mult[o] = sxw / y_scale;
        }
    }
    return p;
}

static pthread_mutex_t w16_lock = PTHREAD_MUTEX_INITIALIZER;

const int8_t *seg_qu8_igemm_weights(const seg_qu8_ukernels *uk, const seg_qu8_conv_weights *w, size_t oc0) {
    if (!uk->igemm_w16) return w->w + oc0 * w->taps * w->cin4;
    seg_qu8_conv_weights *mw = (seg_qu8_conv_weights *)w;
    int16_t *w16 = atomic_load_explicit(&mw->w16, memory_order_acquire);
    if (!w16) {
        pthread_mutex_lock(&w16_lock);
        w16 = atomic_load_explicit(&mw->w16, memory_order_relaxed);
        if (!w16) {
            const size_t taps = w->taps, kc = w->cin4, cout16 = round_up(w->cout, 16);
            w16 = aligned_alloc(64, round_up(taps * kc * cout16 * sizeof(int16_t), 64));
            if (!w16) {
                fprintf(stderr, "segstream: out of memory widening int8 weights\n");
                abort();
            }
            for (size_t g = 0; g < w->ngroups; g++) {
                const size_t o0 = g * SEG_QU8_GROUP;
                const size_t gn = cout16 - o0 < SEG_QU8_GROUP ? cout16 - o0 : SEG_QU8_GROUP;
                const int8_t *gw = w->w + o0 * taps * kc;
                int16_t *gw16 = w16 + o0 * taps * kc;
                for (size_t t = 0; t < taps; t++)
                    for (size_t k = 0; k < kc; k++)
                        for (size_t j = 0; j < gn; j++)
                            gw16[((t * (kc / 2) + k / 2) * gn + j) * 2 + k % 2] = gw[((t * (kc / 4) + k / 4) * gn + j) * 4 + k % 4];
            }
            atomic_store_explicit(&mw->w16, w16, memory_order_release);
        }
        pthread_mutex_unlock(&w16_lock);
    }
    return (const int8_t *)(w16 + oc0 * w->taps * w->cin4);
}

void seg_qu8_conv_weights_free(seg_qu8_conv_weights *w) {
    if (!w) return;
    free(atomic_load(&w->w16));
    free(w->wk);
    free(w->mem);
    free(w);
}

size_t seg_qu8_conv_weights_cout(const seg_qu8_conv_weights *w) { return w->cout; }
size_t seg_qu8_conv_weights_cin(const seg_qu8_conv_weights *w) { return w->cin; }
int seg_qu8_conv_weights_is_f32(const seg_qu8_conv_weights *w) { return w->f32; }

size_t seg_conv_out_size(size_t in, size_t k, size_t stride, size_t dilation, size_t pad_before,
                         size_t pad_after) {
    size_t span = dilation * (k - 1) + 1;
    size_t padded = in + pad_before + pad_after;
    return padded < span ? 0 : (padded - span) / stride + 1;
}

seg_qu8_indirection *seg_qu8_conv_indirection(const seg_qu8_conv_geometry *g, size_t cin, const uint8_t *x,
                                              size_t x_stride, uint8_t x_zp) {
    seg_qu8_indirection *ind = calloc(1, sizeof *ind);
    if (!ind) return NULL;
    ind->g = *g;
    ind->cin = cin;
    ind->taps = (size_t)g->kh * g->kw;
    ind->pixels = (size_t)g->out_h * g->out_w;
    ind->base = x;
    size_t zbytes = round_up(cin, 64);
    ind->zero = aligned_alloc(64, zbytes);
    ind->ptrs = malloc((ind->pixels * ind->taps + 1) * sizeof(*ind->ptrs));
    if (!ind->zero || !ind->ptrs) { seg_qu8_indirection_free(ind); return NULL; }
    memset(ind->zero, x_zp, zbytes);
    const size_t row = (size_t)g->in_w * x_stride;
    for (size_t oy = 0; oy < g->out_h; oy++)
        for (size_t ox = 0; ox < g->out_w; ox++) {
            const uint8_t **dst = ind->ptrs + (oy * g->out_w + ox) * ind->taps;
            for (size_t ky = 0; ky < g->kh; ky++) {
                ptrdiff_t iy = (ptrdiff_t)(oy * g->stride_h + ky * g->dilation_h) - (ptrdiff_t)g->pad_top;
                for (size_t kx = 0; kx < g->kw; kx++) {
                    ptrdiff_t ix = (ptrdiff_t)(ox * g->stride_w + kx * g->dilation_w) - (ptrdiff_t)g->pad_left;
                    int in = iy >= 0 && iy < (ptrdiff_t)g->in_h && ix >= 0 && ix < (ptrdiff_t)g->in_w;
                    *dst++ = in ? x + (size_t)iy * row + (size_t)ix * x_stride : ind->zero;
                }
            }
        }
    return ind;
}

void seg_qu8_indirection_free(seg_qu8_indirection *ind) {
    if (!ind) return;
    free(ind->zero);
    free(ind->ptrs);
    free(ind);
}

/* Pixels per cache block: the block's input rows stay hot in L1/L2 while every weight group runs. */
#define SEG_QU8_PIXEL_BLOCK 48

void seg_qu8_conv_isa(seg_isa isa, const seg_qu8_conv_args *a, size_t pixel_begin, size_t pixel_end) {
    const seg_qu8_ukernels *uk = seg_qu8_ukernels_get(isa);
    const seg_qu8_conv_weights *w = a->w;
    const seg_qu8_indirection *ind = a->ind;
    if (pixel_end > ind->pixels) pixel_end = ind->pixels;
    if (pixel_begin >= pixel_end) return;
    const size_t mr = uk->igemm_mr, taps = w->taps, kc = w->cin4;
    const ptrdiff_t a_offset = a->x ? a->x - ind->base : 0;
    const size_t ystride = a->y_stride;
    seg_qu8_epilogue e0 = {
        .r = w->f32 ? NULL : a->r,
        .r_stride = a->r_stride,
        .r_mult = a->r_mult,
        .r_zp = a->r_zp,
        .y_zp = a->y_zp,
        .lo = (float)((int32_t)a->y_min - (int32_t)a->y_zp),
        .hi = (float)((int32_t)a->y_max - (int32_t)a->y_zp),
    };
    if (w->wk && uk->dot) {
        seg_qu8_epilogue e = e0;
        e.bias = w->bias;
        e.mult = w->mult;
        e.fbias = w->f32 ? w->fbias : NULL;
        for (size_t p = pixel_begin; p < pixel_end; p += uk->dot_mr) {
            size_t m = pixel_end - p < uk->dot_mr ? pixel_end - p : uk->dot_mr;
            if (e0.r) e.r = a->r + p * a->r_stride;
            uk->dot(m, w->cout, taps, kc, ind->ptrs + p * taps, taps, a_offset, ind->zero, w->wk, w->k64,
                    (char *)a->y + p * ystride, ystride, &e);
        }
        return;
    }
    for (size_t pb = pixel_begin; pb < pixel_end; pb += SEG_QU8_PIXEL_BLOCK) {
        size_t pe = pb + SEG_QU8_PIXEL_BLOCK < pixel_end ? pb + SEG_QU8_PIXEL_BLOCK : pixel_end;
        for (size_t g = 0; g < w->ngroups; g++) {
            size_t oc0 = g * SEG_QU8_GROUP;
            size_t nc = w->cout - oc0 < SEG_QU8_GROUP ? w->cout - oc0 : SEG_QU8_GROUP;
            const int8_t *gw = seg_qu8_igemm_weights(uk, w, oc0);
            seg_qu8_epilogue e = e0;
            e.bias = w->bias + oc0;
            e.mult = w->mult + oc0;
            e.fbias = w->f32 ? w->fbias + oc0 : NULL;
            for (size_t p = pb; p < pe; p += mr) {
                size_t m = pe - p < mr ? pe - p : mr;
                if (e0.r) e.r = a->r + p * a->r_stride + oc0;
                char *y = (char *)a->y + p * ystride + (w->f32 ? oc0 * 4 : oc0);
                uk->igemm(m, nc, taps, kc, ind->ptrs + p * taps, taps, a_offset, ind->zero, gw, y, ystride, &e);
            }
        }
    }
}

void seg_qu8_conv(const seg_qu8_conv_args *a, size_t pixel_begin, size_t pixel_end) {
    seg_qu8_conv_isa(seg_isa_active(), a, pixel_begin, pixel_end);
}
