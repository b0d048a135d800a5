/* Scalar reference bilinear blend: B = Σ w·x over 4 taps with Q14 weights; y = (B + 8192) >> 14, or the
   fused-add epilogue (seg_qu8_blend_add_scalar). */
#include "qu8-common.h"

void seg_qu8_bilinear_ukernel__scalar(size_t n, size_t c, const uint8_t *const *t, const int16_t *w, uint8_t *y,
                                      size_t y_stride, const seg_qu8_blend_add *add) {
    for (size_t i = 0; i < n; i++, t += 4, w += 4, y += y_stride) {
        const uint8_t *a = t[0], *b = t[1], *d = t[2], *e = t[3];
        const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        if (add) {
            const uint8_t *r = add->r + i * add->r_stride;
            for (size_t k = 0; k < c; k++)
                y[k] = seg_qu8_blend_add_scalar(w0 * a[k] + w1 * b[k] + w2 * d[k] + w3 * e[k], r[k], add);
            continue;
        }
        for (size_t k = 0; k < c; k++)
            y[k] = (uint8_t)((w0 * a[k] + w1 * b[k] + w2 * d[k] + w3 * e[k] + 8192) >> 14);
    }
}
