/* The network's first conv, before and after fusing the input's quantization into it (seg_qu8_stem_conv),
   interleaved in one process: every round runs each variant once, in rotating order; medians per variant.
   Build and run (release, from the repo root):
     clang -O2 -fno-math-errno -D_GNU_SOURCE -ISources/CSegKernels/include -o /tmp/qu8-stem-bench \
       bench/qu8-stem-bench.c Sources/CSegKernels/[a-z]*.c -lpthread -lm && /tmp/qu8-stem-bench [threads] [H W cout] [rounds]
   Variants: "two passes" = quantize the whole image to RGBX (this ISA's row quantizer), then seg_qu8_conv over
   an indirection table (the engine's path before); "fused igemm" = seg_qu8_stem_conv with the igemm on per-tile
   pointer lists (what AVX2 and scalar run); "fused direct" = the AVX-512 VNNI row kernel with the float-clamp
   epilogue; "fused direct pack" = the same with the integer saturating epilogue (seg_qu8_stem_conv's default);
   "from 8-bit planes" = seg_qu8_stem_conv's default reading the 8-bit planes through seg_qu8_stem_pixel_table
   (what `run` feeds it) instead of the fp32 input. The fp32 input is those planes normalised with ImageNet's
   mean and std, as the network input is, so every variant computes the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "CSegKernels.h"
#include "../Sources/CSegKernels/qu8-stem.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static int cmpd(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

typedef struct {
    int variant; /* 0: quantize pass, 1: conv over the table, 2 + SEG_QU8_STEM_…: the fused variants */
    size_t workers, h, w, oh, ow;
    const float *x;
    uint32_t *xq;
    const seg_qu8_conv_args *conv;
    const seg_qu8_stem_args *stem, *stem_planes;
    uint8_t *scratch[16];
    size_t scratch_bytes;
} job;

static void run(void *ctx, size_t i) {
    const job *j = ctx;
    const size_t rb = j->oh * i / j->workers, re = j->oh * (i + 1) / j->workers;
    const seg_isa isa = seg_isa_active();
    switch (j->variant) {
    case 0: {
        const size_t b = j->h * i / j->workers, e = j->h * (i + 1) / j->workers, plane = j->h * j->w;
        const float inv = 1.0f / j->stem->x_scale, zp = (float)j->stem->x_zp;
        for (size_t y = b; y < e; y++) {
            const float *r = j->x + y * j->w;
            (isa == SEG_ISA_AVX512VNNI ? seg_qu8_rgbx_row__avx512 : isa == SEG_ISA_AVX2 ? seg_qu8_rgbx_row__avx2
                                                                                          : seg_qu8_rgbx_row__scalar)(
                r, r + plane, r + 2 * plane, j->w, inv, zp, (uint32_t)j->stem->x_zp << 24, j->xq + y * j->w);
        }
        break;
    }
    case 1: seg_qu8_conv(j->conv, rb * j->ow, re * j->ow); break;
    case 5: seg_qu8_stem_conv_variant(isa, j->stem_planes, rb, re, j->scratch[i], SEG_QU8_STEM_DIRECT_PACK); break;
    default: seg_qu8_stem_conv_variant(isa, j->stem, rb, re, j->scratch[i], j->variant - 2); break;
    }
}

