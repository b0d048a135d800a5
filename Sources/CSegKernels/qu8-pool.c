/* int8 pooling on u8 NHWC, scale and zero point unchanged. Scalar: both cost next to nothing in SFNet. */
#include "qu8-common.h"

void seg_qu8_adaptive_avgpool(size_t c, size_t in_h, size_t in_w, const uint8_t *x, size_t x_stride,
                              size_t out_h, size_t out_w, uint8_t *y, size_t y_stride) {
    uint32_t sum[256];
    for (size_t oy = 0; oy < out_h; oy++) {
        size_t y0 = oy * in_h / out_h, y1 = ((oy + 1) * in_h + out_h - 1) / out_h;
        for (size_t ox = 0; ox < out_w; ox++) {
            size_t x0 = ox * in_w / out_w, x1 = ((ox + 1) * in_w + out_w - 1) / out_w;
            const uint32_t n = (uint32_t)((y1 - y0) * (x1 - x0));
            uint8_t *dst = y + (oy * out_w + ox) * y_stride;
            for (size_t c0 = 0; c0 < c; c0 += 256) {
                size_t cn = c - c0 < 256 ? c - c0 : 256;
                for (size_t k = 0; k < cn; k++) sum[k] = 0;
                for (size_t iy = y0; iy < y1; iy++)
                    for (size_t ix = x0; ix < x1; ix++) {
                        const uint8_t *p = x + (iy * in_w + ix) * x_stride + c0;
                        for (size_t k = 0; k < cn; k++) sum[k] += p[k];
                    }
                for (size_t k = 0; k < cn; k++) dst[c0 + k] = (uint8_t)((sum[k] + n / 2) / n);
            }
        }
    }
}

void seg_qu8_maxpool_3x3s2p1(size_t c, size_t in_h, size_t in_w, const uint8_t *x, size_t x_stride,
                             uint8_t *y, size_t y_stride, size_t row_begin, size_t row_end) {
    const size_t out_h = (in_h + 2 - 3) / 2 + 1, out_w = (in_w + 2 - 3) / 2 + 1;
    if (row_end > out_h) row_end = out_h;
    for (size_t oy = row_begin; oy < row_end; oy++) {
        size_t y0 = oy * 2 == 0 ? 0 : oy * 2 - 1, y1 = oy * 2 + 2 < in_h ? oy * 2 + 2 : in_h;
        for (size_t ox = 0; ox < out_w; ox++) {
            size_t x0 = ox * 2 == 0 ? 0 : ox * 2 - 1, x1 = ox * 2 + 2 < in_w ? ox * 2 + 2 : in_w;
            uint8_t *dst = y + (oy * out_w + ox) * y_stride;
            for (size_t k = 0; k < c; k++) dst[k] = 0;
            for (size_t iy = y0; iy < y1; iy++)
                for (size_t ix = x0; ix < x1; ix++) {
                    const uint8_t *p = x + (iy * in_w + ix) * x_stride;
                    for (size_t k = 0; k < c; k++) dst[k] = p[k] > dst[k] ? p[k] : dst[k];
                }
        }
    }
}
