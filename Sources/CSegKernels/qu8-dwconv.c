/* int8 depthwise convolution (CSegKernels.h): weight packing, the driver and the scalar pixel kernel.
   acc[c] = Σ over the taps inside the map of (x[c] − x_zp)·w[t][c]: a tap in the padding reads the zero point,
   i.e. contributes 0, exactly as the dense conv's zero-point row does. The epilogue is the dense conv's
   (seg_qu8_requant), so every ISA is bit-identical to this reference. */
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qu8-common.h"

struct seg_qu8_dw_weights {
    size_t c, c16, k;
    int32_t *w;     /* [k·k][c16], zero past c */
    int32_t *bias;  /* [c16] round(b / (s_x·s_w)) */
    float *mult;    /* [c16] s_x·s_w / s_y */
};

seg_qu8_dw_weights *seg_qu8_dwconv_pack(size_t c, size_t k, const int8_t *w, const float *w_scale, const float *bias,
                                        float x_scale, float y_scale) {
    if (c == 0 || k == 0 || !(y_scale > 0.0f)) return NULL;
    seg_qu8_dw_weights *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->c = c;
    p->c16 = (c + 15) / 16 * 16;
    p->k = k;
    p->w = aligned_alloc(64, k * k * p->c16 * 4);
    p->bias = aligned_alloc(64, p->c16 * 4);
    p->mult = aligned_alloc(64, p->c16 * 4);
    if (!p->w || !p->bias || !p->mult) { seg_qu8_dwconv_weights_free(p); return NULL; }
    memset(p->w, 0, k * k * p->c16 * 4);
    memset(p->bias, 0, p->c16 * 4);
    memset(p->mult, 0, p->c16 * 4);
    for (size_t ch = 0; ch < c; ch++) {
        for (size_t t = 0; t < k * k; t++) p->w[t * p->c16 + ch] = w[ch * k * k + t];
        const float sxw = x_scale * w_scale[ch];
        p->bias[ch] = (int32_t)lrintf((bias ? bias[ch] : 0.0f) / sxw);
        p->mult[ch] = sxw / y_scale;
    }
    return p;
}

void seg_qu8_dwconv_weights_free(seg_qu8_dw_weights *w) {
    if (!w) return;
    free(w->w);
    free(w->bias);
    free(w->mult);
    free(w);
}

void seg_qu8_dw_pixel__scalar(size_t c, size_t c16, size_t taps, const uint8_t *const *x, const int32_t *w,
                              int32_t x_zp, const int32_t *bias, const float *mult, const seg_qu8_epilogue *e,
                              uint8_t *y) {
    for (size_t ch = 0; ch < c; ch++) {
        int32_t acc = 0;
        for (size_t t = 0; t < taps; t++)
            if (x[t]) acc += ((int32_t)x[t][ch] - x_zp) * w[t * c16 + ch];
        y[ch] = seg_qu8_requant(acc, bias[ch], mult[ch], e, 0);
    }
}

static seg_qu8_dw_pixel_fn pixel_for(seg_isa isa) {
    if (!seg_isa_supported(isa)) isa = seg_isa_active();
    switch (isa) {
    case SEG_ISA_AVX512VNNI: return seg_qu8_dw_pixel__avx512;
    case SEG_ISA_AVX2: return seg_qu8_dw_pixel__avx2;
    default: return seg_qu8_dw_pixel__scalar;
    }
}

void seg_qu8_dwconv_isa(seg_isa isa, const seg_qu8_dwconv_args *a, size_t row_begin, size_t row_end) {
    const seg_qu8_dw_pixel_fn pixel = pixel_for(isa);
    const seg_qu8_dw_weights *w = a->w;
    const size_t k = w->k, taps = k * k;
    const ptrdiff_t span = (ptrdiff_t)(a->dilation * (k - 1));
    const ptrdiff_t ho = (ptrdiff_t)(a->in_h + 2 * a->pad) - span, wo = (ptrdiff_t)(a->in_w + 2 * a->pad) - span;
    if (ho <= 0 || wo <= 0) return;
    if (row_end > (size_t)ho) row_end = (size_t)ho;
    const seg_qu8_epilogue e = {
        .y_zp = a->y_zp,
        .lo = (float)((int32_t)a->y_min - a->y_zp),
        .hi = (float)((int32_t)a->y_max - a->y_zp),
    };
    const uint8_t *ptrs[SEG_QU8_DW_MAX_TAPS];
    for (size_t i = row_begin; i < row_end; i++)
        for (ptrdiff_t j = 0; j < wo; j++) {
            for (size_t u = 0; u < k; u++) {
                const ptrdiff_t iy = (ptrdiff_t)i - (ptrdiff_t)a->pad + (ptrdiff_t)(a->dilation * u);
                for (size_t v = 0; v < k; v++) {
                    const ptrdiff_t ix = j - (ptrdiff_t)a->pad + (ptrdiff_t)(a->dilation * v);
                    const int in = iy >= 0 && iy < (ptrdiff_t)a->in_h && ix >= 0 && ix < (ptrdiff_t)a->in_w;
                    ptrs[u * k + v] = in ? a->x + ((size_t)iy * a->in_w + (size_t)ix) * a->x_stride : NULL;
                }
            }
            pixel(w->c, w->c16, taps, ptrs, w->w, a->x_zp, w->bias, w->mult, &e,
                  a->y + (i * (size_t)wo + (size_t)j) * a->y_stride);
        }
}

void seg_qu8_dwconv(const seg_qu8_dwconv_args *a, size_t row_begin, size_t row_end) {
    seg_qu8_dwconv_isa(seg_isa_active(), a, row_begin, row_end);
}
