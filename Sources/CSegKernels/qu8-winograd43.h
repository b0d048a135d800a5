/* Internal to CSegKernels: the int8 Winograd F(4×4,3×3) contracts shared by the scalar reference
   (qu8-winograd43.c), the AVX2 and the AVX-512 VNNI kernels (qu8-winograd43-avx2.c, -avx512vnni.c).

   Exactness. With V = Bᵀ·d·B (d the 6×6 u8 input patch), U = G·g·Gᵀ (integer G below) and
   S = A24ᵀ·(Σ_c U⊙V)·A24, S = 576·acc exactly, acc being the dense conv's accumulator Σ x·w (padding
   reads x_zp, as in seg_qu8_conv). All arithmetic after the int16 operands is modulo 2^32 (vpdpwssd and
   vpaddd wrap), which preserves S mod 2^32; multiplying by 9⁻¹ mod 2^32 gives 64·acc mod 2^32, which fixes
   acc when |acc − centre| < 2^25. The reduction is cut into slices of input channels for which that holds
   (chosen at pack time); their accumulators add up exactly in int32. |V| ≤ 100·255, |U| ≤ 49·127: int16. */
#ifndef SEG_QU8_WINOGRAD43_H
#define SEG_QU8_WINOGRAD43_H
#include "qu8-common.h"

#define SEG_QU8_WINO_INV9 0x38E38E39u /* 9·INV9 ≡ 1 (mod 2^32) */
#define SEG_QU8_WINO_CBLOCK 32        /* input channels per transform step (one zmm of int16) */

struct seg_qu8_winograd43_weights {
    size_t cout, cin, kc2;  /* kc2 = ceil(cin/2): int16 pairs per reduction */
    size_t cin_pad;         /* cin rounded up to SEG_QU8_WINO_CBLOCK: int16 per tile row of V */
    size_t ngroups;         /* groups of 64 output channels */
    size_t nslices;         /* input-channel slices: pairs [slice[i], slice[i+1]) */
    size_t *slice;          /* [nslices + 1] */
    int16_t *u;             /* group g, element e at u + (g·36 + e)·kc2·128: [kc2][gn][2], gn = that group's
                               channels rounded up to 16, zero past cin and cout */
    int32_t *bias;          /* [ngroups·64] the dense pack's u8 bias */
    float *mult;            /* [ngroups·64] */
    int32_t *centre;        /* [nslices][ngroups·64] midpoint of a slice's accumulator range over all u8 inputs */
    uint32_t *centre64;     /* [nslices][ngroups·64] 64·centre mod 2^32 */
    void *mem;
};

/* Epilogue of one output transform call: channel arrays offset to the call's first channel. */
typedef struct seg_qu8_wino_epilogue {
    const int32_t *bias, *centre;
    const uint32_t *centre64;
    const float *mult;
    float r_mult;
    int32_t r_zp, y_zp;
    float lo, hi;
    int has_r;
} seg_qu8_wino_epilogue;

/* Input transform of one tile: p[36] point at the 6×6 input pixels (row-major; padding points at a row of
   x_zp); writes V[e][c] = (Bᵀ·d·B)[e] at v + e·e_stride + c for c < cin_pad (0 past cin). */
typedef void (*seg_qu8_wino_input_fn)(size_t cin, size_t cin_pad, const uint8_t *const p[36], int16_t *v,
                                      size_t e_stride);
/* Products of one transform element: for i < mr tiles and j < round_up(nc, 16) channels,
   m[i·m_stride + j] = Σ_k v[i·v_stride + k]·u[(k/2·gn + j)·2 + k%2] (mod 2^32), k < 2·kc2. */
typedef void (*seg_qu8_wino_gemm_fn)(size_t mr, size_t nc, size_t kc2, const int16_t *v, size_t v_stride,
                                     const int16_t *u, int32_t *m, size_t m_stride);
/* Output transform of one tile and slice, nc channels: M[e][j] at m + e·e_stride + j; y[i] (r[i]) is output
   (residual) pixel i of the 4×4 tile, row-major, already offset to the first channel, NULL when outside.
   partial[i·64 + j]: the earlier slices' accumulator, added when acc_in; with acc_out the sum is stored
   there instead of being requantized. */
typedef void (*seg_qu8_wino_output_fn)(size_t nc, const int32_t *m, size_t e_stride, const seg_qu8_wino_epilogue *e,
                                       uint8_t *const y[16], const uint8_t *const r[16], int32_t *partial,
                                       int acc_in, int acc_out);

typedef struct seg_qu8_wino_ukernels {
    seg_qu8_wino_input_fn input;
    seg_qu8_wino_gemm_fn gemm;
    size_t gemm_mr;
    seg_qu8_wino_output_fn output;
} seg_qu8_wino_ukernels;

void seg_qu8_wino_input__avx2(size_t, size_t, const uint8_t *const[36], int16_t *, size_t);
void seg_qu8_wino_gemm_6x16__avx2(size_t, size_t, size_t, const int16_t *, size_t, const int16_t *, int32_t *, size_t);
void seg_qu8_wino_output__avx2(size_t, const int32_t *, size_t, const seg_qu8_wino_epilogue *, uint8_t *const[16],
                               const uint8_t *const[16], int32_t *, int, int);
void seg_qu8_wino_input__avx512vnni(size_t, size_t, const uint8_t *const[36], int16_t *, size_t);
void seg_qu8_wino_gemm_6x64__avx512vnni(size_t, size_t, size_t, const int16_t *, size_t, const int16_t *, int32_t *,
                                        size_t);
void seg_qu8_wino_output__avx512vnni(size_t, const int32_t *, size_t, const seg_qu8_wino_epilogue *,
                                     uint8_t *const[16], const uint8_t *const[16], int32_t *, int, int);

/* acc from S = 576·acc (mod 2^32): the definition every kernel reproduces. */
static inline int32_t seg_qu8_wino_recover(uint32_t s, int32_t centre, uint32_t centre64) {
    return (int32_t)(((int32_t)(s * SEG_QU8_WINO_INV9 - centre64) >> 6) + centre);
}

#endif
