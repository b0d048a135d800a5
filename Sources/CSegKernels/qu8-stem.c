/* The network's first conv fused with the input's quantization (CSegKernels.h, seg_qu8_stem_conv): the driver,
   the scalar row quantizer and the per-ISA table. */
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#include <string.h>

#include "qu8-stem.h"

static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

/* Input pixels −1 … in_w of one row, 4 bytes each. */
static size_t row_bytes(size_t in_w) { return round_up((in_w + 2) * 4, 64); }

/* The zero-point row plus the ring of three input rows. */
size_t seg_qu8_stem_scratch_bytes(size_t in_w) { return 4 * row_bytes(in_w); }

int seg_qu8_stem_supported(const seg_qu8_conv_weights *w) {
    return w->cin == 3 && w->kh == 3 && w->kw == 3 && w->cout <= SEG_QU8_GROUP && !w->f32;
}

void seg_qu8_rgbx_row__scalar(const float *r, const float *g, const float *b, size_t n, float inv, float zp,
                              uint32_t pad, uint32_t *dst) {
    for (size_t i = 0; i < n; i++)
        dst[i] = seg_qu8_quantize_scalar(r[i], inv, zp) | seg_qu8_quantize_scalar(g[i], inv, zp) << 8 |
                 seg_qu8_quantize_scalar(b[i], inv, zp) << 16 | pad;
}

/* One row of the 8-bit input as RGBX words: a lookup per byte (seg_qu8_stem_pixel_table). */
static void rgbx_row_from_planes(const uint8_t *r, const uint8_t *g, const uint8_t *b, size_t n, const uint32_t *table,
                                 uint32_t pad, uint32_t *dst) {
    for (size_t i = 0; i < n; i++) dst[i] = table[r[i]] | table[256 + g[i]] | table[512 + b[i]] | pad;
}

void seg_qu8_stem_pixel_table(const float scale[3], const float bias[3], float x_scale, uint8_t x_zp,
                              uint32_t table[768]) {
    uint8_t ramp[256];
    for (size_t p = 0; p < 256; p++) ramp[p] = (uint8_t)p;
    const uint8_t *const planes[3] = {ramp, ramp, ramp};
    float values[768];
    /* The same code as the fp32 input's normalisation, so each value has the same bits. */
    seg_f32_from_planar_u8_affine(planes, 256, 256, 1, scale, bias, values);
    const float inv = 1.0f / x_scale, zp = (float)x_zp;
    for (size_t c = 0; c < 3; c++)
        for (size_t p = 0; p < 256; p++)
            table[c * 256 + p] = seg_qu8_quantize_scalar(values[c * 256 + p], inv, zp) << (8 * c);
}

typedef struct {
    seg_qu8_rgbx_row_fn quantize;
    seg_qu8_stem_row_fn conv; /* NULL: the ISA's igemm on per-tile pointer lists */
} stem_ukernels;

static const stem_ukernels g_stem[SEG_ISA_COUNT] = {
    [SEG_ISA_SCALAR] = {seg_qu8_rgbx_row__scalar, NULL},
    [SEG_ISA_AVX2] = {seg_qu8_rgbx_row__avx2, seg_qu8_stem_row_ukernel__avx2},
    [SEG_ISA_AVX512VNNI] = {seg_qu8_rgbx_row__avx512, seg_qu8_stem_row_ukernel__avx512vnni},
};

#define MAX_MR 6 /* the widest igemm tile (6x64c4) */

/* Whether |(float)(acc + bias)·mult| < 2^30 for every output channel and input: |acc| ≤ 255·Σ|w|, and the int32
   acc + bias is at most 2^31 in magnitude whatever it is; float rounding adds a relative 2^−23 at most, far
   from the 2^31 − 256 where cvtps2dq and the zero point's addition could overflow. */
static int pack_is_exact(const seg_qu8_conv_weights *w) {
    const size_t gn = (w->cout + 15) / 16 * 16;
    for (size_t c = 0; c < w->cout; c++) {
        double s = 0;
        for (size_t t = 0; t < 9; t++)
            for (size_t k = 0; k < 3; k++) s += fabs((double)w->w[(t * gn + c) * 4 + k]);
        double bound = 255.0 * s + fabs((double)w->bias[c]);
        if (bound > 2147483648.0) bound = 2147483648.0;
        if (!(bound * fabs((double)w->mult[c]) < 1073741824.0)) return 0;
    }
    return 1;
}

