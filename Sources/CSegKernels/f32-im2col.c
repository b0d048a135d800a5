/* im2col panels for the fp32 GEMM convolution (scalar; memory-bound, the compiler vectorises the copies). */
#include "CSegKernels.h"
#include <string.h>

/* Largest ox in [0, Wo) range check helpers use signed math: ix = ox·sw + off, off = kx·dw − pw. */
static inline void valid_ox_range(ptrdiff_t off, size_t sw, size_t W, size_t Wo, size_t *lo, size_t *hi) {
    /* ix >= 0  ⇔ ox >= ceil(−off / sw);  ix < W ⇔ ox < ceil((W − off) / sw) */
    ptrdiff_t l = off >= 0 ? 0 : (-off + (ptrdiff_t)sw - 1) / (ptrdiff_t)sw;
    ptrdiff_t limit = (ptrdiff_t)W - off;
    ptrdiff_t h = limit <= 0 ? 0 : (limit + (ptrdiff_t)sw - 1) / (ptrdiff_t)sw;
    if (h > (ptrdiff_t)Wo) h = (ptrdiff_t)Wo;
    if (l > h) l = h;
    *lo = (size_t)l; *hi = (size_t)h;
}

void seg_f32_im2col_panel(const float *x, size_t C, size_t H, size_t W,
                          size_t kh, size_t kw, size_t sh, size_t sw, size_t ph, size_t pw,
                          size_t dh, size_t dw, size_t Ho, size_t Wo,
                          size_t n0, size_t ncols, float *col) {
    (void)Ho;
    for (size_t c = 0; c < C; c++) {
        const float *xc = x + c * H * W;
        for (size_t ky = 0; ky < kh; ky++) {
            for (size_t kx = 0; kx < kw; kx++) {
                float *dst = col;
                col += ncols;
                ptrdiff_t xoff = (ptrdiff_t)(kx * dw) - (ptrdiff_t)pw;
                size_t lo, hi;
                valid_ox_range(xoff, sw, W, Wo, &lo, &hi);
                size_t oy = n0 / Wo, ox0 = n0 % Wo, j = 0;
                while (j < ncols) {
                    size_t seg = Wo - ox0;
                    if (seg > ncols - j) seg = ncols - j;
                    size_t ox1 = ox0 + seg;
                    ptrdiff_t iy = (ptrdiff_t)(oy * sh + ky * dh) - (ptrdiff_t)ph;
                    if (iy < 0 || iy >= (ptrdiff_t)H) {
                        memset(dst + j, 0, seg * sizeof(float));
                    } else {
                        const float *xr = xc + (size_t)iy * W;
                        size_t a = lo < ox0 ? ox0 : (lo > ox1 ? ox1 : lo);
                        size_t b = hi < a ? a : (hi > ox1 ? ox1 : hi);
                        float *d = dst + j - ox0;          /* d[ox] is the panel slot of column ox */
                        for (size_t ox = ox0; ox < a; ox++) d[ox] = 0.0f;
                        if (sw == 1) {
                            if (b > a) memcpy(d + a, xr + (ptrdiff_t)a + xoff, (b - a) * sizeof(float));
                        } else {
                            for (size_t ox = a; ox < b; ox++) d[ox] = xr[(ptrdiff_t)(ox * sw) + xoff];
                        }
                        for (size_t ox = b; ox < ox1; ox++) d[ox] = 0.0f;
                    }
                    j += seg; ox0 = 0; oy++;
                }
            }
        }
    }
}

void seg_f32_bias_residual_relu(float *y, size_t ldy, size_t M, size_t N,
                                const float *bias, const float *res, size_t ldres, int relu) {
    for (size_t m = 0; m < M; m++) {
        float *row = y + m * ldy;
        const float b = bias ? bias[m] : 0.0f;
        if (res) {
            const float *r = res + m * ldres;
            if (relu) for (size_t n = 0; n < N; n++) { float v = row[n] + b + r[n]; row[n] = v > 0.0f ? v : 0.0f; }
            else      for (size_t n = 0; n < N; n++) row[n] = row[n] + b + r[n];
        } else {
            if (relu) for (size_t n = 0; n < N; n++) { float v = row[n] + b; row[n] = v > 0.0f ? v : 0.0f; }
            else if (bias) for (size_t n = 0; n < N; n++) row[n] += b;
        }
    }
}
