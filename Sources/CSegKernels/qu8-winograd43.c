/* int8 Winograd F(4×4,3×3): exactness slices, weight transform, the ISA-neutral driver and the scalar
   reference kernels (the oracle of the AVX2 and AVX-512 VNNI ones). The transforms are integer, so every kernel
   computes the same values whatever its operation order; see qu8-winograd43.h for why the result equals
   the dense conv's. */
#pragma STDC FP_CONTRACT OFF
#include <stdlib.h>
#include <string.h>

#include "qu8-winograd43.h"

static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

/* The largest width 255·Σ|w| a slice's accumulator range may have (see seg_qu8_winograd43_slices). */
#define SLICE_WIDTH_MAX ((1 << 26) - 2)

/* Σ|w| of output channel o over input channel pair k (9 taps each). */
static int64_t pair_l1(size_t cin, const int8_t *w, size_t o, size_t k) {
    int64_t s = 0;
    for (size_t c = 2 * k; c < 2 * k + 2 && c < cin; c++)
        for (size_t t = 0; t < 9; t++) s += w[(o * cin + c) * 9 + t] < 0 ? -w[(o * cin + c) * 9 + t] : w[(o * cin + c) * 9 + t];
    return s;
}

/* Greedy slices of channel pairs: a slice grows while every output channel's 255·Σ|w| over it stays
   ≤ SLICE_WIDTH_MAX. Writes the nslices + 1 boundaries when `bounds` is non-NULL; returns nslices (0 when
   out of memory). One pair is always within the bound (255·2286), so every layer has slices. */
static size_t slice_pairs(size_t cout, size_t cin, const int8_t *w, size_t *bounds) {
    const size_t kc2 = (cin + 1) / 2;
    int64_t *sum = calloc(cout ? cout : 1, sizeof *sum);
    if (!sum) return 0;
    size_t n = 0;
    if (bounds) bounds[0] = 0;
    for (size_t k = 0; k < kc2; k++) {
        int fits = 1;
        for (size_t o = 0; o < cout && fits; o++) fits = 255 * (sum[o] + pair_l1(cin, w, o, k)) <= SLICE_WIDTH_MAX;
        if (!fits) {
            if (bounds) bounds[n + 1] = k;
            n++;
            memset(sum, 0, cout * sizeof *sum);
        }
        for (size_t o = 0; o < cout; o++) sum[o] += pair_l1(cin, w, o, k);
    }
    if (bounds) bounds[n + 1] = kc2;
    free(sum);
    return n + 1;
}

size_t seg_qu8_winograd43_slices(size_t cout, size_t cin, const int8_t *w) { return slice_pairs(cout, cin, w, NULL); }

/* G = [1 0 0; −1 −1 −1; −1 1 −1; 1 2 4; 1 −2 4; 0 0 1]: the F(4,3) kernel transform with its row
   denominators (4, 6, 6, 24, 24, 1) moved into A24 (qu8_wino_at). */
static const int G[6][3] = {{1, 0, 0}, {-1, -1, -1}, {-1, 1, -1}, {1, 2, 4}, {1, -2, 4}, {0, 0, 1}};

