/* Internal to CSegKernels: int8 (qu8) micro-kernel contracts and dispatch table. */
#ifndef SEG_QU8_COMMON_H
#define SEG_QU8_COMMON_H
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#include <stdatomic.h>

#include "CSegKernels.h"

#define SEG_QU8_GROUP 64 /* output channels per packed weight group (NR of the widest kernel) */
#define SEG_QU8_NARROW 4 /* convs with at most this many output channels also get the wk packing */

struct seg_qu8_conv_weights {
    size_t cout, cin, cin4, kh, kw, taps, ngroups, cout64;
    int f32;
    int32_t *bias;  /* [cout64] */
    float *mult;    /* [cout64] */
    float *fbias;   /* [cout64] */
    int8_t *w;      /* group g at w + g·taps·cin4·64: [taps][cin4/4][min(64, cout16 − 64g)][4] */
    _Atomic(int16_t *) w16; /* the AVX2 kernel's, made on its first use (seg_qu8_igemm_weights): the same
                               values widened, group g at w16 + g·taps·cin4·64: [taps][cin4/2][gn][2] */
    void *mem;
    int8_t *wk;     /* cout ≤ SEG_QU8_NARROW only (else NULL): [cout][taps][k64], k64 = round_up(cin4, 64),
                       zero past cin: the reduction-vectorised (dot) kernels' packing */
    size_t k64;
};

struct seg_qu8_indirection {
    seg_qu8_conv_geometry g;
    size_t cin, taps, pixels;
    const uint8_t *base;    /* input base the table was built against */
    const uint8_t **ptrs;   /* [pixels][taps] */
    uint8_t *zero;          /* zero-point row */
};

/* Epilogue parameters for one micro-kernel call; pointers already offset to the tile's first
   channel (bias/mult/fbias) and first pixel (r). */
typedef struct seg_qu8_epilogue {
    const int32_t *bias;
    const float *mult;
    const float *fbias;  /* non-NULL ⇒ fp32 output */
    const uint8_t *r;    /* residual or NULL */
    size_t r_stride;
    float r_mult;
    int32_t r_zp;
    int32_t y_zp;
    float lo, hi;        /* y_min − y_zp, y_max − y_zp */
} seg_qu8_epilogue;

/* Indirect GEMM micro-kernel: mr (1..MR) output pixels × nc (1..64) output channels of one weight
   group. a: indirection rows of the tile's first pixel, a_stride pointers between pixels; each
   pointer ≠ zero is shifted by a_offset bytes. w: the group's packed weights; ks taps; kc = cin4. */
typedef void (*seg_qu8_igemm_fn)(size_t mr, size_t nc, size_t ks, size_t kc, const uint8_t *const *a,
                                 size_t a_stride, ptrdiff_t a_offset, const uint8_t *zero, const int8_t *w,
                                 void *y, size_t y_stride, const seg_qu8_epilogue *e);

/* Fused-add epilogue of the blend: r already offset to the call's first pixel; x_mult = s_x/s_y/16384. */
typedef struct seg_qu8_blend_add {
    const uint8_t *r;
    size_t r_stride;
    float x_mult, r_mult;
    int32_t x_zp16384, r_zp, y_zp;
    float lo, hi;
} seg_qu8_blend_add;

/* Bilinear micro-kernel: n output pixels; for pixel i, taps t[4i..4i+3] (row0 col0, row0 col1,
   row1 col0, row1 col1) and Q14 weights w[4i..4i+3] (sum 16384); c channels. add: NULL → y = (B + 8192) >> 14. */
typedef void (*seg_qu8_bilinear_fn)(size_t n, size_t c, const uint8_t *const *t, const int16_t *w,
                                    uint8_t *y, size_t y_stride, const seg_qu8_blend_add *add);

static inline uint8_t seg_qu8_blend_add_scalar(int32_t b, int32_t r, const seg_qu8_blend_add *e) {
    float v = (float)(b - e->x_zp16384) * e->x_mult;
    float t = (float)(r - e->r_zp) * e->r_mult;
    v = v + t;
    v = v < e->lo ? e->lo : v;
    v = v > e->hi ? e->hi : v;
    return (uint8_t)((int32_t)lrintf(v) + e->y_zp);
}

