/* Bilinear source coordinates, shared by every bilinear kernel so that their labels and values agree bit
   for bit (f32-bilinear.c, qu8-upsample-argmax.c). Private to CSegKernels. */
#ifndef SEG_BILINEAR_INDEX_H
#define SEG_BILINEAR_INDEX_H
#include <stddef.h>

/* Source coordinate of output index i, PyTorch's area_pixel_compute_source_index (no scale factor):
   taps i0 and i1, weight l1 on i1. */
static inline void source_index(size_t i, size_t in, size_t out, int align_corners,
                                size_t *i0, size_t *i1, float *l1) {
    float src;
    if (align_corners) {
        float scale = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
        src = scale * (float)i;
    } else {
        float scale = (float)in / (float)out;
        src = scale * ((float)i + 0.5f) - 0.5f;
        if (src < 0.0f) src = 0.0f;
    }
    size_t a = (size_t)src;
    if (a > in - 1) a = in - 1;
    float l = src - (float)a;
    if (l < 0.0f) l = 0.0f;
    if (l > 1.0f) l = 1.0f;
    *i0 = a;
    *i1 = a + (a < in - 1 ? 1 : 0);
    *l1 = l;
}

#endif
