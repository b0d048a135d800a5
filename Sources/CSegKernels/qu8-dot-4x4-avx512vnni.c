/* AVX-512 VNNI kernel for convs with at most 4 output channels (the FAM flow convs: 2): vectorised over
   the reduction (64 input channels per vpdpbusd) instead of over output channels, which would leave
   14 of 16 lanes idle. 4 pixels × ≤ 4 channels = 16 zmm accumulators, reduced to int32 at the end.
   int32 accumulation is exact in any order, and the epilogue is the scalar one (seg_qu8_requant and the
   fp32 formula), so the output is bit-identical to the scalar igemm. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>

#include "qu8-common.h"

#define SEG_TARGET __attribute__((target("avx512f,avx512cd,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define MR 4

SEG_TARGET void seg_qu8_dot_ukernel_4x4__avx512vnni(size_t mr, size_t nc, size_t ks, size_t kc,
                                                    const uint8_t *const *a, size_t a_stride, ptrdiff_t a_offset,
                                                    const uint8_t *zero, const int8_t *wk, size_t k64, void *y,
                                                    size_t y_stride, const seg_qu8_epilogue *e) {
    __m512i acc[MR][SEG_QU8_NARROW];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++)
#pragma clang loop unroll(full)
        for (int o = 0; o < SEG_QU8_NARROW; o++) acc[i][o] = _mm512_setzero_si512();
    const size_t i1 = mr > 1 ? 1 : 0, i2 = mr > 2 ? 2 : 0, i3 = mr > 3 ? 3 : 0;
    for (size_t t = 0; t < ks; t++) {
        const uint8_t *p[MR] = {a[t], a[i1 * a_stride + t], a[i2 * a_stride + t], a[i3 * a_stride + t]};
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++)
            if (p[i] != zero) p[i] += a_offset;
        const int8_t *wt = wk + t * k64;
        for (size_t k = 0; k < kc; k += 64) {
            const __mmask64 m = kc - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (kc - k)) - 1);
            __m512i x[MR];
#pragma clang loop unroll(full)
            for (int i = 0; i < MR; i++) x[i] = _mm512_maskz_loadu_epi8(m, p[i] + k);
#pragma clang loop unroll(full)
            for (int o = 0; o < SEG_QU8_NARROW; o++) {
                if ((size_t)o >= nc) break;
                const __m512i wv = _mm512_load_si512((const void *)(wt + o * ks * k64 + k));
#pragma clang loop unroll(full)
                for (int i = 0; i < MR; i++) acc[i][o] = _mm512_dpbusd_epi32(acc[i][o], x[i], wv);
            }
        }
    }
    for (size_t i = 0; i < mr; i++) {
        for (size_t o = 0; o < nc; o++) {
            const int32_t s = _mm512_reduce_add_epi32(acc[i][o]);
            if (e->fbias) {
                float *yf = (float *)((char *)y + i * y_stride);
                const float v = (float)(s + e->bias[o]) * e->mult[o];
                yf[o] = v + e->fbias[o];
            } else {
                const uint8_t *r = e->r ? e->r + i * e->r_stride : NULL;
                ((uint8_t *)y + i * y_stride)[o] = seg_qu8_requant(s, e->bias[o], e->mult[o], e, r ? r[o] : 0);
            }
        }
    }
}