seg_qu8_winograd43_weights *seg_qu8_winograd43_pack(const seg_qu8_conv_weights *dense, const int8_t *w) {
    if (!dense || dense->f32 || dense->kh != 3 || dense->kw != 3) return NULL;
    seg_qu8_winograd43_weights *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    const size_t cout = dense->cout, cin = dense->cin;
    p->cout = cout;
    p->cin = cin;
    p->kc2 = (cin + 1) / 2;
    p->cin_pad = round_up(cin, SEG_QU8_WINO_CBLOCK);
    p->ngroups = dense->ngroups;
    p->nslices = slice_pairs(cout, cin, w, NULL);
    p->slice = malloc((p->nslices + 1) * sizeof *p->slice);
    const size_t nch = p->ngroups * SEG_QU8_GROUP, gstride = 36 * p->kc2 * 128;
    const size_t ubytes = round_up(p->ngroups * gstride * sizeof(int16_t), 64), vbytes = round_up(nch * 4, 64);
    const size_t cbytes = round_up(p->nslices * nch * 4, 64);
    p->mem = aligned_alloc(64, ubytes + 2 * vbytes + 2 * cbytes);
    if (!p->mem || !p->slice || p->nslices == 0) { free(p->mem); free(p->slice); free(p); return NULL; }
    slice_pairs(cout, cin, w, p->slice);
    memset(p->mem, 0, ubytes + 2 * vbytes + 2 * cbytes);
    p->u = (int16_t *)p->mem;
    p->bias = (int32_t *)((char *)p->mem + ubytes);
    p->mult = (float *)((char *)p->mem + ubytes + vbytes);
    p->centre = (int32_t *)((char *)p->mem + ubytes + 2 * vbytes);
    p->centre64 = (uint32_t *)((char *)p->mem + ubytes + 2 * vbytes + cbytes);
    memcpy(p->bias, dense->bias, cout * sizeof(int32_t));
    memcpy(p->mult, dense->mult, cout * sizeof(float));
    const size_t cout16 = round_up(cout, 16);
    for (size_t o = 0; o < cout; o++) {
        const size_t g = o / SEG_QU8_GROUP, j = o % SEG_QU8_GROUP;
        const size_t gn = cout16 - g * SEG_QU8_GROUP < SEG_QU8_GROUP ? cout16 - g * SEG_QU8_GROUP : SEG_QU8_GROUP;
        for (size_t sl = 0; sl < p->nslices; sl++) {   /* the slice's range [255·Σw⁻, 255·Σw⁺] and its midpoint */
            int64_t lo = 0, hi = 0;
            for (size_t c = 2 * p->slice[sl]; c < 2 * p->slice[sl + 1] && c < cin; c++)
                for (size_t t = 0; t < 9; t++) {
                    const int8_t v = w[(o * cin + c) * 9 + t];
                    if (v < 0) lo += 255 * v;
                    else hi += 255 * v;
                }
            p->centre[sl * nch + o] = (int32_t)((lo + hi) >> 1);
            p->centre64[sl * nch + o] = (uint32_t)p->centre[sl * nch + o] * 64u;
        }
        for (size_t c = 0; c < cin; c++) {
            const int8_t *k = w + (o * cin + c) * 9;
            int t[6][3];   /* G·k */
            for (int r = 0; r < 6; r++)
                for (int q = 0; q < 3; q++) t[r][q] = G[r][0] * k[q] + G[r][1] * k[3 + q] + G[r][2] * k[6 + q];
            for (int r = 0; r < 6; r++)
                for (int q = 0; q < 6; q++) {
                    const int u = t[r][0] * G[q][0] + t[r][1] * G[q][1] + t[r][2] * G[q][2];
                    p->u[g * gstride + (size_t)(r * 6 + q) * p->kc2 * 128 + ((c / 2) * gn + j) * 2 + c % 2] =
                        (int16_t)u;
                }
        }
    }
    return p;
}

void seg_qu8_winograd43_weights_free(seg_qu8_winograd43_weights *w) {
    if (!w) return;
    free(w->slice);
    free(w->mem);
    free(w);
}

/* ---- scalar reference kernels ---- */

/* Bᵀ·d, Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]. */
static inline void qu8_wino_bt(const int32_t d[6], int32_t o[6]) {
    o[0] = 4 * d[0] - 5 * d[2] + d[4];
    o[1] = -4 * d[1] - 4 * d[2] + d[3] + d[4];
    o[2] = 4 * d[1] - 4 * d[2] - d[3] + d[4];
    o[3] = -2 * d[1] - d[2] + 2 * d[3] + d[4];
    o[4] = 2 * d[1] - d[2] - 2 * d[3] + d[4];
    o[5] = 4 * d[1] - 5 * d[3] + d[5];
}

/* A24ᵀ·s (mod 2^32), A24ᵀ = 24·Aᵀ·diag(1/4, 1/6, 1/6, 1/24, 1/24, 1) =
   [6 4 4 1 1 0; 0 4 −4 2 −2 0; 0 4 4 4 4 0; 0 4 −4 8 −8 24]. */
