/* int8 conv throughput on SFNet-like shapes. Build and run (release, from the repo root):
     clang -O2 -fno-math-errno -ISources/CSegKernels/include -o /tmp/qu8-bench bench/qu8-conv-bench.c \
       Sources/CSegKernels/[a-z]*.c -lpthread -lm && /tmp/qu8-bench [isa] [threads] [cin cout k stride dil h w]
   Reports GMAC/s (median of several runs) against the Zen 4 vpdpbusd peak of 232 GMAC/s per core. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "CSegKernels.h"

typedef struct { const char *name; int cin, cout, k, stride, dil, h, w; } shape;

static const shape shapes[] = {
    {"fpn_out 3x3 128->128 @128x256", 128, 128, 3, 1, 1, 128, 256},
    {"conv_last 3x3 512->128 @128x256", 512, 128, 3, 1, 1, 128, 256},
    {"layer3 3x3 256->256 d2 @64x128", 256, 256, 3, 1, 2, 64, 128},
    {"layer4 3x3 512->512 d4 @32x64", 512, 512, 3, 1, 4, 32, 64},
    {"stem 3x3 64->128 @256x512", 64, 128, 3, 1, 1, 256, 512},
    {"layer2 3x3 s2 64->128 @256x512", 64, 128, 3, 2, 1, 256, 512},
    {"fam 1x1 128->64 @128x256", 128, 64, 1, 1, 1, 128, 256},
    {"cls 1x1 128->19 @128x256", 128, 19, 1, 1, 1, 128, 256},
};
static shape custom = {"custom", 0, 0, 0, 0, 0, 0, 0};

typedef struct { seg_isa isa; const seg_qu8_conv_args *a; size_t b, e; double cpu; } job;
static double cputime(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static void *worker(void *p) {
    job *j = p;
    double t0 = cputime();
    seg_qu8_conv_isa(j->isa, j->a, j->b, j->e);
    j->cpu = cputime() - t0;
    return NULL;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }

int main(int argc, char **argv) {
    seg_isa isa = seg_isa_active();
    if (argc > 1) for (int i = 0; i < SEG_ISA_COUNT; i++) if (!strcmp(argv[1], seg_isa_name(i))) isa = i;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    printf("isa %s, %d thread(s)\n", seg_isa_name(isa), threads);
    size_t nshapes = sizeof shapes / sizeof *shapes;
    if (argc > 9) {
        custom = (shape){"custom", atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]), atoi(argv[8]), atoi(argv[9])};
        nshapes = 1;
    }
    for (size_t s = 0; s < nshapes; s++) {
        const shape *sh = argc > 9 ? &custom : &shapes[s];
        int pad = sh->k == 1 ? 0 : sh->dil;
        size_t oh = seg_conv_out_size(sh->h, sh->k, sh->stride, sh->dil, pad, pad);
        size_t ow = seg_conv_out_size(sh->w, sh->k, sh->stride, sh->dil, pad, pad);
        size_t kk = (size_t)sh->cin * sh->k * sh->k;
        uint8_t *x = malloc((size_t)sh->h * sh->w * sh->cin);
        int8_t *w = malloc(kk * sh->cout);
        float *ws = malloc(sh->cout * sizeof(float));
        uint8_t *y = malloc(oh * ow * sh->cout);
        for (size_t i = 0; i < (size_t)sh->h * sh->w * sh->cin; i++) x[i] = (uint8_t)rand();
        for (size_t i = 0; i < kk * sh->cout; i++) w[i] = (int8_t)(rand() % 255 - 127);
        for (int i = 0; i < sh->cout; i++) ws[i] = 0.01f;
        seg_qu8_conv_weights *pw = seg_qu8_conv_pack(sh->cout, sh->cin, sh->k, sh->k, w, ws, NULL, 0.02f, 128, 0.5f);
        seg_qu8_conv_geometry g = {sh->h, sh->w, oh, ow, sh->k, sh->k, sh->stride, sh->stride, sh->dil, sh->dil, pad, pad};
        seg_qu8_indirection *ind = seg_qu8_conv_indirection(&g, sh->cin, x, sh->cin, 128);
        seg_qu8_conv_args a = {.w = pw, .ind = ind, .y = y, .y_stride = sh->cout, .y_zp = 128, .y_min = 128, .y_max = 255};
        const size_t pixels = oh * ow;
        const double macs = (double)pixels * kk * sh->cout;
        double t[7], c[7];
        for (int r = 0; r < 7; r++) {
            double t0 = now();
            pthread_t th[8];
            job jobs[8];
            for (int i = 0; i < threads; i++) {
                /* split by output rows */
                size_t rb = oh * i / threads, re = oh * (i + 1) / threads;
                jobs[i] = (job){isa, &a, rb * ow, re * ow};
                if (i) pthread_create(&th[i], NULL, worker, &jobs[i]);
            }
            worker(&jobs[0]);
            for (int i = 1; i < threads; i++) pthread_join(th[i], NULL);
            t[r] = now() - t0;
            c[r] = 0;
            for (int i = 0; i < threads; i++) c[r] = jobs[i].cpu > c[r] ? jobs[i].cpu : c[r];
        }
        qsort(t, 7, sizeof *t, cmpd);
        qsort(c, 7, sizeof *c, cmpd);
        /* Wall time suffers from other jobs on this shared machine; the slowest thread's CPU time does not
           (much), so both are shown. Percentages are of 232 GMAC/s per core. */
        double gw = macs / t[3] * 1e-9, gc = macs / c[3] * 1e-9;
        printf("%-34s %6.2f GMAC | wall %7.2f ms %6.1f GMAC/s %5.1f %% | cpu %7.2f ms %6.1f GMAC/s %5.1f %%\n", sh->name,
               macs * 1e-9, t[3] * 1e3, gw, 100 * gw / (232.0 * threads), c[3] * 1e3, gc, 100 * gc / (232.0 * threads));
        seg_qu8_indirection_free(ind);
        seg_qu8_conv_weights_free(pw);
        free(x); free(w); free(ws); free(y);
    }
    return 0;
}