int main(int argc, char **argv) {
    const size_t threads = argc > 1 ? (size_t)atoi(argv[1]) : 1;
    const size_t h = argc > 4 ? (size_t)atoi(argv[2]) : 512, w = argc > 4 ? (size_t)atoi(argv[3]) : 1024;
    const size_t cout = argc > 4 ? (size_t)atoi(argv[4]) : 32;
    const int rounds = argc > 5 ? atoi(argv[5]) : 51;
    if (threads < 1 || threads > 16 || cout < 1 || cout > 64 || rounds < 1) { fprintf(stderr, "bad arguments\n"); return 64; }
    const size_t oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1;
    float *x = malloc(3 * h * w * sizeof(float));
    uint32_t *xq = aligned_alloc(64, h * w * 4 + 64);
    uint8_t *y = aligned_alloc(64, oh * ow * cout + 64);
    int8_t *wq = malloc(cout * 27);
    float *ws = malloc(cout * sizeof(float)), *bias = malloc(cout * sizeof(float));
    srand(1);
    const size_t stride = (w + 63) & ~(size_t)63;
    uint8_t *pixels = aligned_alloc(64, 3 * stride * h + 64);
    for (size_t i = 0; i < 3 * stride * h; i++) pixels[i] = (uint8_t)(rand() % 256);
    const uint8_t *const planes[3] = {pixels, pixels + stride * h, pixels + 2 * stride * h};
    const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    float scale[3], shift[3];
    for (int c = 0; c < 3; c++) { scale[c] = 1 / (255 * sd[c]); shift[c] = -mean[c] / sd[c]; }
    seg_f32_from_planar_u8_affine(planes, stride, w, h, scale, shift, x);
    for (size_t i = 0; i < cout * 27; i++) wq[i] = (int8_t)(rand() % 255 - 127);
    for (size_t i = 0; i < cout; i++) { ws[i] = 0.004f; bias[i] = (float)(rand() % 100) / 50.0f - 1.0f; }
    const float xs = 0.0187f;
    const uint8_t xzp = 113;
    seg_qu8_conv_weights *pw = seg_qu8_conv_pack(cout, 3, 3, 3, wq, ws, bias, xs, xzp, 0.05f);
    seg_qu8_conv_geometry g = {h, w, oh, ow, 3, 3, 2, 2, 1, 1, 1, 1};
    seg_qu8_indirection *ind = seg_qu8_conv_indirection(&g, 3, (const uint8_t *)xq, 4, xzp);
    seg_qu8_conv_args ca = {.w = pw, .ind = ind, .x = (const uint8_t *)xq, .y = y, .y_stride = cout, .y_zp = 0, .y_min = 0, .y_max = 255};
    seg_qu8_stem_args sa = {pw, x, h, w, xs, xzp, y, cout, 0, 0, 255};
    uint32_t table[768];
    seg_qu8_stem_pixel_table(scale, shift, xs, xzp, table);
    seg_qu8_stem_args sp = sa;
    sp.x = NULL;
    for (int c = 0; c < 3; c++) sp.planes[c] = planes[c];
    sp.plane_stride = stride;
    sp.pixel_table = table;
    seg_pool *pool = seg_pool_create(threads - 1);
    job j = {.workers = threads, .h = h, .w = w, .oh = oh, .ow = ow, .x = x, .xq = xq, .conv = &ca, .stem = &sa,
             .stem_planes = &sp};
    j.scratch_bytes = seg_qu8_stem_scratch_bytes(w);
    for (size_t i = 0; i < threads; i++) j.scratch[i] = aligned_alloc(64, j.scratch_bytes);

    /* Each variant's output must be the same bytes before anything is timed. */
    uint8_t *ref = malloc(oh * ow * cout);
    j.variant = 0; seg_pool_run(pool, threads, run, &j);
    j.variant = 1; seg_pool_run(pool, threads, run, &j);
    memcpy(ref, y, oh * ow * cout);
    for (int v = 2; v <= 5; v++) {
        memset(y, 0, oh * ow * cout);
        j.variant = v; seg_pool_run(pool, threads, run, &j);
        if (memcmp(ref, y, oh * ow * cout)) { fprintf(stderr, "variant %d differs from the two-pass output\n", v); return 70; }
    }
    double *t[6];
    for (int v = 0; v < 6; v++) t[v] = malloc(rounds * sizeof(double));
    double *two = malloc(rounds * sizeof(double));
    for (int r = 0; r < rounds; r++) {
        /* Orders: two passes first, then fused ones, rotating. */
        for (int k = 0; k < 5; k++) {
            const int which = (k + r) % 5;
            if (which == 0) {
                double t0 = now();
                j.variant = 0; seg_pool_run(pool, threads, run, &j);
                double t1 = now();
                j.variant = 1; seg_pool_run(pool, threads, run, &j);
                double t2 = now();
                t[0][r] = t1 - t0; t[1][r] = t2 - t1; two[r] = t2 - t0;
            } else {
                double t0 = now();
                j.variant = which + 1; seg_pool_run(pool, threads, run, &j);
                t[which + 1][r] = now() - t0;
            }
        }
    }
    for (int v = 0; v < 6; v++) qsort(t[v], rounds, sizeof(double), cmpd);
    qsort(two, rounds, sizeof(double), cmpd);
    const double macs = (double)oh * ow * cout * 27, m = rounds / 2;
    printf("stem %zux%zu -> %zux%zux%zu, %zu thread(s), isa %s, %d rounds (medians)\n", h, w, oh, ow, cout, threads,
           seg_isa_name(seg_isa_active()), rounds);
    printf("  two passes      %7.3f ms  (quantize %.3f + conv %.3f)\n", two[(int)m] * 1e3, t[0][(int)m] * 1e3, t[1][(int)m] * 1e3);
    printf("  fused igemm     %7.3f ms  %.2fx\n", t[2][(int)m] * 1e3, two[(int)m] / t[2][(int)m]);
    printf("  fused direct    %7.3f ms  %.2fx\n", t[3][(int)m] * 1e3, two[(int)m] / t[3][(int)m]);
    printf("  fused direct pack %5.3f ms  %.2fx  (%.0f GMAC/s of useful MACs)\n", t[4][(int)m] * 1e3,
           two[(int)m] / t[4][(int)m], macs / t[4][(int)m] * 1e-9);
    printf("  from 8-bit planes %5.3f ms  %.2fx  (%.2fx the fused direct pack from fp32)\n", t[5][(int)m] * 1e3,
           two[(int)m] / t[5][(int)m], t[4][(int)m] / t[5][(int)m]);
    return 0;
}