static inline void qu8_wino_at(const uint32_t s[6], uint32_t o[4]) {
    const uint32_t a = s[1] + s[2], b = s[1] - s[2], c = s[3] + s[4], d = s[3] - s[4];
    o[0] = 6u * s[0] + 4u * a + c;
    o[1] = 4u * b + 2u * d;
    o[2] = 4u * a + 4u * c;
    o[3] = 4u * b + 8u * d + 24u * s[5];
}

static void seg_qu8_wino_input__scalar(size_t cin, size_t cin_pad, const uint8_t *const p[36], int16_t *v,
                                       size_t e_stride) {
    for (size_t c = 0; c < cin_pad; c++) {
        if (c >= cin) {
            for (int e = 0; e < 36; e++) v[e * e_stride + c] = 0;
            continue;
        }
        int32_t t[6][6];   /* Bᵀ·d, column by column */
        for (int q = 0; q < 6; q++) {
            int32_t col[6], out[6];
            for (int r = 0; r < 6; r++) col[r] = p[r * 6 + q][c];
            qu8_wino_bt(col, out);
            for (int r = 0; r < 6; r++) t[r][q] = out[r];
        }
        for (int r = 0; r < 6; r++) {   /* (Bᵀ·d)·B */
            int32_t out[6];
            qu8_wino_bt(t[r], out);
            for (int q = 0; q < 6; q++) v[(size_t)(r * 6 + q) * e_stride + c] = (int16_t)out[q];
        }
    }
}

static void seg_qu8_wino_gemm_1x64__scalar(size_t mr, size_t nc, size_t kc2, const int16_t *v, size_t v_stride,
                                           const int16_t *u, int32_t *m, size_t m_stride) {
    const size_t gn = round_up(nc, 16);
    for (size_t i = 0; i < mr; i++) {
        const int16_t *vi = v + i * v_stride;
        for (size_t j = 0; j < gn; j++) {
            uint32_t acc = 0;
            for (size_t k = 0; k < 2 * kc2; k++)
                acc += (uint32_t)((int32_t)vi[k] * (int32_t)u[((k / 2) * gn + j) * 2 + k % 2]);
            m[i * m_stride + j] = (int32_t)acc;
        }
    }
}

static void seg_qu8_wino_output__scalar(size_t nc, const int32_t *m, size_t e_stride, const seg_qu8_wino_epilogue *e,
                                        uint8_t *const y[16], const uint8_t *const r[16], int32_t *partial,
                                        int acc_in, int acc_out) {
    const seg_qu8_epilogue ep = {.r = e->has_r ? (const uint8_t *)1 : NULL, .r_mult = e->r_mult, .r_zp = e->r_zp,
                                 .y_zp = e->y_zp, .lo = e->lo, .hi = e->hi};
    for (size_t j = 0; j < nc; j++) {
        uint32_t t[4][6];   /* A24ᵀ·M, column by column */
        for (int q = 0; q < 6; q++) {
            uint32_t col[6], out[4];
            for (int k = 0; k < 6; k++) col[k] = (uint32_t)m[(size_t)(k * 6 + q) * e_stride + j];
            qu8_wino_at(col, out);
            for (int k = 0; k < 4; k++) t[k][q] = out[k];
        }
        for (int k = 0; k < 4; k++) {   /* (A24ᵀ·M)·A24 = 576·acc */
            uint32_t out[4];
            qu8_wino_at(t[k], out);
            for (int q = 0; q < 4; q++) {
                uint8_t *yp = y[k * 4 + q];
                if (!yp) continue;
                int32_t acc = seg_qu8_wino_recover(out[q], e->centre[j], e->centre64[j]);
                int32_t *part = partial + (k * 4 + q) * SEG_QU8_GROUP + j;
                if (acc_in) acc += *part;
                if (acc_out) { *part = acc; continue; }
                yp[j] = seg_qu8_requant(acc, e->bias[j], e->mult[j], &ep, e->has_r ? r[k * 4 + q][j] : 0);
            }
        }
    }
}

