/* int8 bilinear resize / flow warp throughput at SFNet's FAM and fusion sizes. Build and run:
     clang -O2 -fno-math-errno -ISources/CSegKernels/include -o /tmp/qu8-rs bench/qu8-resample-bench.c \
       Sources/CSegKernels/[a-z]*.c -lpthread -lm && /tmp/qu8-rs */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "CSegKernels.h"

static double cputime(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    const size_t c = 128, ih = 64, iw = 128, oh = 128, ow = 256;
    uint8_t *x = malloc(ih * iw * c), *y = malloc(oh * ow * c), *r = malloc(oh * ow * c);
    float *flow = malloc(oh * ow * 2 * sizeof(float));
    for (size_t i = 0; i < ih * iw * c; i++) x[i] = (uint8_t)rand();
    for (size_t i = 0; i < oh * ow * c; i++) r[i] = (uint8_t)rand();
    for (size_t i = 0; i < oh * ow * 2; i++) flow[i] = (float)(rand() % 2001 - 1000) / 200.0f;
    seg_qu8_add_params add = {.r = r, .r_stride = c, .x_mult = 0.8f, .r_mult = 1.1f, .r_zp = 128, .y_zp = 120, .y_min = 0, .y_max = 255};
    for (int isa = 0; isa < SEG_ISA_COUNT; isa++) {
        if (!seg_isa_supported(isa)) continue;
        double best[3] = {1e9, 1e9, 1e9};
        for (int rep = 0; rep < 5; rep++) {
            double t0 = cputime();
            seg_qu8_resize_bilinear_isa(isa, c, ih, iw, x, c, oh, ow, y, c, 1, 0, oh);
            double t1 = cputime();
            seg_qu8_warp_bilinear_isa(isa, c, ih, iw, x, c, 128, oh, ow, flow, 8, y, c, 1, NULL, 0, oh);
            double t2 = cputime();
            seg_qu8_warp_bilinear_isa(isa, c, ih, iw, x, c, 128, oh, ow, flow, 8, y, c, 1, &add, 0, oh);
            double t3 = cputime();
            if (t1 - t0 < best[0]) best[0] = t1 - t0;
            if (t2 - t1 < best[1]) best[1] = t2 - t1;
            if (t3 - t2 < best[2]) best[2] = t3 - t2;
        }
        printf("%-10s %zux%zux%zu -> %zux%zu: resize %.3f ms, warp %.3f ms, warp+add %.3f ms (CPU time, 1 thread)\n",
               seg_isa_name(isa), c, ih, iw, oh, ow, best[0] * 1e3, best[1] * 1e3, best[2] * 1e3);
    }
    return 0;
}
