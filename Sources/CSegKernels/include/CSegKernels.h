#ifndef CSEGKERNELS_H
#define CSEGKERNELS_H
/* segstream C micro-kernels. Every SIMD kernel has a scalar reference beside it, and the dispatch
   table (cpu.c) is filled once from CPUID/XCR0, overridable with SEGSTREAM_ISA=scalar|avx2|avx512vnni. */
#include <stddef.h>
#include <stdint.h>

/* ===================================================================================================
 * fp32 kernels (files f32-*.c). Owner: the fp32 engine.
 * Layout everywhere: planar CHW (batch 1 of NCHW), row-major, element strides; a "channel count"
 * argument lets the caller hand a kernel any contiguous range of channels (threads split on it).
 * =================================================================================================== */

/* im2col for a range of output pixels [n0, n0+ncols) of a conv, writing a row-major K×ncols panel with
   K = C·kh·kw (row k = (c·kh + ky)·kw + kx, the PyTorch weight order). Taps in the padding are 0. */
void seg_f32_im2col_panel(const float *x, size_t C, size_t H, size_t W,
                          size_t kh, size_t kw, size_t sh, size_t sw, size_t ph, size_t pw,
                          size_t dh, size_t dw, size_t Ho, size_t Wo,
                          size_t n0, size_t ncols, float *col);

/* GEMM epilogue over an M×N block with row stride ldy: y = act(y + bias[m] + res[m][n]).
   bias and res may be NULL; relu != 0 clamps at 0. */
void seg_f32_bias_residual_relu(float *y, size_t ldy, size_t M, size_t N,
                                const float *bias, const float *res, size_t ldres, int relu);

/* Max-pool, window k, stride s, padding p (padding never wins, as in PyTorch). C×H×W → C×Ho×Wo. */
void seg_f32_maxpool2d(const float *x, size_t C, size_t H, size_t W, size_t k, size_t s, size_t p,
                       float *y, size_t Ho, size_t Wo);

/* Adaptive average pool with PyTorch's bins: start = floor(i·L/S), end = ceil((i+1)·L/S). */
void seg_f32_adaptive_avgpool2d(const float *x, size_t C, size_t H, size_t W, float *y, size_t Ho, size_t Wo);

/* Bilinear resize (PyTorch upsample_bilinear2d without scale factors), C×Hi×Wi → C×Ho×Wo. */
void seg_f32_bilinear_resize(const float *x, size_t C, size_t Hi, size_t Wi,
                             float *y, size_t Ho, size_t Wo, int align_corners);

/* FAM warp fused with the upsample and the residual add, for output rows [row0, row1):
   out[c,i,j] = lat[c,i,j] + grid_sample(high, base(i,j) + flow(i,j)/(Wo,Ho))  (bilinear, zero padding).
   high: C×Hi×Wi; flow: 2×Ho×Wo (channel 0 = x, 1 = y); lat, out: C×Ho×Wo. lat may be NULL (pure warp). */
void seg_f32_flow_warp_add(const float *high, size_t C, size_t Hi, size_t Wi,
                           const float *flow, const float *lat, float *out, size_t Ho, size_t Wo,
                           size_t row0, size_t row1, int align_corners);

/* Argmax over channels: x C×HW → labels[HW] (first maximum wins, as torch.argmax). */
void seg_f32_argmax_channels_u8(const float *x, size_t C, size_t HW, uint8_t *labels);

/* Bilinear resize (align_corners convention as given) fused with the channel argmax, for output rows
   [row0, row1): the full-resolution logits are never stored. Values are computed exactly as
   seg_f32_bilinear_resize computes them, so the labels equal argmax(resize(x)). */
void seg_f32_bilinear_argmax_u8(const float *x, size_t C, size_t Hi, size_t Wi,
                                uint8_t *labels, size_t Ho, size_t Wo,
                                size_t row0, size_t row1, int align_corners);

/* Winograd F(2×2,3×3) for 3×3 stride-1 convs (padding `pad`, no dilation). Output tiles are 2×2, numbered
   row-major over tilesH×tilesW = ceil(Ho/2)×ceil(Wo/2); a chunk is tiles [t0, t0+nt).
   weights: w C_out×C_in×3×3 → u[16][C_out][C_in].
   input:   x C×H×W → v[16][C][nt] (the transformed 4×4 input tiles of the chunk).
   output:  m[16][C_out][nt] (= u[e]·v[e]) → y C_out×Ho×Wo, with bias/residual/ReLU fused (res has y's layout). */
void seg_f32_winograd23_weights(const float *w, size_t cout, size_t cin, float *u);
void seg_f32_winograd23_input(const float *x, size_t C, size_t H, size_t W, size_t pad, size_t tilesW,
                              size_t t0, size_t nt, float *v);
void seg_f32_winograd23_output(const float *m, size_t cout, size_t nt, size_t tilesW, size_t t0,
                               size_t Ho, size_t Wo, const float *bias, const float *res, int relu, float *y);

/* Widening conversions for model loading (n elements, little-endian source). */
void seg_f32_from_f16(const uint16_t *src, float *dst, size_t n);
void seg_f32_from_bf16(const uint16_t *src, float *dst, size_t n);

/* ============================== end of fp32 kernels ============================================== */

#endif
