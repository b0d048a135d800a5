/* Scalar reference indirect-GEMM kernel: plain int32 loops, the oracle for every SIMD variant. */
#pragma STDC FP_CONTRACT OFF
#include <math.h>

#include "qu8-common.h"

void seg_qu8_igemm_minmax_ukernel_1x64c4__scalar(size_t mr, size_t nc, size_t ks, size_t kc,
                                                 const uint8_t *const *a, size_t a_stride, ptrdiff_t a_offset,
                                                 const uint8_t *zero, const int8_t *w, void *y, size_t y_stride,
                                                 const seg_qu8_epilogue *e) {
    const size_t gn = (nc + 15) / 16 * 16; /* channels packed in this group */
    for (size_t i = 0; i < mr; i++) {
        int32_t acc[SEG_QU8_GROUP] = {0};
        for (size_t t = 0; t < ks; t++) {
            const uint8_t *x = a[i * a_stride + t];
            if (x != zero) x += a_offset;
            const int8_t *wt = w + t * kc * gn;
            for (size_t k = 0; k < kc; k++)
                for (size_t j = 0; j < nc; j++)
                    acc[j] += (int32_t)x[k] * (int32_t)wt[((k / 4) * gn + j) * 4 + k % 4];
        }
        if (e->fbias) {
            float *yf = (float *)((char *)y + i * y_stride);
            for (size_t j = 0; j < nc; j++) {
                float v = (float)(acc[j] + e->bias[j]) * e->mult[j];
                yf[j] = v + e->fbias[j];
            }
        } else {
            uint8_t *yq = (uint8_t *)y + i * y_stride;
            const uint8_t *r = e->r ? e->r + i * e->r_stride : NULL;
            for (size_t j = 0; j < nc; j++)
                yq[j] = seg_qu8_requant(acc[j], e->bias[j], e->mult[j], e, r ? r[j] : 0);
        }
    }
}
