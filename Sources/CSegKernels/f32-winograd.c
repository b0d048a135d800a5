/* Winograd F(2×2, 3×3) for 3×3 stride-1 undilated convolutions: 16 multiplies per 2×2 outputs instead
   of 36 (2.25× fewer MACs). Transforms here; the 16 C_out×C_in · C_in×T products are sgemm calls made by
   the caller. Tiles are numbered row-major over a ceil(Ho/2) × ceil(Wo/2) grid. */
#include "CSegKernels.h"

void seg_f32_winograd23_weights(const float *w, size_t cout, size_t cin, float *u) {
    const size_t plane = cout * cin;
    for (size_t o = 0; o < cout; o++) {
        for (size_t i = 0; i < cin; i++) {
            const float *g = w + (o * cin + i) * 9;
            float t[4][3];   /* G·g, G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1] */
            for (int c = 0; c < 3; c++) {
                t[0][c] = g[c];
                t[1][c] = 0.5f * (g[c] + g[3 + c] + g[6 + c]);
                t[2][c] = 0.5f * (g[c] - g[3 + c] + g[6 + c]);
                t[3][c] = g[6 + c];
            }
            for (int r = 0; r < 4; r++) {   /* (G·g)·Gᵀ */
                float v[4] = {t[r][0], 0.5f * (t[r][0] + t[r][1] + t[r][2]), 0.5f * (t[r][0] - t[r][1] + t[r][2]), t[r][2]};
                for (int c = 0; c < 4; c++) u[(size_t)(r * 4 + c) * plane + o * cin + i] = v[c];
            }
        }
    }
}

void seg_f32_winograd23_input(const float *x, size_t C, size_t H, size_t W, size_t pad, size_t tilesW,
                              size_t t0, size_t nt, float *v, size_t ldv) {
    const size_t plane = C * ldv;   /* v[e][c][j] at v[(e·C + c)·ldv + j], e = 4·row + col of the 4×4 transform */
    for (size_t c = 0; c < C; c++) {
        const float *xc = x + c * H * W;
        for (size_t j = 0; j < nt; j++) {
            size_t t = t0 + j, ty = t / tilesW, tx = t % tilesW;
            ptrdiff_t y0 = (ptrdiff_t)(2 * ty) - (ptrdiff_t)pad, x0 = (ptrdiff_t)(2 * tx) - (ptrdiff_t)pad;
            float d[4][4];
            if (y0 >= 0 && x0 >= 0 && y0 + 4 <= (ptrdiff_t)H && x0 + 4 <= (ptrdiff_t)W) {
                for (int r = 0; r < 4; r++) for (int q = 0; q < 4; q++) d[r][q] = xc[(y0 + r) * (ptrdiff_t)W + x0 + q];
            } else {
                for (int r = 0; r < 4; r++) for (int q = 0; q < 4; q++) {
                    ptrdiff_t yy = y0 + r, xx = x0 + q;
                    d[r][q] = (yy >= 0 && yy < (ptrdiff_t)H && xx >= 0 && xx < (ptrdiff_t)W) ? xc[yy * (ptrdiff_t)W + xx] : 0.0f;
                }
            }
            float t4[4][4];   /* Bᵀ·d, Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1] */
            for (int q = 0; q < 4; q++) {
                t4[0][q] = d[0][q] - d[2][q];
                t4[1][q] = d[1][q] + d[2][q];
                t4[2][q] = d[2][q] - d[1][q];
                t4[3][q] = d[1][q] - d[3][q];
            }
            float *o = v + c * ldv + j;
            for (int r = 0; r < 4; r++) {   /* (Bᵀ·d)·B */
                o[(size_t)(r * 4 + 0) * plane] = t4[r][0] - t4[r][2];
                o[(size_t)(r * 4 + 1) * plane] = t4[r][1] + t4[r][2];
                o[(size_t)(r * 4 + 2) * plane] = t4[r][2] - t4[r][1];
                o[(size_t)(r * 4 + 3) * plane] = t4[r][1] - t4[r][3];
            }
        }
    }
}

void seg_f32_winograd23_output(const float *m, size_t cout, size_t nt, size_t tilesW, size_t t0,
                               size_t Ho, size_t Wo, const float *bias, const float *res, int relu, float *y) {
    const size_t plane = cout * nt;   /* m[e][o][j] */
    for (size_t o = 0; o < cout; o++) {
        const float b = bias ? bias[o] : 0.0f;
        float *yo = y + o * Ho * Wo;
        const float *ro = res ? res + o * Ho * Wo : NULL;
        for (size_t j = 0; j < nt; j++) {
            const float *mm = m + o * nt + j;
            float s[4][4];
            for (int e = 0; e < 16; e++) s[e / 4][e % 4] = mm[(size_t)e * plane];
            float t2[2][4];   /* Aᵀ·s, Aᵀ = [1 1 1 0; 0 1 −1 −1] */
            for (int q = 0; q < 4; q++) {
                t2[0][q] = s[0][q] + s[1][q] + s[2][q];
                t2[1][q] = s[1][q] - s[2][q] - s[3][q];
            }
            size_t t = t0 + j, oy = 2 * (t / tilesW), ox = 2 * (t % tilesW);
            for (int r = 0; r < 2; r++) {
                if (oy + r >= Ho) break;
                float out[2] = {t2[r][0] + t2[r][1] + t2[r][2], t2[r][1] - t2[r][2] - t2[r][3]};
                for (int q = 0; q < 2; q++) {
                    if (ox + q >= Wo) break;
                    size_t p = (oy + r) * Wo + ox + q;
                    float v = out[q] + b;
                    if (ro) v += ro[p];
                    yo[p] = relu && v < 0.0f ? 0.0f : v;
                }
            }
        }
    }
}
