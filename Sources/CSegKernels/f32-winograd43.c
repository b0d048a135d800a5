/* Winograd F(4×4, 3×3) for 3×3 stride-1 undilated convolutions: 36 multiplies per 4×4 outputs instead of
   144 (4× fewer MACs; 1.78× fewer than F(2×2,3×3)), with the interpolation points 0, ±1, ±2, ∞ (Lavin &
   Gray 2015). Weight transform and the scalar reference transforms here; the AVX-512 and AVX2 transforms
   (f32-winograd43-avx512.c, -avx2.c) repeat the same float operations in the same order (FP_CONTRACT OFF,
   no FMA), so all give bit-identical results and the scalar one is their test oracle.
   Tiles are numbered row-major over a ceil(Ho/4) × ceil(Wo/4) grid. */
#pragma STDC FP_CONTRACT OFF
#include "CSegKernels.h"
#include "f32-winograd43.h"

void seg_f32_winograd43_weights(const float *w, size_t cout, size_t cin, float *u) {
    const size_t plane = cout * cin;
    /* G = [1/4 0 0; −1/6 −1/6 −1/6; −1/6 1/6 −1/6; 1/24 1/12 1/6; 1/24 −1/12 1/6; 0 0 1]. Computed in
       double: done once per model, and it keeps the transformed weights within one rounding of exact. */
    static const double G[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
    for (size_t o = 0; o < cout; o++) {
        for (size_t i = 0; i < cin; i++) {
            const float *g = w + (o * cin + i) * 9;
            double t[6][3];   /* G·g */
            for (int r = 0; r < 6; r++)
                for (int c = 0; c < 3; c++) t[r][c] = G[r][0] * g[c] + G[r][1] * g[3 + c] + G[r][2] * g[6 + c];
            for (int r = 0; r < 6; r++)   /* (G·g)·Gᵀ */
                for (int c = 0; c < 6; c++)
                    u[(size_t)(r * 6 + c) * plane + o * cin + i] =
                        (float)(t[r][0] * G[c][0] + t[r][1] * G[c][1] + t[r][2] * G[c][2]);
        }
    }
}

void seg_f32_winograd43_input__scalar(const float *x, size_t C, size_t H, size_t W, size_t pad, size_t tilesW,
                                      size_t t0, size_t nt, float *v, size_t ldv) {
    const size_t plane = C * ldv;   /* v[e][c][j] at v[(e·C + c)·ldv + j], e = 6·row + col of the 6×6 transform */
    for (size_t c = 0; c < C; c++) {
        const float *xc = x + c * H * W;
        for (size_t j = 0; j < nt; j++) {
            const size_t t = t0 + j, ty = t / tilesW, tx = t % tilesW;
            const ptrdiff_t y0 = (ptrdiff_t)(4 * ty) - (ptrdiff_t)pad, x0 = (ptrdiff_t)(4 * tx) - (ptrdiff_t)pad;
            float d[6][6];
            for (int r = 0; r < 6; r++)
                for (int q = 0; q < 6; q++) {
                    const ptrdiff_t yy = y0 + r, xx = x0 + q;
                    d[r][q] = (yy >= 0 && yy < (ptrdiff_t)H && xx >= 0 && xx < (ptrdiff_t)W) ? xc[yy * (ptrdiff_t)W + xx]
                                                                                            : 0.0f;
                }
            float t6[6][6];   /* Bᵀ·d, down the columns first (the AVX-512 kernel does it for whole rows) */
            for (int q = 0; q < 6; q++) {
                float col[6] = {d[0][q], d[1][q], d[2][q], d[3][q], d[4][q], d[5][q]}, out[6];
                seg_winograd43_bt(col, out);
                for (int r = 0; r < 6; r++) t6[r][q] = out[r];
            }
            float *o = v + c * ldv + j;
            for (int r = 0; r < 6; r++) {   /* (Bᵀ·d)·B */
                float out[6];
                seg_winograd43_bt(t6[r], out);
                for (int q = 0; q < 6; q++) o[(size_t)(r * 6 + q) * plane] = out[q];
            }
        }
    }
}

void seg_f32_winograd43_output__scalar(const float *m, size_t cout, size_t nt, size_t tilesW, size_t t0, size_t Ho,
                                       size_t Wo, const float *bias, const float *res, int relu, float *y) {
    const size_t plane = cout * nt;   /* m[e][o][j] */
    for (size_t o = 0; o < cout; o++) {
        const float b = bias ? bias[o] : 0.0f;
        float *yo = y + o * Ho * Wo;
        const float *ro = res ? res + o * Ho * Wo : NULL;
        for (size_t j = 0; j < nt; j++) {
            const float *mm = m + o * nt + j;
            float t4[4][6];   /* Aᵀ·s, down the columns first */
            for (int q = 0; q < 6; q++) {
                float col[6], out[4];
                for (int r = 0; r < 6; r++) col[r] = mm[(size_t)(r * 6 + q) * plane];
                seg_winograd43_at(col, out);
                for (int r = 0; r < 4; r++) t4[r][q] = out[r];
            }
            const size_t t = t0 + j, oy = 4 * (t / tilesW), ox = 4 * (t % tilesW);
            for (int r = 0; r < 4 && oy + r < Ho; r++) {   /* (Aᵀ·s)·A, then bias, residual, ReLU in that order */
                float out[4];
                seg_winograd43_at(t4[r], out);
                for (int q = 0; q < 4 && ox + q < Wo; q++) {
                    const size_t p = (oy + r) * Wo + ox + q;
                    float val = out[q] + b;
                    if (ro) val += ro[p];
                    yo[p] = relu && val < 0.0f ? 0.0f : val;
                }
            }
        }
    }
}
