/* int8 3×3 stride-1 convs: indirect GEMM vs exact Winograd F(4×4,3×3), interleaved in one process (medians
   of 9 runs each, alternating). Build and run (release, from the repo root):
     clang -O2 -fno-math-errno -ISources/CSegKernels/include -o /tmp/qu8-wino-bench bench/qu8-winograd-bench.c \
       Sources/CSegKernels/[a-z]*.c -lpthread -lm && /tmp/qu8-wino-bench [threads] [cin cout dil h w] [u]
   Weights are Gaussian (uniform with a last argument "u", as torch's default init), quantized per channel; the
   output bytes of the two algorithms are compared too. GMAC/s counts the direct conv's MACs for both. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "CSegKernels.h"

typedef struct { const char *name; int cin, cout, dil, h, w; } shape;

/* SFNet-R18 and DF1 at 512×1024 (output sizes; padding = dilation). */
static const shape shapes[] = {
    {"R18 layer1 64->64 @128x256", 64, 64, 1, 128, 256},
    {"R18 layer2 128->128 @64x128", 128, 128, 1, 64, 128},
    {"R18 layer3 256->256 d2 @64x128", 256, 256, 2, 64, 128},
    {"R18 layer4 512->512 d4 @64x128", 512, 512, 4, 64, 128},
    {"R18 conv_last 512->128 @128x256", 512, 128, 1, 128, 256},
    {"R18 fpn 128->128 @128x256", 128, 128, 1, 128, 256},
    {"stem 64->64 @256x512", 64, 64, 1, 256, 512},
    {"DF1 stage 32->32 @64x128", 32, 32, 1, 64, 128},
    {"DF1 stage 128->128 @32x64", 128, 128, 1, 32, 64},
    {"DF1 stage 256->256 @16x32", 256, 256, 1, 16, 32},
};

typedef struct {
    int wino;
    const seg_qu8_conv_args *a;
    const seg_qu8_winograd43_args *wa;
    size_t b, e;
    void *scratch;
} job;

static void *worker(void *p) {
    job *j = p;
    if (j->wino) seg_qu8_winograd43_isa(seg_isa_active(), j->wa, j->b, j->e, j->scratch);
    else seg_qu8_conv_isa(seg_isa_active(), j->a, j->b, j->e);
    return NULL;
}
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static int cmpd(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
static double gauss(void) {
    double u = (rand() + 1.0) / (RAND_MAX + 2.0), v = (rand() + 1.0) / (RAND_MAX + 2.0);
    return sqrt(-2 * log(u)) * cos(6.283185307 * v);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    size_t nshapes = sizeof shapes / sizeof *shapes;
    shape custom = {"custom", 0, 0, 0, 0, 0};
    const int uniform = argc > 2 && argv[argc - 1][0] == 'u';
    if (uniform) argc--;
    if (argc > 6) {
        custom = (shape){"custom", atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6])};
        nshapes = 1;
    }
    if (!seg_qu8_winograd43_isa_has_kernels(seg_isa_active())) {
        fprintf(stderr, "needs AVX2 or AVX-512 VNNI (SEGSTREAM_ISA)\n");
        return 69;
    }
    printf("isa %s\n", seg_isa_name(seg_isa_active()));
    printf("%-34s %9s %9s %7s %7s %6s %6s\n", "shape (output size)", "igemm ms", "wino ms", "igemm", "wino", "ratio",
           "slices");
    for (size_t s = 0; s < nshapes; s++) {
        const shape *sh = argc > 6 ? &custom : &shapes[s];
        const size_t cin = sh->cin, cout = sh->cout, d = sh->dil, oh = sh->h, ow = sh->w, ih = oh, iw = ow;
        float *wf = malloc(cout * cin * 9 * sizeof *wf), *ws = malloc(cout * sizeof *ws), *bias = calloc(cout, 4);
        int8_t *w = malloc(cout * cin * 9);
        for (size_t i = 0; i < cout * cin * 9; i++) wf[i] = uniform ? (float)(rand() / (double)RAND_MAX - 0.5) : (float)gauss();
        seg_qu8_quantize_weights(cout, cin * 9, wf, w, ws);
        const size_t xs = (cin + 3) / 4 * 4;
        uint8_t *x = malloc(ih * iw * xs), *y0 = malloc(oh * ow * cout), *y1 = malloc(oh * ow * cout);
        for (size_t i = 0; i < ih * iw * xs; i++) x[i] = (uint8_t)(rand() % 97);
        const float ys = 0.02f * sqrtf((float)cin * 9);
        seg_qu8_conv_weights *pw = seg_qu8_conv_pack(cout, cin, 3, 3, w, ws, bias, 0.02f, 0, ys);
        seg_qu8_conv_geometry g = {ih, iw, oh, ow, 3, 3, 1, 1, d, d, d, d};
        seg_qu8_indirection *ind = seg_qu8_conv_indirection(&g, cin, x, xs, 0);
        seg_qu8_conv_args a = {.w = pw, .ind = ind, .y = y0, .y_stride = cout, .y_zp = 0, .y_min = 0, .y_max = 255};
        const size_t slices = seg_qu8_winograd43_slices(cout, cin, w);
        seg_qu8_winograd43_weights *ww = seg_qu8_winograd43_pack(pw, w);
        seg_qu8_winograd43_args wa = {.w = ww, .x = x, .x_stride = xs, .in_h = ih, .in_w = iw, .out_h = oh,
                                      .out_w = ow, .pad = d, .dilation = d, .x_zp = 0, .y = y1, .y_stride = cout,
                                      .y_zp = 0, .y_min = 0, .y_max = 255};
        const size_t rows = seg_qu8_winograd43_tile_rows(&wa), sbytes = seg_qu8_winograd43_scratch_bytes(ww);
        void *scratch[16];
        for (int i = 0; i < threads; i++) scratch[i] = aligned_alloc(64, (sbytes + 63) / 64 * 64);
        double t[2][9];
        for (int r = 0; r < 10; r++)
            for (int wino = 0; wino < 2; wino++) {
                pthread_t th[16];
                job jobs[16];
                double t0 = now();
                for (int i = 0; i < threads; i++) {
                    const size_t n = wino ? rows : oh;
                    const size_t b = n * i / threads, e = n * (i + 1) / threads;
                    jobs[i] = (job){wino, &a, &wa, wino ? b : b * ow, wino ? e : e * ow, scratch[i]};
                    pthread_create(&th[i], NULL, worker, &jobs[i]);
                }
                for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
                if (r > 0) t[wino][r - 1] = now() - t0;   /* run 0 warms up */
            }
        qsort(t[0], 9, sizeof(double), cmpd);
        qsort(t[1], 9, sizeof(double), cmpd);
        const double gmac = (double)cout * cin * 9 * oh * ow * 1e-9;
        printf("%-34s %9.2f %9.2f %7.1f %7.1f %5.2fx %6zu%s\n", sh->name, t[0][4] * 1e3, t[1][4] * 1e3, gmac / t[0][4],
               gmac / t[1][4], t[0][4] / t[1][4], slices, memcmp(y0, y1, oh * ow * cout) ? "  OUTPUTS DIFFER" : "");
        for (int i = 0; i < threads; i++) free(scratch[i]);
        seg_qu8_winograd43_weights_free(ww);
        seg_qu8_indirection_free(ind);
        seg_qu8_conv_weights_free(pw);
        free(wf); free(ws); free(bias); free(w); free(x); free(y0); free(y1);
    }
    return 0;
}
