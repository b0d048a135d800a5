/* Frame annotation kernels: palette overlay, mask, translucent boxes and bitmap text (see CSegKernels.h,
   "render" section, for the blend formula). Plain C that the compiler vectorises where it can; the
   per-label gathers in the overlay are scalar by nature and cost about one load per byte. */
#include "CSegKernels.h"

void seg_u8_blend_lut_init(const uint8_t *colors, const uint16_t *weights, uint16_t *lut) {
    for (int l = 0; l < 256; l++) {
        uint32_t w = weights[l] > 256 ? 256 : weights[l];
        lut[4 * l + 0] = (uint16_t)(256 - w);
        for (int k = 0; k < 3; k++) lut[4 * l + 1 + k] = (uint16_t)(colors[3 * l + k] * w + 128);
    }
}

void seg_u8_overlay_blend(const uint8_t *rgb, const uint8_t *labels, size_t n, const uint16_t *lut,
                          uint8_t *out) {
    /* a*(256-w) + b*w + 128 <= 255*256 + 128 < 65536, so 32-bit sums never overflow and >> 8 fits a byte. */
    for (size_t i = 0; i < n; i++) {
        const uint16_t *e = lut + 4 * (size_t)labels[i];
        uint32_t iw = e[0];
        uint8_t r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
        out[3 * i + 0] = (uint8_t)((r * iw + e[1]) >> 8);
        out[3 * i + 1] = (uint8_t)((g * iw + e[2]) >> 8);
        out[3 * i + 2] = (uint8_t)((b * iw + e[3]) >> 8);
    }
}

void seg_u8_palette_map(const uint8_t *labels, size_t n, const uint8_t *colors, uint8_t *out) {
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = colors + 3 * (size_t)labels[i];
        out[3 * i + 0] = c[0];
        out[3 * i + 1] = c[1];
        out[3 * i + 2] = c[2];
    }
}

void seg_u8_label_presence(const uint8_t *labels, size_t n, uint8_t *present) {
    for (size_t i = 0; i < n; i++) present[labels[i]] = 1;
}

void seg_u8_fill_rect_blend(uint8_t *img, size_t stride, int img_w, int img_h, int x, int y, int rw, int rh,
                            uint8_t r, uint8_t g, uint8_t b, int w) {
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + rw > img_w ? img_w : x + rw, y1 = y + rh > img_h ? img_h : y + rh;
    if (x0 >= x1 || y0 >= y1) return;
    uint32_t wt = w < 0 ? 0 : (w > 256 ? 256 : (uint32_t)w), iw = 256 - wt;
    uint32_t cr = r * wt + 128, cg = g * wt + 128, cb = b * wt + 128;
    size_t n = (size_t)(x1 - x0);
    for (int yy = y0; yy < y1; yy++) {
        uint8_t *p = img + (size_t)yy * stride + 3 * (size_t)x0;
        for (size_t i = 0; i < n; i++) {
            p[3 * i + 0] = (uint8_t)((p[3 * i + 0] * iw + cr) >> 8);
            p[3 * i + 1] = (uint8_t)((p[3 * i + 1] * iw + cg) >> 8);
            p[3 * i + 2] = (uint8_t)((p[3 * i + 2] * iw + cb) >> 8);
        }
    }
}