/* Upsample + argmax, horizontal pass (qu8-upsample-argmax.c): h[c][j] = wa[j]·p[c][xa[j]] + wb[j]·p[c][xb[j]]
   for j < n (n a multiple of 16; xa, xb non-decreasing in j, xa ≤ xb); p is planar [C][p_stride] with at
   least 32 readable floats past the largest index. */
typedef void (*seg_qu8_upsample_row_fn)(size_t C, const float *p, size_t p_stride, const int32_t *xa,
                                        const int32_t *xb, const float *wa, const float *wb, size_t n, float *h,
                                        size_t h_stride);
/* Vertical pass + argmax of one output row: labels[j] = first argmax_c (h0·ha[c][j] + h1·hb[c][j]) for j < n;
   ha/hb rows readable up to n rounded up to 16. */
typedef void (*seg_qu8_argmax_row_fn)(size_t C, const float *ha, const float *hb, size_t h_stride, float h0,
                                      float h1, size_t n, uint8_t *labels);

/* Dot micro-kernel for nc ≤ SEG_QU8_NARROW output channels: same contract as seg_qu8_igemm_fn (mr ≤ dot_mr
   pixels), but w is the wk packing ([nc][ks][k64]) and the epilogue is the scalar one. */
typedef void (*seg_qu8_dot_fn)(size_t mr, size_t nc, size_t ks, size_t kc, const uint8_t *const *a,
                               size_t a_stride, ptrdiff_t a_offset, const uint8_t *zero, const int8_t *wk,
                               size_t k64, void *y, size_t y_stride, const seg_qu8_epilogue *e);

typedef struct seg_qu8_ukernels {
    seg_qu8_igemm_fn igemm;
    size_t igemm_mr;
    int igemm_w16;           /* igemm reads the widened weights (w16, passed as its int8_t pointer) */
    seg_qu8_bilinear_fn bilinear;
    seg_qu8_upsample_row_fn upsample_row;
    seg_qu8_argmax_row_fn argmax_row;
    seg_qu8_dot_fn dot;      /* NULL: narrow convs use igemm too */
    size_t dot_mr;
    /* The decoder blocks' gates (gate.c). */
    void (*modulate)(size_t c, const uint8_t *x, size_t x_stride, uint8_t x_zp, float x_mult, const float *gs,
                     const float *gc, uint8_t *y, size_t y_stride, uint8_t y_zp, size_t p0, size_t p1);
    void (*balanced_sum)(size_t c, const uint8_t *h, size_t h_stride, uint8_t h_zp, const float *mh, const uint8_t *l,
                         size_t l_stride, uint8_t l_zp, const float *ml, uint8_t *y, size_t y_stride, uint8_t y_zp,
                         size_t p0, size_t p1);
} seg_qu8_ukernels;

const seg_qu8_ukernels *seg_qu8_ukernels_get(seg_isa isa);

void seg_qu8_igemm_minmax_ukernel_1x64c4__scalar(size_t, size_t, size_t, size_t, const uint8_t *const *,
                                                 size_t, ptrdiff_t, const uint8_t *, const int8_t *,
                                                 void *, size_t, const seg_qu8_epilogue *);
void seg_qu8_igemm_minmax_ukernel_6x16c2__avx2(size_t, size_t, size_t, size_t, const uint8_t *const *,
                                               size_t, ptrdiff_t, const uint8_t *, const int8_t *,
                                               void *, size_t, const seg_qu8_epilogue *);
/* The weights uk->igemm takes for the group starting at output channel oc0 (the widened copy is made on the
   first call, under a lock; a logically const cache). Aborts when memory runs out. */
const int8_t *seg_qu8_igemm_weights(const seg_qu8_ukernels *uk, const seg_qu8_conv_weights *w, size_t oc0);
void seg_qu8_igemm_minmax_ukernel_6x64c4__avx512vnni(size_t, size_t, size_t, size_t, const uint8_t *const *,
                                                     size_t, ptrdiff_t, const uint8_t *, const int8_t *,
                                                     void *, size_t, const seg_qu8_epilogue *);
