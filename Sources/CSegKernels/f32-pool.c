/* Pooling kernels: max-pool (stem) and adaptive average pool (PPM). */
#include "CSegKernels.h"
#include <math.h>

void seg_f32_maxpool2d(const float *x, size_t C, size_t H, size_t W, size_t k, size_t s, size_t p,
                       float *y, size_t Ho, size_t Wo) {
    for (size_t c = 0; c < C; c++) {
        const float *xc = x + c * H * W;
        float *yc = y + c * Ho * Wo;
        for (size_t oy = 0; oy < Ho; oy++) {
            ptrdiff_t y0 = (ptrdiff_t)(oy * s) - (ptrdiff_t)p, y1 = y0 + (ptrdiff_t)k;
            if (y0 < 0) y0 = 0;
            if (y1 > (ptrdiff_t)H) y1 = (ptrdiff_t)H;
            for (size_t ox = 0; ox < Wo; ox++) {
                ptrdiff_t x0 = (ptrdiff_t)(ox * s) - (ptrdiff_t)p, x1 = x0 + (ptrdiff_t)k;
                if (x0 < 0) x0 = 0;
                if (x1 > (ptrdiff_t)W) x1 = (ptrdiff_t)W;
                float m = -INFINITY;
                for (ptrdiff_t iy = y0; iy < y1; iy++) {
                    const float *r = xc + iy * (ptrdiff_t)W;
                    for (ptrdiff_t ix = x0; ix < x1; ix++) {
                        float v = r[ix];
                        if (v > m || isnan(v)) m = v;   /* PyTorch propagates NaN */
                    }
                }
                yc[oy * Wo + ox] = m;
            }
        }
    }
}

void seg_f32_adaptive_avgpool2d(const float *x, size_t C, size_t H, size_t W, float *y, size_t Ho, size_t Wo) {
    for (size_t c = 0; c < C; c++) {
        const float *xc = x + c * H * W;
        float *yc = y + c * Ho * Wo;
        for (size_t oy = 0; oy < Ho; oy++) {
            size_t y0 = (oy * H) / Ho, y1 = ((oy + 1) * H + Ho - 1) / Ho;
            for (size_t ox = 0; ox < Wo; ox++) {
                size_t x0 = (ox * W) / Wo, x1 = ((ox + 1) * W + Wo - 1) / Wo;
                float sum = 0.0f;
                for (size_t iy = y0; iy < y1; iy++)
                    for (size_t ix = x0; ix < x1; ix++) sum += xc[iy * W + ix];
                yc[oy * Wo + ox] = sum / (float)((y1 - y0) * (x1 - x0));
            }
        }
    }
}
