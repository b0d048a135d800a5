/* Internal to CSegKernels: the fused first conv (qu8-stem*.c). */
#ifndef SEG_QU8_STEM_H
#define SEG_QU8_STEM_H
#pragma STDC FP_CONTRACT OFF
#include <string.h>

#include "qu8-common.h"

/* One input row quantized to RGBX words: dst[i] = q(r[i]) | q(g[i]) << 8 | q(b[i]) << 16 | pad, i < n. */
typedef void (*seg_qu8_rgbx_row_fn)(const float *r, const float *g, const float *b, size_t n, float inv, float zp,
                                    uint32_t pad, uint32_t *dst);
/* Output pixels [ox_begin, ox_end) of one output row of the 3×3 stride-2 conv: rows[k] is input row 2·oy − 1 + k
   as RGBX words from input pixel −1 to in_w (both ends zp); y points at output pixel 0 of the row; w is the packed
   group (cout ≤ 64); the epilogue has no residual and u8 output. pack = 1: every output's float value
   (acc + bias)·mult is known to lie within ±2^30 (seg_qu8_stem_conv_variant checks), so an integer
   saturating epilogue gives the float clamp's bytes; the kernel may use it. */
typedef void (*seg_qu8_stem_row_fn)(const uint8_t *const rows[3], size_t ox_begin, size_t ox_end, size_t nc,
                                    const int8_t *w, uint8_t *y, size_t y_stride, const seg_qu8_epilogue *e,
                                    int pack);

/* QOps.quantize's rounding, operation for operation: min(max(v·inv + zp, 0), 255) with Swift's max/min
   (max(a, b) = b >= a ? b : a, min(a, b) = b < a ? b : a), then + 1.5·2^23 rounds half to even and leaves the
   integer in the low mantissa bits. */
static inline uint32_t seg_qu8_quantize_scalar(float v, float inv, float zp) {
    float t = v * inv + zp;
    t = 0.0f >= t ? 0.0f : t;
    t = 255.0f < t ? 255.0f : t;
    t = t + 12582912.0f;
    uint32_t bits;
    memcpy(&bits, &t, 4);
    return bits - 0x4B400000u;
}

void seg_qu8_rgbx_row__scalar(const float *, const float *, const float *, size_t, float, float, uint32_t, uint32_t *);
void seg_qu8_rgbx_row__avx2(const float *, const float *, const float *, size_t, float, float, uint32_t, uint32_t *);
void seg_qu8_rgbx_row__avx512(const float *, const float *, const float *, size_t, float, float, uint32_t, uint32_t *);
void seg_qu8_stem_row_ukernel__avx2(const uint8_t *const rows[3], size_t ox_begin, size_t ox_end, size_t nc,
                                    const int8_t *w, uint8_t *y, size_t y_stride, const seg_qu8_epilogue *e, int pack);
void seg_qu8_stem_row_ukernel__avx512vnni(const uint8_t *const rows[3], size_t ox_begin, size_t ox_end, size_t nc,
                                          const int8_t *w, uint8_t *y, size_t y_stride, const seg_qu8_epilogue *e,
                                          int pack);

/* seg_qu8_stem_conv_isa with the conv part chosen (benchmarks compare them): SEG_QU8_STEM_IGEMM runs the ISA's
   igemm on per-tile pointer lists (what an ISA without a row kernel does), SEG_QU8_STEM_DIRECT the ISA's row
   kernel with the float-clamp epilogue, SEG_QU8_STEM_DIRECT_PACK (the default) lets it saturate in integers
   where the range check allows. */
enum { SEG_QU8_STEM_IGEMM, SEG_QU8_STEM_DIRECT, SEG_QU8_STEM_DIRECT_PACK };
void seg_qu8_stem_conv_variant(seg_isa isa, const seg_qu8_stem_args *a, size_t oy_begin, size_t oy_end,
                               void *scratch, int variant);

#endif