void seg_qu8_bilinear_ukernel__scalar(size_t, size_t, const uint8_t *const *, const int16_t *, uint8_t *, size_t,
                                      const seg_qu8_blend_add *);
void seg_qu8_bilinear_ukernel__avx2(size_t, size_t, const uint8_t *const *, const int16_t *, uint8_t *, size_t,
                                    const seg_qu8_blend_add *);
void seg_qu8_bilinear_ukernel__avx512bw(size_t, size_t, const uint8_t *const *, const int16_t *, uint8_t *, size_t,
                                        const seg_qu8_blend_add *);

void seg_qu8_dot_ukernel_4x4__avx512vnni(size_t, size_t, size_t, size_t, const uint8_t *const *, size_t, ptrdiff_t,
                                         const uint8_t *, const int8_t *, size_t, void *, size_t,
                                         const seg_qu8_epilogue *);
#define SEG_QU8_UPSAMPLE_DECL(isa)                                                                              \
    void seg_qu8_upsample_row_ukernel__##isa(size_t, const float *, size_t, const int32_t *, const int32_t *,   \
                                             const float *, const float *, size_t, float *, size_t);            \
    void seg_qu8_argmax_row_ukernel__##isa(size_t, const float *, const float *, size_t, float, float, size_t, \
                                           uint8_t *);
SEG_QU8_UPSAMPLE_DECL(scalar)
SEG_QU8_UPSAMPLE_DECL(avx2)
SEG_QU8_UPSAMPLE_DECL(avx512)
#undef SEG_QU8_UPSAMPLE_DECL

/* Depthwise conv pixel kernel (qu8-dwconv.c): one output pixel, c channels; x[t] the tap's input pixel or NULL
   (padding); w [taps][c16] int32; bias/mult [c16]; e: y_zp, lo, hi only. */
typedef void (*seg_qu8_dw_pixel_fn)(size_t c, size_t c16, size_t taps, const uint8_t *const *x, const int32_t *w,
                                    int32_t x_zp, const int32_t *bias, const float *mult,
                                    const struct seg_qu8_epilogue *e, uint8_t *y);
#define SEG_QU8_DW_PIXEL_DECL(isa)                                                                            \
    void seg_qu8_dw_pixel__##isa(size_t, size_t, size_t, const uint8_t *const *, const int32_t *, int32_t,    \
                                 const int32_t *, const float *, const struct seg_qu8_epilogue *, uint8_t *);
SEG_QU8_DW_PIXEL_DECL(scalar)
SEG_QU8_DW_PIXEL_DECL(avx2)
SEG_QU8_DW_PIXEL_DECL(avx512)
#undef SEG_QU8_DW_PIXEL_DECL

/* Boundary gate row kernel (qu8-boundary-gate.c): c channels of one pixel. */
typedef void (*seg_qu8_gate_row_fn)(size_t c, const uint8_t *a, const uint8_t *b, const float *table, int32_t b_zp,
                                    int32_t y_zp, uint8_t *y);
void seg_qu8_gate_row__scalar(size_t, const uint8_t *, const uint8_t *, const float *, int32_t, int32_t, uint8_t *);
void seg_qu8_gate_row__avx2(size_t, const uint8_t *, const uint8_t *, const float *, int32_t, int32_t, uint8_t *);
void seg_qu8_gate_row__avx512(size_t, const uint8_t *, const uint8_t *, const float *, int32_t, int32_t, uint8_t *);

/* The scalar epilogue, the definition every SIMD variant reproduces. */
static inline uint8_t seg_qu8_requant(int32_t acc, int32_t bias, float mult, const seg_qu8_epilogue *e, int32_t r) {
    float v = (float)(acc + bias) * mult;
    if (e->r) {
        float t = (float)(r - e->r_zp) * e->r_mult;
        v = v + t;
    }
    v = v < e->lo ? e->lo : v;
    v = v > e->hi ? e->hi : v;
    return (uint8_t)((int32_t)lrintf(v) + e->y_zp);
}

#endif
