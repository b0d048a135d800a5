/* fp32 depthwise convolution (CSegKernels.h): the driver and the scalar row kernel. The ISA variants differ only
   in the row kernel y[j] += w·x[j] (one product, one sum, no FMA), so every variant is bit-identical. */
#pragma STDC FP_CONTRACT OFF
#include "CSegKernels.h"

void seg_f32_axpy_row__scalar(float *y, const float *x, float w, size_t n) {
    for (size_t j = 0; j < n; j++) y[j] = y[j] + w * x[j];
}

static seg_f32_axpy_row_fn axpy_for(int isa) {
    if (!seg_isa_supported((seg_isa)isa)) isa = seg_isa_active();
    switch (isa) {
    case SEG_ISA_AVX512VNNI: return seg_f32_axpy_row__avx512;
    case SEG_ISA_AVX2: return seg_f32_axpy_row__avx2;
    default: return seg_f32_axpy_row__scalar;
    }
}

void seg_f32_dwconv_isa(int isa, const float *x, size_t C, size_t H, size_t W, size_t k, size_t d, size_t p,
                        const float *w, const float *bias, const float *res, int relu, float *y) {
    const seg_f32_axpy_row_fn axpy = axpy_for(isa);
    const ptrdiff_t Ho = (ptrdiff_t)(H + 2 * p) - (ptrdiff_t)(d * (k - 1)), Wo = (ptrdiff_t)(W + 2 * p) - (ptrdiff_t)(d * (k - 1));
    if (Ho <= 0 || Wo <= 0) return;
    for (size_t c = 0; c < C; c++) {
        const float *xc = x + c * H * W, *wc = w + c * k * k;
        float *yc = y + c * (size_t)(Ho * Wo);
        for (ptrdiff_t i = 0; i < Ho; i++) {
            float *yr = yc + i * Wo;
            for (ptrdiff_t j = 0; j < Wo; j++) yr[j] = 0.0f;
            for (size_t u = 0; u < k; u++) {
                const ptrdiff_t iy = i - (ptrdiff_t)p + (ptrdiff_t)(d * u);
                if (iy < 0 || iy >= (ptrdiff_t)H) continue;
                const float *xr = xc + iy * (ptrdiff_t)W;
                for (size_t v = 0; v < k; v++) {
                    const ptrdiff_t off = (ptrdiff_t)(d * v) - (ptrdiff_t)p;  /* x column = j + off */
                    const ptrdiff_t lo = off < 0 ? -off : 0;
                    const ptrdiff_t hi = (ptrdiff_t)W - off < Wo ? (ptrdiff_t)W - off : Wo;
                    if (hi > lo) axpy(yr + lo, xr + lo + off, wc[u * k + v], (size_t)(hi - lo));
                }
            }
        }
        seg_f32_bias_residual_relu(yc, (size_t)(Ho * Wo), 1, (size_t)(Ho * Wo), bias ? bias + c : NULL,
                                   res ? res + c * (size_t)(Ho * Wo) : NULL, (size_t)(Ho * Wo), relu);
    }
}

void seg_f32_dwconv(const float *x, size_t C, size_t H, size_t W, size_t k, size_t d, size_t p, const float *w,
                    const float *bias, const float *res, int relu, float *y) {
    seg_f32_dwconv_isa(seg_isa_active(), x, C, H, W, k, d, p, w, bias, res, relu, y);
}
