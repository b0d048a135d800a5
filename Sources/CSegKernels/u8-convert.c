#include "CSegKernels.h"

void seg_f32_from_rgb24_affine(const uint8_t *src, size_t src_stride, size_t w, size_t h,
                               const float scale[3], const float bias[3], float *dst) {
    float *r = dst, *g = dst + w * h, *b = dst + 2 * w * h;
    const float s0 = scale[0], s1 = scale[1], s2 = scale[2];
    const float b0 = bias[0], b1 = bias[1], b2 = bias[2];
    for (size_t y = 0; y < h; y++) {
        const uint8_t *s = src + y * src_stride;
        float *ro = r + y * w, *go = g + y * w, *bo = b + y * w;
        for (size_t x = 0; x < w; x++) {
            ro[x] = (float)s[3 * x] * s0 + b0;
            go[x] = (float)s[3 * x + 1] * s1 + b1;
            bo[x] = (float)s[3 * x + 2] * s2 + b2;
        }
    }
}

void seg_f32_from_planar_u8_affine(const uint8_t *const planes[3], size_t stride, size_t w, size_t h,
                                   const float scale[3], const float bias[3], float *dst) {
    for (size_t c = 0; c < 3; c++) {
        const float s = scale[c], b = bias[c];
        const uint8_t *src = planes[c];
        float *out = dst + c * w * h;
        for (size_t y = 0; y < h; y++) {
            const uint8_t *si = src + y * stride;
            float *o = out + y * w;
            for (size_t x = 0; x < w; x++) o[x] = (float)si[x] * s + b;
        }
    }
}

void seg_u8_resize_nearest(const uint8_t *src, size_t src_stride, size_t in_w, size_t in_h,
                           uint8_t *dst, size_t dst_stride, size_t out_w, size_t out_h) {
    /* Column lookup computed once per call on the stack in chunks keeps this allocation-free. */
    for (size_t y = 0; y < out_h; y++) {
        const uint8_t *s = src + (y * in_h / out_h) * src_stride;
        uint8_t *d = dst + y * dst_stride;
        for (size_t x = 0; x < out_w; x++) d[x] = s[x * in_w / out_w];
    }
}

void seg_u8_histogram(const uint8_t *labels, size_t n, uint32_t counts[256]) {
    for (size_t i = 0; i < n; i++) counts[labels[i]]++;
}
