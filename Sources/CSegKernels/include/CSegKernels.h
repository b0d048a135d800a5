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
   input:   x C×H×W → v[16][C][nt] (the transformed 4×4 input tiles of the chunk), at v[(e·C + c)·ldv + j]
            (ldv ≥ nt: a caller can transform part of a wider chunk).
   output:  m[16][C_out][nt] (= u[e]·v[e]) → y C_out×Ho×Wo, with bias/residual/ReLU fused (res has y's layout). */
void seg_f32_winograd23_weights(const float *w, size_t cout, size_t cin, float *u);
void seg_f32_winograd23_input(const float *x, size_t C, size_t H, size_t W, size_t pad, size_t tilesW,
                              size_t t0, size_t nt, float *v, size_t ldv);
void seg_f32_winograd23_output(const float *m, size_t cout, size_t nt, size_t tilesW, size_t t0,
                               size_t Ho, size_t Wo, const float *bias, const float *res, int relu, float *y);

/* Winograd F(4×4,3×3), the same contract with 4×4 output tiles over ceil(Ho/4)×ceil(Wo/4) and 6×6 transforms:
   weights u[36][C_out][C_in]; input v[36][C][nt]; output from m[36][C_out][nt]. The transforms come per ISA
   (seg_f32_ukernels_get below); every variant is bit-identical to the scalar one. */
void seg_f32_winograd43_weights(const float *w, size_t cout, size_t cin, float *u);
void seg_f32_winograd43_input__scalar(const float *x, size_t C, size_t H, size_t W, size_t pad, size_t tilesW,
                                      size_t t0, size_t nt, float *v, size_t ldv);
void seg_f32_winograd43_input__avx2(const float *x, size_t C, size_t H, size_t W, size_t pad, size_t tilesW,
                                    size_t t0, size_t nt, float *v, size_t ldv);
void seg_f32_winograd43_input__avx512(const float *x, size_t C, size_t H, size_t W, size_t pad, size_t tilesW,
                                      size_t t0, size_t nt, float *v, size_t ldv);
void seg_f32_winograd43_output__scalar(const float *m, size_t cout, size_t nt, size_t tilesW, size_t t0, size_t Ho,
                                       size_t Wo, const float *bias, const float *res, int relu, float *y);
void seg_f32_winograd43_output__avx2(const float *m, size_t cout, size_t nt, size_t tilesW, size_t t0, size_t Ho,
                                     size_t Wo, const float *bias, const float *res, int relu, float *y);
void seg_f32_winograd43_output__avx512(const float *m, size_t cout, size_t nt, size_t tilesW, size_t t0, size_t Ho,
                                       size_t Wo, const float *bias, const float *res, int relu, float *y);

/* Dilated 3×3 stride-1 convs with padding = dilation d as one undilated 3×3 pad-1 conv (f32-dilation-phases.c):
   the d² phases x[c][py + d·i][px + d·j] of each channel, stacked phase k = py·d + px at rows k·(hp + 1)…,
   one zero row between phases, zero-filled to hp × wp (hp = ceil(H/d), wp = ceil(W/d)). p: C × hs × wp with
   hs = d²·(hp + 1) − 1. Scatter is the inverse for a same-size output (separator rows are dropped), fused with
   y = relu?(p + res) (res C×H×W or NULL; relu != 0 clamps at 0). */
void seg_f32_phases_gather(const float *x, size_t C, size_t H, size_t W, size_t d, float *p);
void seg_f32_phases_scatter(const float *p, size_t C, size_t H, size_t W, size_t d, const float *res, int relu,
                            float *y);

/* Depthwise convolution (f32-dwconv.c), stride 1, k×k taps dilated by d, padding p on every side, channels [0, C)
   (callers offset x, w, bias, res and y to split channels), CHW: Ho = H + 2p − d(k−1), Wo likewise;
   y[c][i][j] = act(Σ_{u,v} w[c][u·k + v]·x[c][i − p + d·u][j − p + d·v] + bias[c] + res[c][i][j]), taps outside
   the map skipped (zero padding), summed in tap order with one rounding per product and per sum (no FMA), then
   seg_f32_bias_residual_relu: every ISA is bit-identical to the scalar one. bias/res may be NULL. */
void seg_f32_dwconv(const float *x, size_t C, size_t H, size_t W, size_t k, size_t d, size_t p, const float *w,
                    const float *bias, const float *res, int relu, float *y);
void seg_f32_dwconv_isa(int isa, const float *x, size_t C, size_t H, size_t W, size_t k, size_t d, size_t p,
                        const float *w, const float *bias, const float *res, int relu, float *y);
/* Its row kernels: y[j] = y[j] + w·x[j] for j < n. */
typedef void (*seg_f32_axpy_row_fn)(float *y, const float *x, float w, size_t n);
void seg_f32_axpy_row__scalar(float *y, const float *x, float w, size_t n);
void seg_f32_axpy_row__avx2(float *y, const float *x, float w, size_t n);
void seg_f32_axpy_row__avx512(float *y, const float *x, float w, size_t n);

/* Boundary gate of SeENet's BAM (f32-boundary-gate.c): y[j] = b[j]·(1 − σ(a[j])) = b[j] / (1 + e^a[j]), j < n (y may be
   b). Scalar: expf; the SIMD variants use their own e^x, within 1e-6 relative of the scalar result. */
void seg_f32_gate(const float *a, const float *b, float *y, size_t n);
void seg_f32_gate_isa(int isa, const float *a, const float *b, float *y, size_t n);
void seg_f32_gate_row__scalar(const float *a, const float *b, float *y, size_t n);
void seg_f32_gate_row__avx2(const float *a, const float *b, float *y, size_t n);
void seg_f32_gate_row__avx512(const float *a, const float *b, float *y, size_t n);

/* Widening conversions for model loading (n elements, little-endian source). */
void seg_f32_from_f16(const uint16_t *src, float *dst, size_t n);
void seg_f32_from_bf16(const uint16_t *src, float *dst, size_t n);

/* ============================== end of fp32 kernels ============================================== */

/* ============================================================================================
 * CPU / ISA dispatch (cpu.c)
 * ============================================================================================ */

typedef enum seg_isa {
    SEG_ISA_SCALAR = 0,      /* plain C, the test oracle */
    SEG_ISA_AVX2 = 1,        /* AVX2 + FMA (bit-identical to scalar) */
    SEG_ISA_AVX512VNNI = 2,  /* AVX-512 F/CD/BW/DQ/VL + VNNI (bit-identical to scalar) */
    SEG_ISA_COUNT = 3
} seg_isa;

/* "scalar", "avx2", "avx512vnni"; "?" for anything else. */
const char *seg_isa_name(seg_isa isa);
/* 1 when the CPU and the OS (OSXSAVE + XCR0) support `isa`. */
int seg_isa_supported(seg_isa isa);
/* The best ISA the CPU and OS support. */
seg_isa seg_isa_best(void);
/* The ISA the dispatch table uses: seg_isa_best(), or SEGSTREAM_ISA when it names a supported ISA. */
seg_isa seg_isa_active(void);
/* 0: SEGSTREAM_ISA unset or empty; 1: honoured; -1: refused (unknown name or unsupported by this CPU;
   a message went to stderr and the table fell back to seg_isa_best()). */
int seg_isa_override_status(void);
/* The rule applied to SEGSTREAM_ISA, exposed for tests: request NULL/"" → 0 and *isa = best; a supported
   ISA name → 1 and *isa = it; anything else → −1, *isa = best, and (unless quiet) a message on stderr. */
int seg_isa_resolve(const char *request, seg_isa *isa, int quiet);

/* This CPU's peak multiply-accumulate rate on one core, GMAC/s, measured for about `seconds`: the kernels' own
   instruction sequence (int8: vpdpbusd with AVX-512 VNNI, vpmaddwd + vpaddd with AVX2; fp32: FMAs of the ISA's
   widest vectors) in independent chains, fastest of short chunks (under a millisecond each). 0 for the scalar ISA
   or an unsupported one.
   What `segstream profile` divides achieved rates by. */
double seg_peak_gmacs(seg_isa isa, int int8, double seconds);
/* One probe run (tests): `rounds` rounds of the probe's chains; returns the MACs done (0: no probe for `isa`). For
   int8, *int8_lane_sum (may be NULL) gets lane 0 summed over the chains: sum(k) + rounds·chains·p, p the lane's
   product sum per round (−12 for AVX2, −24 for AVX-512 VNNI), so a test can check the loop really ran. */
uint64_t seg_peak_probe(seg_isa isa, int int8, uint64_t rounds, int32_t *int8_lane_sum);

/* fp32 kernels chosen per ISA (only the Winograd F(4,3) transforms so far; AVX2 runs the scalar ones). */
typedef struct seg_f32_ukernels {
    void (*winograd43_input)(const float *x, size_t C, size_t H, size_t W, size_t pad, size_t tilesW, size_t t0,
                             size_t nt, float *v, size_t ldv);
    void (*winograd43_output)(const float *m, size_t cout, size_t nt, size_t tilesW, size_t t0, size_t Ho,
                              size_t Wo, const float *bias, const float *res, int relu, float *y);
    void (*modulate)(const float *x, size_t C, size_t HW, const float *gs, const float *gc, float *y, size_t p0,
                     size_t p1);
    void (*balanced_sum)(const float *h, const float *l, size_t C, size_t HW, const float *wh, const float *wl,
                         float *y, size_t p0, size_t p1);
} seg_f32_ukernels;
/* The table for `isa`, or for seg_isa_active() when `isa` is not supported here. */
const seg_f32_ukernels *seg_f32_ukernels_get(seg_isa isa);

/* The decoder blocks' gates (gate.c; issue #15, docs/blocks.md), planar CHW, pixels [p0, p1) of HW per channel,
   bit-identical in every ISA (AVX2 and AVX-512 run gate-avx2.c):
   modulate (FBNet DFM):         y[c][p] = x[c][p] + (x[c][p]·gs[p])·gc[c]
   balanced sum (IFBFNet):       y[c][p] = wh[c]·h[c][p] + wl[c]·l[c][p]
   gs, gc, wh, wl are the gates (seg_f32_sigmoid of the gate convs' logits). */
void seg_f32_modulate_isa(seg_isa isa, const float *x, size_t C, size_t HW, const float *gs, const float *gc, float *y,
                          size_t p0, size_t p1);
void seg_f32_balanced_sum_isa(seg_isa isa, const float *h, const float *l, size_t C, size_t HW, const float *wh,
                              const float *wl, float *y, size_t p0, size_t p1);
/* y[i] = scale / (1 + expf(−x[i])): the gates, once per op (scalar in every ISA). */
void seg_f32_sigmoid(const float *x, size_t n, float scale, float *y);

/* Fork-join pool for the engines' per-layer fan-out (pool.c). `helpers` threads besides the caller; they
   spin about 0.1 ms after each run before sleeping, so back-to-back layers skip the thread wake-up.
   seg_pool_run runs fn(ctx, i) once for each i in [0, n), the caller and the helpers claiming indices
   as they come (the caller runs everything itself when no helper is free), and returns 1 when all are
   done. It returns 0 without running anything when n > helpers + 1 or the pool is already running (a
   nested or concurrent call: run the work another way). create: NULL when no thread could be started. */
typedef struct seg_pool seg_pool;
typedef void (*seg_pool_fn)(void *ctx, size_t index);
seg_pool *seg_pool_create(size_t helpers);
void seg_pool_destroy(seg_pool *pool);
int seg_pool_run(seg_pool *pool, size_t n, seg_pool_fn fn, void *ctx);

/* ============================================================================================
 * int8 (qu8) kernels — qu8-*.c. Owner: int8 kernels. Keep fp32 declarations out of this section.
 *
 * Quantization: activations u8, asymmetric, per tensor (real = s·(q − zp)); weights s8, symmetric
 * (zp 0, values in [−127, 127]), per output channel; int32 accumulation; float requantization
 * epilogue that is the same sequence in every ISA, so every variant is bit-identical to scalar:
 *   v = (float)(acc + bias[c]) * mult[c]                 (acc = Σ x_q·w_q over taps and channels)
 *   v = v + (float)(r_q − r_zp) * r_mult                 (optional residual, r_mult = s_r / s_y)
 *   v = min(max(v, y_min − y_zp), y_max − y_zp)          (float clamp; ReLU ⇔ y_min = y_zp)
 *   y = lrintf(v) + y_zp                                 (round to nearest even, cvtps2dq)
 * fp32-output variant (weights packed with y_scale = 0): y = (float)(acc + bias[c]) * mult[c] + fbias[c].
 * No fused-multiply-add anywhere in the epilogue (the files build with FP_CONTRACT OFF).
 *
 * Layout: NHWC. An activation tensor is [H][W][pixel], a pixel being `stride` bytes of which the
 * first C are channels. Convolution inputs must have cin4 = round_up(Cin, 4) readable bytes per pixel
 * (their values are irrelevant beyond Cin: the packed weights are 0 there). Kernels never read past
 * cin4 bytes of an input pixel, never read past the last channel of a residual pixel, and never write
 * past the last channel (cout) of an output pixel: output pixels may be channel slices of a wider
 * (concat) buffer. No alignment is required of activation buffers; packed weights are 64-byte
 * aligned internally. Resize, warp and pooling read exactly c bytes per tap pixel (masked or scalar
 * tails) and write exactly c bytes per output pixel.
 * Threads: packed weights and indirection tables are read-only after creation; any number of threads
 * may run seg_qu8_conv / resize / warp / maxpool on disjoint output ranges at once. The conv path
 * allocates nothing; resize and warp allocate a few small per-call row tables.
 * ============================================================================================ */

/* Per-output-channel symmetric quantization of float weights [cout][k] (k = cin·kh·kw, OIHW):
   scale[c] = max|w| / 127 (1 when the row is all 0), wq = clamp(lrintf(w / scale), −127, 127). */
void seg_qu8_quantize_weights(size_t cout, size_t k, const float *w, int8_t *wq, float *scale);

/* Packed weights (opaque). Layout: output channels in groups of 64 (the last group may hold 16, 32 or
   48 after rounding cout up to 16); per group [kh·kw taps][cin4/4][group oc][4] s8, zero-filled
   padding; plus int32 bias, float mult and float fbias per channel (cout rounded up to 64). */
typedef struct seg_qu8_conv_weights seg_qu8_conv_weights;

/* Packs OIHW s8 weights `w` [cout][cin][kh][kw] with per-channel scales `w_scale` [cout] and an
   optional float bias [cout] (NULL: none), for an input quantized with (x_scale, x_zp).
   y_scale > 0: u8 output; bias[c] = lrintf(b[c] / (x_scale·w_scale[c])) − x_zp·Σw[c],
                mult[c] = x_scale·w_scale[c] / y_scale.
   y_scale == 0: fp32 output; bias[c] = −x_zp·Σw[c], mult[c] = x_scale·w_scale[c], fbias[c] = b[c].
   Returns NULL on allocation failure. */
seg_qu8_conv_weights *seg_qu8_conv_pack(size_t cout, size_t cin, size_t kh, size_t kw, const int8_t *w,
                                        const float *w_scale, const float *bias, float x_scale,
                                        uint8_t x_zp, float y_scale);
void seg_qu8_conv_weights_free(seg_qu8_conv_weights *w);
/* Packed sizes, for the engine's bookkeeping. */
size_t seg_qu8_conv_weights_cout(const seg_qu8_conv_weights *w);
size_t seg_qu8_conv_weights_cin(const seg_qu8_conv_weights *w);
int seg_qu8_conv_weights_is_f32(const seg_qu8_conv_weights *w);

/* Convolution geometry. Output size is the caller's choice (normally
   out = (in + pad_before + pad_after − dilation·(k − 1) − 1) / stride + 1, see seg_conv_out_size);
   taps that fall outside the input read the zero-point row. */
typedef struct seg_qu8_conv_geometry {
    uint32_t in_h, in_w, out_h, out_w;
    uint32_t kh, kw;
    uint32_t stride_h, stride_w;
    uint32_t dilation_h, dilation_w;
    uint32_t pad_top, pad_left;
} seg_qu8_conv_geometry;

size_t seg_conv_out_size(size_t in, size_t k, size_t stride, size_t dilation, size_t pad_before,
                         size_t pad_after);

/* Indirection table (opaque): one input-pixel pointer per (output pixel, tap), [out_h·out_w][kh·kw],
   built against input base `x` with pixel stride `x_stride` bytes (row stride = in_w·x_stride).
   Padding taps point at an owned row of round_up(cin, 64) bytes filled with x_zp. The table may be
   reused with any other input buffer of the same geometry and strides: pass that buffer as
   seg_qu8_conv_args.x and the table is rebased on the fly. Returns NULL on allocation failure. */
typedef struct seg_qu8_indirection seg_qu8_indirection;
seg_qu8_indirection *seg_qu8_conv_indirection(const seg_qu8_conv_geometry *g, size_t cin, const uint8_t *x,
                                              size_t x_stride, uint8_t x_zp);
void seg_qu8_indirection_free(seg_qu8_indirection *ind);

typedef struct seg_qu8_conv_args {
    const seg_qu8_conv_weights *w;
    const seg_qu8_indirection *ind;
    const uint8_t *x;      /* input base of this call (NULL: the one the table was built with) */
    void *y;               /* output pixel 0; u8, or float when the weights were packed for fp32 */
    size_t y_stride;       /* bytes between output pixels (≥ cout, or ≥ 4·cout for fp32) */
    const uint8_t *r;      /* optional residual (u8 output only), pixel p at r + p·r_stride; NULL: none */
    size_t r_stride;       /* bytes between residual pixels */
    float r_mult;          /* s_r / s_y */
    uint8_t r_zp;
    uint8_t y_zp;          /* u8 output zero point */
    uint8_t y_min, y_max;  /* u8 output clamp (0, 255 for none; y_min = y_zp for ReLU) */
} seg_qu8_conv_args;

/* Computes output pixels [pixel_begin, pixel_end) (row-major over out_h·out_w; any range, e.g. a
   thread's share of rows, or a range starting mid-row), all cout channels. Thread-safe for
   disjoint ranges. Uses seg_isa_active(). */
void seg_qu8_conv(const seg_qu8_conv_args *a, size_t pixel_begin, size_t pixel_end);
/* Same with an explicit ISA (tests, benchmarks). The ISA must be supported (seg_isa_supported). */
void seg_qu8_conv_isa(seg_isa isa, const seg_qu8_conv_args *a, size_t pixel_begin, size_t pixel_end);

/* int8 Winograd F(4×4,3×3) for 3×3 stride-1 convs with u8 output (qu8-winograd43*.c; docs/int8.md): 36
   int16 products per 4×4 outputs instead of 144 int8 ones. Integer transforms and int32 arithmetic modulo
   2^32 make it exact: it writes the same bytes as seg_qu8_conv, for any weights and inputs. Any dilation and
   padding (a dilated conv runs as dilation² undilated phases). Tiles: each of the dilation² phases is cut
   into 4×4 tiles; tile rows (seg_qu8_winograd43_tile_rows) are the unit of work. */
typedef struct seg_qu8_winograd43_weights seg_qu8_winograd43_weights;

/* How many slices of the input channels the exact path cuts the reduction into for 3×3 s8 weights
   [cout][cin][3][3]: each slice's partial accumulator must lie within 2^25 of a per-channel centre for every
   u8 input (255·Σ|w[o]| over the slice ≤ 2^26 − 2), which is what recovering it from 576·acc mod 2^32 needs.
   Slices are greedy runs of channel pairs; each costs one more output transform. */
size_t seg_qu8_winograd43_slices(size_t cout, size_t cin, const int8_t *w);

/* Transforms weights [cout][cin][3][3] to int16 U = G·g·Gᵀ with
   G = [1 0 0; −1 −1 −1; −1 1 −1; 1 2 4; 1 −2 4; 0 0 1] and takes the epilogue (bias, mult) from `dense`,
   the same weights packed by seg_qu8_conv_pack for u8 output. NULL on allocation failure. */
seg_qu8_winograd43_weights *seg_qu8_winograd43_pack(const seg_qu8_conv_weights *dense, const int8_t *w);
void seg_qu8_winograd43_weights_free(seg_qu8_winograd43_weights *w);

typedef struct seg_qu8_winograd43_args {
    const seg_qu8_winograd43_weights *w;
    const uint8_t *x;      /* input pixel 0 (NHWC, x_stride bytes per pixel, in_w pixels per row) */
    size_t x_stride, in_h, in_w;
    size_t out_h, out_w;   /* in + 2·pad − 2·dilation */
    size_t pad, dilation;
    uint8_t x_zp;          /* padding value */
    uint8_t *y;            /* output pixel 0, y_stride bytes per pixel */
    size_t y_stride;
    const uint8_t *r;      /* optional residual, r_stride bytes per pixel; NULL: none */
    size_t r_stride;
    float r_mult;          /* s_r / s_y */
    uint8_t r_zp, y_zp, y_min, y_max;
} seg_qu8_winograd43_args;

/* Tile rows of the whole output (all phases). */
size_t seg_qu8_winograd43_tile_rows(const seg_qu8_winograd43_args *a);
/* Bytes of scratch one call needs (64-byte aligned), for this layer's channel counts. */
size_t seg_qu8_winograd43_scratch_bytes(const seg_qu8_winograd43_weights *w);
/* 1 when `isa` has vector Winograd kernels (else the scalar reference runs: correct, slow). */
int seg_qu8_winograd43_isa_has_kernels(seg_isa isa);
/* Computes every output pixel of tile rows [row_begin, row_end). Thread-safe for disjoint ranges with
   distinct scratch. The ISA must be supported. */
void seg_qu8_winograd43_isa(seg_isa isa, const seg_qu8_winograd43_args *a, size_t row_begin, size_t row_end,
                            void *scratch);

/* The network's first conv fused with the input's quantization: 3 input channels, 3×3, stride 2, padding 1,
   dilation 1, u8 output without residual, cout ≤ 64 (every SFNet stem; seg_qu8_stem_supported checks the
   packed weights, the caller the geometry). The input is fp32 CHW `x`, or (x NULL) three 8-bit planes whose
   bytes `pixel_table` (seg_qu8_stem_pixel_table) maps to the quantized ones. Each input row is quantized to
   RGBX words exactly as QOps.quantize writes the network input (q = min(max(x·(1/x_scale) + x_zp, 0), 255)
   rounded half to even; X = x_zp) into a ring of three row buffers when an output row first needs it, and the
   conv reads those rows: neither the quantized image nor an indirection table exists. The output is
   bit-identical to quantizing the image and running seg_qu8_conv on it (finite inputs; what a NaN becomes is
   unspecified).
   Output rows [oy_begin, oy_end) of out_h = (in_h − 1)/2 + 1 rows of out_w = (in_w − 1)/2 + 1 pixels;
   scratch: seg_qu8_stem_scratch_bytes(in_w) bytes, 64-byte aligned, private to the call (one per thread).
   The weights must have been packed for x_scale and x_zp. */
typedef struct seg_qu8_stem_args {
    const seg_qu8_conv_weights *w;
    const float *x;        /* channel c of pixel (iy, ix) at x[(c·in_h + iy)·in_w + ix] */
    size_t in_h, in_w;
    float x_scale;
    uint8_t x_zp;
    uint8_t *y;            /* output pixel (0, 0); pixel p at y + p·y_stride */
    size_t y_stride;
    uint8_t y_zp, y_min, y_max;
    /* The 8-bit input, used when x is NULL: pixel (iy, ix) of channel c at planes[c][iy·plane_stride + ix]
       (R, G, B), and its 768-word table. */
    const uint8_t *planes[3];
    size_t plane_stride;
    const uint32_t *pixel_table;
} seg_qu8_stem_args;
/* The table of the 8-bit input: table[c·256 + p] = q << 8c, q the byte the fp32 path quantizes channel c's
   value p to, that value computed by seg_f32_from_planar_u8_affine(scale, bias) (the network input's
   normalisation) and quantized with 1/x_scale and x_zp as the driver does, so a row's RGBX words are
   table[r] | table[256 + g] | table[512 + b] | x_zp << 24 and the planes path's output is bit-identical to
   normalising then running on x, in every ISA. */
void seg_qu8_stem_pixel_table(const float scale[3], const float bias[3], float x_scale, uint8_t x_zp,
                              uint32_t table[768]);
int seg_qu8_stem_supported(const seg_qu8_conv_weights *w);
size_t seg_qu8_stem_scratch_bytes(size_t in_w);
void seg_qu8_stem_conv(const seg_qu8_stem_args *a, size_t oy_begin, size_t oy_end, void *scratch);
void seg_qu8_stem_conv_isa(seg_isa isa, const seg_qu8_stem_args *a, size_t oy_begin, size_t oy_end, void *scratch);

/* Bilinear resize of a u8 NHWC tensor [in_h][in_w][c] to [out_h][out_w][c], keeping the input's
   scale and zero point (the output is a convex combination of the taps). Source coordinates are
   computed in float (align_corners = 1: src = dst·(in−1)/(out−1), 0 when out = 1; align_corners = 0:
   src = max((dst + 0.5)·in/out − 0.5, 0)), i0 = floor(src), i1 = min(i0 + 1, in − 1), f = src − i0.
   Tap weights in Q14: w = lrintf(16384·(1−fy or fy)·(1−fx or fx)) each, then 16384 − Σw is added to
   the largest, so they sum to exactly 16384. Output = (Σ w_tap·x_tap + 8192) >> 14 (within about
   0.53 LSB of the exact float bilinear value). Coordinates and weights are computed once in shared
   scalar code; the per-ISA kernels do only the integer blend. Output rows [row_begin, row_end).
   Strides in bytes. */
void seg_qu8_resize_bilinear(size_t c, size_t in_h, size_t in_w, const uint8_t *x, size_t x_stride,
                             size_t out_h, size_t out_w, uint8_t *y, size_t y_stride, int align_corners,
                             size_t row_begin, size_t row_end);
void seg_qu8_resize_bilinear_isa(seg_isa isa, size_t c, size_t in_h, size_t in_w, const uint8_t *x,
                                 size_t x_stride, size_t out_h, size_t out_w, uint8_t *y, size_t y_stride,
                                 int align_corners, size_t row_begin, size_t row_end);

/* FAM flow warp (grid_sample, bilinear, zero padding) of u8 NHWC x [in_h][in_w][c] onto the output
   grid [out_h][out_w], keeping x's scale/zp. flow: float NHWC [out_h][out_w][2] (x then y, in pixels
   of the output grid as SFNet's flow_make produces), pixel stride `flow_stride` bytes. Sample point
   (pixel form, sfnet-reference §1.3):
     align_corners = 1: u = j·(in_w−1)/(out_w−1) + fx·(in_w−1)/(2·out_w)   (same for v with i, h, fy)
     align_corners = 0: g = −1 + 2j/(out_w−1) + fx/out_w; u = ((g + 1)·in_w − 1)/2
   (when out_w = 1: the base term is 0 / g = −1 + fx/out_w, as torch.linspace(−1, 1, 1) = [−1]).
   i0 = floor(u), Q14 tap weights as for resize;
   taps outside the input contribute x_zp (real 0), weights are not renormalised. Rows [row_begin, row_end). */
/* Optional fused add for the warp (FAM: f = lat + warp(f_coarse)): with B = Σ w_tap·x_tap (Q14),
     v = (float)(B − 16384·x_zp) * (x_mult / 16384) + (float)(r_q − r_zp) * r_mult
     y = lrintf(min(max(v, y_min − y_zp), y_max − y_zp)) + y_zp
   (no FMA; identical in every ISA). r is u8 NHWC on the output grid, pixel p at r + p·r_stride. */
typedef struct seg_qu8_add_params {
    const uint8_t *r;
    size_t r_stride;
    float x_mult;  /* s_x / s_y */
    float r_mult;  /* s_r / s_y */
    uint8_t r_zp, y_zp, y_min, y_max;
} seg_qu8_add_params;

/* add: NULL for a plain warp (output keeps x's scale/zp), else the fused add above. */
void seg_qu8_warp_bilinear(size_t c, size_t in_h, size_t in_w, const uint8_t *x, size_t x_stride,
                           uint8_t x_zp, size_t out_h, size_t out_w, const float *flow, size_t flow_stride,
                           uint8_t *y, size_t y_stride, int align_corners, const seg_qu8_add_params *add,
                           size_t row_begin, size_t row_end);
void seg_qu8_warp_bilinear_isa(seg_isa isa, size_t c, size_t in_h, size_t in_w, const uint8_t *x,
                               size_t x_stride, uint8_t x_zp, size_t out_h, size_t out_w, const float *flow,
                               size_t flow_stride, uint8_t *y, size_t y_stride, int align_corners,
                               const seg_qu8_add_params *add, size_t row_begin, size_t row_end);

/* The decoder blocks' gates on u8 NHWC (gate.c; issue #15), pixels [p0, p1) at p·stride bytes, c channels, in float
   with no FMA, identical in every ISA, then y = lrintf(min(max(v, −y_zp), 255 − y_zp)) + y_zp:
   modulate (FBNet DFM):    v = (x − x_zp)·x_mult; v = v + (v·gs[p])·gc[k]      (x_mult = s_x/s_y)
   balanced sum (IFBFNet):  v = (h − h_zp)·mh[k] + (l − l_zp)·ml[k]              (mh = W_h·s_h/s_y, ml = W_l·s_l/s_y) */
void seg_qu8_modulate_isa(seg_isa isa, size_t c, const uint8_t *x, size_t x_stride, uint8_t x_zp, float x_mult,
                          const float *gs, const float *gc, uint8_t *y, size_t y_stride, uint8_t y_zp, size_t p0,
                          size_t p1);
void seg_qu8_balanced_sum_isa(seg_isa isa, size_t c, const uint8_t *h, size_t h_stride, uint8_t h_zp, const float *mh,
                              const uint8_t *l, size_t l_stride, uint8_t l_zp, const float *ml, uint8_t *y,
                              size_t y_stride, uint8_t y_zp, size_t p0, size_t p1);

/* Adaptive average pool (PyTorch bins: start = floor(i·L/s), end = ceil((i+1)·L/s)) of u8 NHWC
   [in_h][in_w][c] to [out_h][out_w][c], same scale/zp; y = (sum + n/2) / n (n = window size). */
void seg_qu8_adaptive_avgpool(size_t c, size_t in_h, size_t in_w, const uint8_t *x, size_t x_stride,
                              size_t out_h, size_t out_w, uint8_t *y, size_t y_stride);

/* Max pool 3×3, stride 2, padding 1 (padding never wins: max over in-range taps), u8 NHWC, same
   scale/zp. out = (in + 2 − 3) / 2 + 1. Output rows [row_begin, row_end). */
void seg_qu8_maxpool_3x3s2p1(size_t c, size_t in_h, size_t in_w, const uint8_t *x, size_t x_stride,
                             uint8_t *y, size_t y_stride, size_t row_begin, size_t row_end);

/* The int8 engine's output stage (qu8-upsample-argmax*.c): bilinear upsample of the classifier's fp32
   NHWC logits x [Hi][Wi] (pixel stride x_stride floats, C ≤ 256 classes) to Ho×Wo fused with the class
   argmax, for output rows [row_begin, row_end). The labels are bit-identical to
   seg_f32_bilinear_argmax_u8 on the CHW transpose of x, in every ISA: same source indices and weights,
   and the same fp32 products and sums in the same order (h0·(wa·a + wb·b) + h1·(wa·c + wb·d), no FMA);
   ties go to the lower class, a NaN never wins. The horizontal blends are computed once per input row
   (not once per output row). scratch: seg_qu8_upsample_argmax_scratch_bytes(C, Wi, Wo) bytes, private to
   the call (one per thread); any alignment. Allocates nothing. */
size_t seg_qu8_upsample_argmax_scratch_bytes(size_t C, size_t Wi, size_t Wo);
void seg_qu8_upsample_argmax(const float *x, size_t C, size_t x_stride, size_t Hi, size_t Wi, uint8_t *labels,
                             size_t Ho, size_t Wo, int align_corners, size_t row_begin, size_t row_end,
                             void *scratch);
void seg_qu8_upsample_argmax_isa(seg_isa isa, const float *x, size_t C, size_t x_stride, size_t Hi, size_t Wi,
                                 uint8_t *labels, size_t Ho, size_t Wo, int align_corners, size_t row_begin,
                                 size_t row_end, void *scratch);

/* int8 depthwise convolution (qu8-dwconv*.c), stride 1, k×k taps (k·k ≤ SEG_QU8_DW_MAX_TAPS) dilated by
   `dilation`, padding `pad` on every side, u8 NHWC in and out with per-tensor params, s8 weights [c][k][k] with
   per-channel scales: y = clamp(round((Σ_taps (x − x_zp)·w + round(b/(s_x·s_w)))·s_x·s_w/s_y) + y_zp, y_min,
   y_max), the dense conv's epilogue; a tap in the padding adds nothing (it reads the zero point). Every ISA is
   bit-identical to the scalar one. pack: NULL on a bad argument or allocation failure. */
#define SEG_QU8_DW_MAX_TAPS 121
typedef struct seg_qu8_dw_weights seg_qu8_dw_weights;
seg_qu8_dw_weights *seg_qu8_dwconv_pack(size_t c, size_t k, const int8_t *w, const float *w_scale, const float *bias,
                                        float x_scale, float y_scale);
void seg_qu8_dwconv_weights_free(seg_qu8_dw_weights *w);
typedef struct seg_qu8_dwconv_args {
    const seg_qu8_dw_weights *w;
    const uint8_t *x;
    size_t in_h, in_w, x_stride;   /* x_stride: bytes per input pixel (≥ c) */
    size_t dilation, pad;
    uint8_t *y;
    size_t y_stride;               /* bytes per output pixel (≥ c) */
    int32_t x_zp, y_zp;
    uint8_t y_min, y_max;          /* y_min = y_zp: fused ReLU */
} seg_qu8_dwconv_args;
/* Output rows [row_begin, row_end) (disjoint ranges may run at once). */
void seg_qu8_dwconv(const seg_qu8_dwconv_args *a, size_t row_begin, size_t row_end);
void seg_qu8_dwconv_isa(seg_isa isa, const seg_qu8_dwconv_args *a, size_t row_begin, size_t row_end);

/* int8 boundary gate of SeENet's BAM (qu8-boundary-gate*.c): for n pixels of c channels (strides in bytes),
   y = clamp(round((b − b_zp)·T[a]), −y_zp, 255 − y_zp) + y_zp with the 256-float table of seg_qu8_gate_table,
   T[q] = (1 − σ(s_a·(q − a_zp)))·s_b/s_y: y ≈ b·(1 − σ(a)) requantized. Every ISA is bit-identical. */
void seg_qu8_gate_table(float a_scale, uint8_t a_zp, float b_scale, float y_scale, float *table);
void seg_qu8_gate(size_t n, size_t c, const uint8_t *a, size_t a_stride, const uint8_t *b, size_t b_stride,
                  const float *table, int32_t b_zp, int32_t y_zp, uint8_t *y, size_t y_stride);
void seg_qu8_gate_isa(seg_isa isa, size_t n, size_t c, const uint8_t *a, size_t a_stride, const uint8_t *b,
                      size_t b_stride, const float *table, int32_t b_zp, int32_t y_zp, uint8_t *y, size_t y_stride);

/* ============================ end of int8 (qu8) section ==================================== */


/* ==== render: frame annotation kernels (u8-render.c) ===================================================
   Packed RGB24 images, one call per row or rectangle; every pointer is caller-checked. Blending is exact
   integer arithmetic, identical on every ISA:
       out = (a * (256 - w) + b * w + 128) >> 8        a = image byte, b = colour byte, w in 0...256
   so w = 0 returns a unchanged and w = 256 returns b exactly. From an opacity alpha in [0, 1] the caller
   uses w = round(alpha * 256). */

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

/* ---- pictures: what the renderer draws on ----------------------------------------------------------------
   A picture is packed RGB24 (plane `y_or_rgb` only, `stride` bytes a row) or planar YUV 4:2:0 in limited-range
   BT.709, the video encoder's own format: luma `stride` bytes a row, chroma planes of (width + 1) / 2 ×
   (height + 1) / 2 samples `chroma_stride` bytes a row, each sample standing for its (up to) 2 × 2 pixels.
   Drawing in YUV 4:2:0 skips the RGB round trip of a video frame: a drawing operation is applied to each pixel's
   luma exactly as in RGB (blending is linear, so blending Y equals converting the blended RGB), and each chroma
   sample becomes the mean of what the operation makes of its pixels. */
typedef enum { SEG_PICTURE_RGB24 = 0, SEG_PICTURE_YUV420 = 1 } seg_picture_format;
typedef struct {
    int format;            /* seg_picture_format */
    int width, height;
    uint8_t *y_or_rgb, *u, *v;
    size_t stride, chroma_stride;
} seg_picture;

/* Limited-range BT.709 Y, Cb, Cr of an RGB colour, rounded (what swscale makes of it, within one level). */
void seg_yuv709_from_rgb(uint8_t r, uint8_t g, uint8_t b, int32_t yuv[3]);

/* Size in int32_t of a YUV blend table: 256 labels × {256 - w, Y*w + 128, Cb*w, Cr*w}. */
#define SEG_RENDER_YUV_LUT_SIZE 1024

/* The YUV 4:2:0 counterpart of seg_u8_blend_lut_init (colours are RGB, converted by seg_yuv709_from_rgb). */
void seg_yuv420_blend_lut_init(const uint8_t *colors, const uint16_t *weights, int32_t *lut);

/* Overlay on YUV 4:2:0: src (width × height) blended with the label colours of `lut` is written to columns
   dst_x ... dst_x + width - 1, rows 0 ... height - 1 of dst (clipped to dst). Luma by the blend formula above;
   a chroma sample is the rounded mean, over its pixels in those columns, of blend(src chroma of the pixel,
   label colour). With a table of weight 0 everywhere it copies; of weight 256 it maps labels to colours (mask
   mode). dst may be src (in place) with dst_x = 0. With an odd dst_x the chroma sample that straddles the
   panel's left edge is this panel's alone. */
void seg_yuv420_overlay(const seg_picture *src, const uint8_t *labels, size_t label_stride, const int32_t *lut,
                        const seg_picture *dst, int dst_x);

/* seg_u8_fill_rect_blend on any picture; in YUV 4:2:0 a chroma sample the rectangle covers in part is blended
   in proportion to its pixels inside the rectangle. */
void seg_picture_fill_rect_blend(const seg_picture *p, int x, int y, int rw, int rh, uint8_t r, uint8_t g, uint8_t b,
                                 int w);

/* Draws a 1-bit bitmap of nrows rows × ncols (<= 8) columns at (x, y), each set pixel a scale × scale
   square of colour (r, g, b); bit (ncols - 1 - c) of rows[y] is column c. Clipped to the picture. */
void seg_picture_draw_bitmap(const seg_picture *p, int x, int y, const uint8_t *rows, int nrows, int ncols, int scale,
                             uint8_t r, uint8_t g, uint8_t b);

/* Panoptic instances over the panel at column panel_x of p (the panel is width × height, segments one int32 a
   pixel, `width` a row, 0 = no instance, ids 1 ... segment_count): a pixel of segment s whose 4-neighbour in the
   panel has another segment (or none) is an outline pixel and becomes white; any other pixel of segment s gets
   deltas[3s ... 3s+2] added to its channels (R, G, B or Y, Cb, Cr; saturated). In YUV 4:2:0 a chroma sample is
   the mean of what its pixels in the panel become (an untouched pixel keeps the sample's value). */
void seg_picture_instance_overlay(const seg_picture *p, int panel_x, const int32_t *segments, int width, int height,
                                  int segment_count, const int32_t *deltas);

/* ==== end render ======================================================================================= */

/* ===================================================================================================
 * Image and label-map conversion (u8-convert.c): the network's input from packed or planar RGB, label maps
 * back to the frame's size, class histograms.
 * =================================================================================================== */

/* dst (3 planes of w·h floats, R, G, B) = src·scale[c] + bias[c]; with scale = 1/(255·std) and
   bias = −mean/std this is PyTorch's ToTensor + Normalize. src rows are `src_stride` bytes apart. */
void seg_f32_from_rgb24_affine(const uint8_t *src, size_t src_stride, size_t w, size_t h,
                               const float scale[3], const float bias[3], float *dst);

/* The same from three 8-bit planes (R, G, B order in `planes`), each with rows `stride` bytes apart:
   dst[c·w·h + y·w + x] = planes[c][y·stride + x]·scale[c] + bias[c]. No packed intermediate. */
void seg_f32_from_planar_u8_affine(const uint8_t *const planes[3], size_t stride, size_t w, size_t h,
                                   const float scale[3], const float bias[3], float *dst);

/* A YUV 4:2:0 picture's colour matrix and range changed in place (e.g. BT.601 to the encoder's BT.709, full to
   limited range): with c = (U - 128, V - 128) of a pixel's chroma sample and Q16 coefficients k[0..11],
       Y' = sat((k[0]·Y + k[1]·c0 + k[2]·c1 + k[3] + 32768) >> 16)
       U' = sat((k[5]·c0 + k[6]·c1 + k[7] + 32768) >> 16),  V' = sat((k[9]·c0 + k[10]·c1 + k[11] + 32768) >> 16)
   (k[4] and k[8], chroma from luma, are 0 between any two YUV matrices: grey stays grey). Chroma planes are
   (w + 1) / 2 × (h + 1) / 2. */
void seg_yuv420_affine(uint8_t *y, size_t y_stride, uint8_t *u, uint8_t *v, size_t c_stride, size_t w, size_t h,
                       const int32_t k[12]);

/* counts[v] += number of i < n with labels[i] == v (counts has 256 entries). */
void seg_u8_histogram(const uint8_t *labels, size_t n, uint32_t counts[256]);

/* Nearest-neighbour resize of a class-id map (PyTorch `nearest`: src = floor(dst·in/out)). */
void seg_u8_resize_nearest(const uint8_t *src, size_t src_stride, size_t in_w, size_t in_h,
                           uint8_t *dst, size_t dst_stride, size_t out_w, size_t out_h);

#endif /* CSEGKERNELS_H */
