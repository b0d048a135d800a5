/* Space-to-batch for dilated 3×3 stride-1 convs whose padding equals their dilation d: output pixel
   (py + d·i, px + d·j) only sees inputs of the same phase (py, px) = (y mod d, x mod d), at phase
   offsets i−1…i+1, j−1…j+1. So the conv is an undilated 3×3 pad-1 conv on every phase, and with the
   phases stacked (below) one undilated conv, Winograd included, computes them all. */
#include <string.h>

#include "CSegKernels.h"

void seg_f32_phases_gather(const float *x, size_t C, size_t H, size_t W, size_t d, float *p) {
    const size_t hp = (H + d - 1) / d, wp = (W + d - 1) / d, hs = d * d * (hp + 1) - 1;
    for (size_t c = 0; c < C; c++) {
        const float *xc = x + c * H * W;
        float *pc = p + c * hs * wp;
        memset(pc, 0, hs * wp * sizeof(float));   /* short phases, the last columns, the separator rows */
        for (size_t k = 0; k < d * d; k++) {
            const size_t py = k / d, px = k % d;
            for (size_t i = 0, yy = py; i < hp && yy < H; i++, yy += d) {
                float *row = pc + (k * (hp + 1) + i) * wp;
                const float *src = xc + yy * W;
                for (size_t j = 0, xx = px; j < wp && xx < W; j++, xx += d) row[j] = src[xx];
            }
        }
    }
}

void seg_f32_phases_scatter(const float *p, size_t C, size_t H, size_t W, size_t d, const float *res, int relu,
                            float *y) {
    const size_t hp = (H + d - 1) / d, wp = (W + d - 1) / d, hs = d * d * (hp + 1) - 1;
    for (size_t c = 0; c < C; c++) {
        const float *pc = p + c * hs * wp;
        float *yc = y + c * H * W;
        const float *rc = res ? res + c * H * W : NULL;
        for (size_t k = 0; k < d * d; k++) {
            const size_t py = k / d, px = k % d;
            for (size_t i = 0, yy = py; i < hp && yy < H; i++, yy += d) {
                const float *row = pc + (k * (hp + 1) + i) * wp;
                float *dst = yc + yy * W;
                const float *r = rc ? rc + yy * W : NULL;
                for (size_t j = 0, xx = px; j < wp && xx < W; j++, xx += d) {
                    float v = row[j];
                    if (r) v += r[xx];   /* after the bias, as the fused Winograd epilogue adds them */
                    dst[xx] = relu && v < 0.0f ? 0.0f : v;
                }
            }
        }
    }
}