static const seg_qu8_wino_ukernels scalar_kernels = {
    .input = seg_qu8_wino_input__scalar,
    .gemm = seg_qu8_wino_gemm_1x64__scalar,
    .gemm_mr = 1,
    .output = seg_qu8_wino_output__scalar,
};
static const seg_qu8_wino_ukernels avx2_kernels = {
    .input = seg_qu8_wino_input__avx2,
    .gemm = seg_qu8_wino_gemm_6x16__avx2,
    .gemm_mr = 6,
    .output = seg_qu8_wino_output__avx2,
};
static const seg_qu8_wino_ukernels avx512vnni_kernels = {
    .input = seg_qu8_wino_input__avx512vnni,
    .gemm = seg_qu8_wino_gemm_6x64__avx512vnni,
    .gemm_mr = 6,
    .output = seg_qu8_wino_output__avx512vnni,
};

int seg_qu8_winograd43_isa_has_kernels(seg_isa isa) { return isa == SEG_ISA_AVX2 || isa == SEG_ISA_AVX512VNNI; }

/* ---- driver ---- */

/* Tiles per block: the block's transformed inputs (36·tiles·cin_pad int16) and one group's products
   (36·tiles·64 int32) stay in Zen 4's 1 MiB L2 while every group's weights stream past them. A multiple of
   the widest GEMM's 6 tiles. */
static size_t block_tiles(const seg_qu8_winograd43_weights *w) {
    size_t n = (896u << 10) / (72 * w->cin_pad + 36 * 64 * 4);
    n = n / 6 * 6;
    return n < 6 ? 6 : n > 96 ? 96 : n;
}

size_t seg_qu8_winograd43_scratch_bytes(const seg_qu8_winograd43_weights *w) {
    const size_t nb = block_tiles(w);
    return round_up(36 * nb * w->cin_pad * 2, 64) + (36 + 16) * nb * SEG_QU8_GROUP * 4 + round_up(w->cin_pad, 64);
}

/* Per dilation phase, output rows (columns) py, py + d, …: ceil(out/d) of them, in tiles of 4. */
static size_t phase_tiles(size_t out, size_t d) { return ((out + d - 1) / d + 3) / 4; }

size_t seg_qu8_winograd43_tile_rows(const seg_qu8_winograd43_args *a) {
    return a->dilation * phase_tiles(a->out_h, a->dilation);
}

