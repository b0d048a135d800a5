#ifndef CSEGKERNELS_H
#define CSEGKERNELS_H
/* segstream C micro-kernels. Every SIMD kernel has a scalar reference beside it, and the dispatch
   table (cpu.c) is filled once from CPUID/XCR0, overridable with SEGSTREAM_ISA=scalar|avx2|avx512vnni. */
#include <stddef.h>
#include <stdint.h>

#endif

/* ==== render: frame annotation kernels (u8-render.c) ===================================================
   Packed RGB24 images, one call per row or rectangle; every pointer is caller-checked. Blending is exact
   integer arithmetic, identical on every ISA:
       out = (a * (256 - w) + b * w + 128) >> 8        a = image byte, b = colour byte, w in 0...256
   so w = 0 returns a unchanged and w = 256 returns b exactly. From an opacity alpha in [0, 1] the caller
   uses w = round(alpha * 256). */
#ifndef CSEGKERNELS_RENDER_H
#define CSEGKERNELS_RENDER_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/* Size in uint16_t of a blend table: 256 labels × {256 - w, r*w + 128, g*w + 128, b*w + 128}. */
#define SEG_RENDER_BLEND_LUT_SIZE 1024

/* Builds a blend table from per-label colours (256 × RGB) and weights (256 values in 0...256; larger
   values are clamped to 256). Labels with weight 0 leave the image untouched. */
void seg_u8_blend_lut_init(const uint8_t *colors, const uint16_t *weights, uint16_t *lut);

/* out[i] = blend(rgb[i], colour[labels[i]], weight[labels[i]]) for n pixels, by the formula above.
   out may equal rgb (in place); otherwise the two must not overlap. */
void seg_u8_overlay_blend(const uint8_t *rgb, const uint8_t *labels, size_t n, const uint16_t *lut,
                          uint8_t *out);

/* out[i] = colors[labels[i]] (256 × RGB) for n pixels. */
void seg_u8_palette_map(const uint8_t *labels, size_t n, const uint8_t *colors, uint8_t *out);

/* present[labels[i]] = 1 for every i < n; other entries of present[256] are left as they are. */
void seg_u8_label_presence(const uint8_t *labels, size_t n, uint8_t *present);

/* Blends colour (r, g, b) with weight w (0...256) over the rectangle x, y, rw, rh of an img_w × img_h
   image with row stride `stride` bytes; the rectangle is clipped to the image. w = 256 fills solid. */
void seg_u8_fill_rect_blend(uint8_t *img, size_t stride, int img_w, int img_h, int x, int y, int rw, int rh,
                            uint8_t r, uint8_t g, uint8_t b, int w);

/* Draws a 1-bit bitmap of nrows rows × ncols (<= 8) columns at (x, y), each set pixel a scale × scale
   square of colour (r, g, b); bit (ncols - 1 - c) of rows[y] is column c. Clipped to the image. */
void seg_u8_draw_bitmap(uint8_t *img, size_t stride, int img_w, int img_h, int x, int y,
                        const uint8_t *rows, int nrows, int ncols, int scale, uint8_t r, uint8_t g, uint8_t b);

#ifdef __cplusplus
}
#endif
#endif /* CSEGKERNELS_RENDER_H */
/* ==== end render ======================================================================================= */
