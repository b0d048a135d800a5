/* Bilinear resize (PyTorch upsample_bilinear2d rules) and its fusion with the class argmax. */
#include "CSegKernels.h"
#include "bilinear-index.h"

#define SEG_BILINEAR_CHUNK 256   /* columns per stack table: bounded stack use on worker threads */

void seg_f32_bilinear_resize(const float *x, size_t C, size_t Hi, size_t Wi,
                             float *y, size_t Ho, size_t Wo, int align_corners) {
    size_t xa[SEG_BILINEAR_CHUNK], xb[SEG_BILINEAR_CHUNK];
    float wa[SEG_BILINEAR_CHUNK], wb[SEG_BILINEAR_CHUNK];
    for (size_t j0 = 0; j0 < Wo; j0 += SEG_BILINEAR_CHUNK) {
        size_t nj = Wo - j0 < SEG_BILINEAR_CHUNK ? Wo - j0 : SEG_BILINEAR_CHUNK;
        for (size_t j = 0; j < nj; j++) {
            float l;
            source_index(j0 + j, Wi, Wo, align_corners, &xa[j], &xb[j], &l);
            wa[j] = 1.0f - l; wb[j] = l;
        }
        for (size_t i = 0; i < Ho; i++) {
            size_t ya, yb; float l;
            source_index(i, Hi, Ho, align_corners, &ya, &yb, &l);
            const float h0 = 1.0f - l, h1 = l;
            for (size_t c = 0; c < C; c++) {
                const float *r0 = x + c * Hi * Wi + ya * Wi, *r1 = x + c * Hi * Wi + yb * Wi;
                float *o = y + c * Ho * Wo + i * Wo + j0;
                for (size_t j = 0; j < nj; j++)
                    o[j] = h0 * (wa[j] * r0[xa[j]] + wb[j] * r0[xb[j]]) + h1 * (wa[j] * r1[xa[j]] + wb[j] * r1[xb[j]]);
            }
        }
    }
}

void seg_f32_bilinear_argmax_u8(const float *x, size_t C, size_t Hi, size_t Wi,
                                uint8_t *labels, size_t Ho, size_t Wo,
                                size_t row0, size_t row1, int align_corners) {
    size_t xa[SEG_BILINEAR_CHUNK], xb[SEG_BILINEAR_CHUNK];
    float wa[SEG_BILINEAR_CHUNK], wb[SEG_BILINEAR_CHUNK], best[SEG_BILINEAR_CHUNK];
    uint8_t arg[SEG_BILINEAR_CHUNK];
    for (size_t j0 = 0; j0 < Wo; j0 += SEG_BILINEAR_CHUNK) {
        size_t nj = Wo - j0 < SEG_BILINEAR_CHUNK ? Wo - j0 : SEG_BILINEAR_CHUNK;
        for (size_t j = 0; j < nj; j++) {
            float l;
            source_index(j0 + j, Wi, Wo, align_corners, &xa[j], &xb[j], &l);
            wa[j] = 1.0f - l; wb[j] = l;
        }
        for (size_t i = row0; i < row1; i++) {
            size_t ya, yb; float l;
            source_index(i, Hi, Ho, align_corners, &ya, &yb, &l);
            const float h0 = 1.0f - l, h1 = l;
            for (size_t c = 0; c < C; c++) {
                const float *r0 = x + c * Hi * Wi + ya * Wi, *r1 = x + c * Hi * Wi + yb * Wi;
                for (size_t j = 0; j < nj; j++) {
                    float v = h0 * (wa[j] * r0[xa[j]] + wb[j] * r0[xb[j]]) + h1 * (wa[j] * r1[xa[j]] + wb[j] * r1[xb[j]]);
                    if (c == 0 || v > best[j]) { best[j] = v; arg[j] = (uint8_t)c; }
                }
            }
            uint8_t *o = labels + i * Wo + j0;
            for (size_t j = 0; j < nj; j++) o[j] = arg[j];
        }
    }
}

void seg_f32_argmax_channels_u8(const float *x, size_t C, size_t HW, uint8_t *labels) {
    float best[SEG_BILINEAR_CHUNK];
    uint8_t arg[SEG_BILINEAR_CHUNK];
    for (size_t p0 = 0; p0 < HW; p0 += SEG_BILINEAR_CHUNK) {
        size_t np = HW - p0 < SEG_BILINEAR_CHUNK ? HW - p0 : SEG_BILINEAR_CHUNK;
        for (size_t j = 0; j < np; j++) { best[j] = x[p0 + j]; arg[j] = 0; }
        for (size_t c = 1; c < C; c++) {
            const float *r = x + c * HW + p0;
            for (size_t j = 0; j < np; j++) if (r[j] > best[j]) { best[j] = r[j]; arg[j] = (uint8_t)c; }
        }
        for (size_t j = 0; j < np; j++) labels[p0 + j] = arg[j];
    }
}