void seg_qu8_winograd43_isa(seg_isa isa, const seg_qu8_winograd43_args *a, size_t row_begin, size_t row_end,
                            void *scratch) {
    const seg_qu8_wino_ukernels *uk = isa == SEG_ISA_AVX512VNNI ? &avx512vnni_kernels
                                      : isa == SEG_ISA_AVX2     ? &avx2_kernels
                                                                : &scalar_kernels;
    const seg_qu8_winograd43_weights *w = a->w;
    const size_t d = a->dilation, th = phase_tiles(a->out_h, d), tw = phase_tiles(a->out_w, d), cols = d * tw;
    if (row_end > d * th) row_end = d * th;
    if (row_begin >= row_end) return;
    const size_t nb_max = block_tiles(w), cin_pad = w->cin_pad;
    int16_t *v = scratch;
    int32_t *m = (int32_t *)((char *)scratch + round_up(36 * nb_max * cin_pad * 2, 64));
    int32_t *partial = m + 36 * nb_max * SEG_QU8_GROUP;   /* [tile][16 pixels][64] */
    uint8_t *zrow = (uint8_t *)(partial + 16 * nb_max * SEG_QU8_GROUP);
    memset(zrow, a->x_zp, cin_pad);
    const size_t gstride = 36 * w->kc2 * 128, nch = w->ngroups * SEG_QU8_GROUP, cout16 = round_up(w->cout, 16);
    seg_qu8_wino_epilogue e0 = {
        .r_mult = a->r_mult,
        .r_zp = a->r_zp,
        .y_zp = a->y_zp,
        .lo = (float)((int32_t)a->y_min - (int32_t)a->y_zp),
        .hi = (float)((int32_t)a->y_max - (int32_t)a->y_zp),
        .has_r = a->r != NULL,
    };
    const size_t t_end = row_end * cols;
    for (size_t tb = row_begin * cols; tb < t_end; tb += nb_max) {
        const size_t nb = t_end - tb < nb_max ? t_end - tb : nb_max;
        /* Output pixel offsets of every tile in the block (−1: outside the map). */
        ptrdiff_t out_px[96][16];
        for (size_t j = 0; j < nb; j++) {
            const size_t t = tb + j, R = t / cols, C = t % cols;
            const size_t py = R / th, ti = R % th, px = C / tw, tj = C % tw;
            const uint8_t *p[36];
            for (size_t rr = 0; rr < 6; rr++) {
                const ptrdiff_t iy = (ptrdiff_t)(py + d * (4 * ti + rr)) - (ptrdiff_t)a->pad;
                for (size_t q = 0; q < 6; q++) {
                    const ptrdiff_t ix = (ptrdiff_t)(px + d * (4 * tj + q)) - (ptrdiff_t)a->pad;
                    const int in = iy >= 0 && iy < (ptrdiff_t)a->in_h && ix >= 0 && ix < (ptrdiff_t)a->in_w;
                    p[rr * 6 + q] = in ? a->x + ((size_t)iy * a->in_w + (size_t)ix) * a->x_stride : zrow;
                }
            }
            uk->input(w->cin, cin_pad, p, v + j * cin_pad, nb_max * cin_pad);
            for (size_t rr = 0; rr < 4; rr++)
                for (size_t q = 0; q < 4; q++) {
                    const size_t oy = py + d * (4 * ti + rr), ox = px + d * (4 * tj + q);
                    out_px[j][rr * 4 + q] = oy < a->out_h && ox < a->out_w ? (ptrdiff_t)(oy * a->out_w + ox) : -1;
                }
        }
        for (size_t g = 0; g < w->ngroups; g++) {
            const size_t oc0 = g * SEG_QU8_GROUP;
            const size_t nc = w->cout - oc0 < SEG_QU8_GROUP ? w->cout - oc0 : SEG_QU8_GROUP;
            const size_t gn = cout16 - oc0 < SEG_QU8_GROUP ? cout16 - oc0 : SEG_QU8_GROUP;
            const int16_t *ug = w->u + g * gstride;
            uint8_t *yp[96][16];
            const uint8_t *rp[96][16];
            for (size_t j = 0; j < nb; j++)
                for (int k = 0; k < 16; k++) {
                    const ptrdiff_t o = out_px[j][k];
                    yp[j][k] = o < 0 ? NULL : a->y + (size_t)o * a->y_stride + oc0;
                    rp[j][k] = o < 0 || !a->r ? NULL : a->r + (size_t)o * a->r_stride + oc0;
                }
            seg_qu8_wino_epilogue e = e0;
            e.bias = w->bias + oc0;
            e.mult = w->mult + oc0;
            for (size_t sl = 0; sl < w->nslices; sl++) {
                const size_t k0 = w->slice[sl], k1 = w->slice[sl + 1];
                for (size_t el = 0; el < 36; el++)
                    for (size_t i = 0; i < nb; i += uk->gemm_mr) {
                        const size_t mr = nb - i < uk->gemm_mr ? nb - i : uk->gemm_mr;
                        uk->gemm(mr, nc, k1 - k0, v + (el * nb_max + i) * cin_pad + 2 * k0, cin_pad,
                                 ug + el * w->kc2 * 128 + k0 * gn * 2, m + (el * nb_max + i) * SEG_QU8_GROUP,
                                 SEG_QU8_GROUP);
                    }
                e.centre = w->centre + sl * nch + oc0;
                e.centre64 = w->centre64 + sl * nch + oc0;
                for (size_t j = 0; j < nb; j++)
                    uk->output(nc, m + j * SEG_QU8_GROUP, nb_max * SEG_QU8_GROUP, &e, yp[j], rp[j],
                               partial + j * 16 * SEG_QU8_GROUP, sl > 0, sl + 1 < w->nslices);
            }
        }
    }
}
