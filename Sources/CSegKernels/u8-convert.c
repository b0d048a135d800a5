#include "CSegKernels.h"
#include <string.h>

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
    /* Source columns from a table made once per chunk of 1024 columns on the stack (a division per pixel
       otherwise); an output row whose source row is the previous one's is a copy of it. */
    uint32_t column[1024];
    for (size_t x0 = 0; x0 < out_w; x0 += 1024) {
        const size_t n = out_w - x0 < 1024 ? out_w - x0 : 1024;
        for (size_t x = 0; x < n; x++) column[x] = (uint32_t)((x0 + x) * in_w / out_w);
        size_t previous = (size_t)-1;
        for (size_t y = 0; y < out_h; y++) {
            const size_t sy = y * in_h / out_h;
            uint8_t *d = dst + y * dst_stride + x0;
            if (sy == previous) {
                memcpy(d, d - dst_stride, n);
                continue;
            }
            const uint8_t *s = src + sy * src_stride;
            for (size_t x = 0; x < n; x++) d[x] = s[column[x]];
            previous = sy;
        }
    }
}

void seg_u8_histogram(const uint8_t *labels, size_t n, uint32_t counts[256]) {
    /* Four partial tables: runs of one label would otherwise make every increment wait for the previous one. */
    uint32_t part[4][256] = {{0}};
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        part[0][labels[i]]++;
        part[1][labels[i + 1]]++;
        part[2][labels[i + 2]]++;
        part[3][labels[i + 3]]++;
    }
    for (; i < n; i++) part[0][labels[i]]++;
    for (int v = 0; v < 256; v++) counts[v] += part[0][v] + part[1][v] + part[2][v] + part[3][v];
}

static inline uint8_t sat_q16(int32_t v) {
    v >>= 16;
    return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

void seg_yuv420_affine(uint8_t *y, size_t y_stride, uint8_t *u, uint8_t *v, size_t c_stride, size_t w, size_t h,
                       const int32_t k[12]) {
    /* |k| < 2^18 and |c| <= 128 keep every sum within int32. A luma pixel's chroma term comes from a row of
       per-pixel terms, so the luma loop is a plain multiply-add the compiler vectorises. */
    int32_t term[4096];
    for (size_t x0 = 0; x0 < w; x0 += 4096) {
        const size_t n = w - x0 < 4096 ? w - x0 : 4096;
        for (size_t cy = 0; 2 * cy < h; cy++) {
            const uint8_t *ur = u + cy * c_stride + x0 / 2, *vr = v + cy * c_stride + x0 / 2;
            for (size_t x = 0; x < n; x++) {
                const int32_t c0 = ur[x >> 1] - 128, c1 = vr[x >> 1] - 128;
                term[x] = k[1] * c0 + k[2] * c1 + k[3] + 32768;
            }
            const int32_t k0 = k[0];
            for (size_t r = 2 * cy; r < 2 * cy + 2 && r < h; r++) {
                uint8_t *yr = y + r * y_stride + x0;
                for (size_t x = 0; x < n; x++) yr[x] = sat_q16(k0 * yr[x] + term[x]);
            }
        }
    }
    for (size_t cy = 0; 2 * cy < h; cy++) {
        uint8_t *ur = u + cy * c_stride, *vr = v + cy * c_stride;
        for (size_t cx = 0; cx < (w + 1) / 2; cx++) {
            const int32_t c0 = ur[cx] - 128, c1 = vr[cx] - 128;
            ur[cx] = sat_q16(k[5] * c0 + k[6] * c1 + k[7] + 32768);
            vr[cx] = sat_q16(k[9] * c0 + k[10] * c1 + k[11] + 32768);
        }
    }
}