void seg_qu8_stem_conv_variant(seg_isa isa, const seg_qu8_stem_args *a, size_t oy_begin, size_t oy_end,
                               void *scratch, int variant) {
    if ((unsigned)isa >= SEG_ISA_COUNT || !seg_isa_supported(isa)) isa = seg_isa_active();
    const seg_qu8_ukernels *uk = seg_qu8_ukernels_get(isa);
    const stem_ukernels *sk = &g_stem[isa];
    const seg_qu8_conv_weights *w = a->w;
    const size_t in_h = a->in_h, in_w = a->in_w;
    if (in_h == 0 || in_w == 0) return;
    const size_t out_h = (in_h - 1) / 2 + 1, out_w = (in_w - 1) / 2 + 1;
    if (oy_end > out_h) oy_end = out_h;
    if (oy_begin >= oy_end) return;

    const size_t rb = row_bytes(in_w), plane = in_h * in_w;
    uint8_t *zrow = scratch;
    uint8_t *ring[3] = {zrow + rb, zrow + 2 * rb, zrow + 3 * rb};
    size_t have[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX}; /* input row held by each ring slot */
    memset(zrow, a->x_zp, rb);
    const uint32_t zpx = 0x01010101u * a->x_zp, pad = (uint32_t)a->x_zp << 24;
    const float inv = 1.0f / a->x_scale, zp = (float)a->x_zp;
    const seg_qu8_epilogue e = {
        .bias = w->bias,
        .mult = w->mult,
        .y_zp = a->y_zp,
        .lo = (float)((int32_t)a->y_min - (int32_t)a->y_zp),
        .hi = (float)((int32_t)a->y_max - (int32_t)a->y_zp),
    };
    const int pack = variant == SEG_QU8_STEM_DIRECT_PACK && pack_is_exact(w);
    for (size_t oy = oy_begin; oy < oy_end; oy++) {
        const uint8_t *rows[3];
        for (size_t k = 0; k < 3; k++) {
            const size_t iy = 2 * oy + k - 1; /* wraps to SIZE_MAX above the image */
            if (iy >= in_h) { rows[k] = zrow; continue; }
            uint32_t *px = (uint32_t *)ring[iy % 3];
            if (have[iy % 3] != iy) {
                px[0] = zpx;
                if (a->x) {
                    const float *src = a->x + iy * in_w;
                    sk->quantize(src, src + plane, src + 2 * plane, in_w, inv, zp, pad, px + 1);
                } else {
                    const size_t o = iy * a->plane_stride;
                    rgbx_row_from_planes(a->planes[0] + o, a->planes[1] + o, a->planes[2] + o, in_w, a->pixel_table,
                                         pad, px + 1);
                }
                px[in_w + 1] = zpx;
                have[iy % 3] = iy;
            }
            rows[k] = (const uint8_t *)px;
        }
        uint8_t *y = a->y + oy * out_w * a->y_stride;
        if (variant != SEG_QU8_STEM_IGEMM && sk->conv) {
            sk->conv(rows, 0, out_w, w->cout, w->w, y, a->y_stride, &e, pack);
            continue;
        }
        const size_t mr = uk->igemm_mr;
        const uint8_t *ptrs[MAX_MR * 9];
        for (size_t ox = 0; ox < out_w; ox += mr) {
            const size_t m = out_w - ox < mr ? out_w - ox : mr;
            for (size_t i = 0; i < m; i++)
                for (size_t t = 0; t < 9; t++) ptrs[i * 9 + t] = rows[t / 3] + (2 * (ox + i) + t % 3) * 4;
            uk->igemm(m, w->cout, 9, 4, ptrs, 9, 0, zrow, seg_qu8_igemm_weights(uk, w, 0), y + ox * a->y_stride, a->y_stride, &e);
        }
    }
}

void seg_qu8_stem_conv_isa(seg_isa isa, const seg_qu8_stem_args *a, size_t oy_begin, size_t oy_end, void *scratch) {
    seg_qu8_stem_conv_variant(isa, a, oy_begin, oy_end, scratch, SEG_QU8_STEM_DIRECT_PACK);
}

void seg_qu8_stem_conv(const seg_qu8_stem_args *a, size_t oy_begin, size_t oy_end, void *scratch) {
    seg_qu8_stem_conv_variant(seg_isa_active(), a, oy_begin, oy_end, scratch, SEG_QU8_STEM_DIRECT_PACK);
}
