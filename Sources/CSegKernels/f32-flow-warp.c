/* The FAM warp: grid_sample(bilinear, zeros) of the coarse map at the output grid moved by the flow,
   fused with the upsample (the coarse map is sampled directly at the output size) and with `lat +`. */
#include "CSegKernels.h"
#include <math.h>

#define SEG_WARP_CHUNK 256

/* torch.linspace(-1, 1, n)[i] in float, computed the way PyTorch does (from both ends). */
static inline float linspace_pm1(size_t i, size_t n) {
    if (n == 1) return -1.0f;
    const float step = 2.0f / (float)(n - 1);
    return i < n / 2 ? -1.0f + step * (float)i : 1.0f - step * (float)(n - 1 - i);
}

/* grid_sampler_unnormalize */
static inline float unnormalize(float g, size_t size, int align_corners) {
    return align_corners ? ((g + 1.0f) / 2.0f) * (float)(size - 1) : ((g + 1.0f) * (float)size - 1.0f) / 2.0f;
}

void seg_f32_flow_warp_add(const float *high, size_t C, size_t Hi, size_t Wi,
                           const float *flow, const float *lat, float *out, size_t Ho, size_t Wo,
                           size_t row0, size_t row1, int align_corners) {
    size_t off[4][SEG_WARP_CHUNK];
    float w[4][SEG_WARP_CHUNK];
    const size_t HWo = Ho * Wo, HWi = Hi * Wi;
    const float *fx = flow, *fy = flow + HWo;
    for (size_t i = row0; i < row1; i++) {
        const float by = linspace_pm1(i, Ho);
        for (size_t j0 = 0; j0 < Wo; j0 += SEG_WARP_CHUNK) {
            size_t nj = Wo - j0 < SEG_WARP_CHUNK ? Wo - j0 : SEG_WARP_CHUNK;
            for (size_t j = 0; j < nj; j++) {
                size_t p = i * Wo + j0 + j;
                float gx = linspace_pm1(j0 + j, Wo) + fx[p] / (float)Wo;
                float gy = by + fy[p] / (float)Ho;
                float ix = unnormalize(gx, Wi, align_corners), iy = unnormalize(gy, Hi, align_corners);
                float x0f = floorf(ix), y0f = floorf(iy);
                float tx = ix - x0f, ty = iy - y0f;
                float wt[4] = {(1.0f - tx) * (1.0f - ty), tx * (1.0f - ty), (1.0f - tx) * ty, tx * ty};
                /* Taps: (x0,y0) (x0+1,y0) (x0,y0+1) (x0+1,y0+1); an outside tap gets weight 0 and offset 0.
                   Coordinates far outside (huge flow) are clamped before the integer conversion. */
                for (int t = 0; t < 4; t++) {
                    float xf = x0f + (float)(t & 1), yf = y0f + (float)(t >> 1);
                    int inside = xf >= 0.0f && xf <= (float)(Wi - 1) && yf >= 0.0f && yf <= (float)(Hi - 1);
                    off[t][j] = inside ? (size_t)yf * Wi + (size_t)xf : 0;
                    w[t][j] = inside ? wt[t] : 0.0f;
                }
            }
            for (size_t c = 0; c < C; c++) {
                const float *h = high + c * HWi;
                float *o = out + c * HWo + i * Wo + j0;
                const float *l = lat ? lat + c * HWo + i * Wo + j0 : NULL;
                for (size_t j = 0; j < nj; j++) {
                    float v = w[0][j] * h[off[0][j]] + w[1][j] * h[off[1][j]] + w[2][j] * h[off[2][j]] + w[3][j] * h[off[3][j]];
                    o[j] = l ? l[j] + v : v;
                }
            }
        }
    }
}
