/* AVX-512 VNNI indirect-GEMM kernel: 6 pixels × 64 output channels (24 zmm accumulators), vpdpbusd
   (u8 activations × s8 weights → exact int32), fused float requantization. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>
#include <string.h>

#include "qu8-common.h"

#define SEG_TARGET __attribute__((target("avx512f,avx512cd,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define MR 6

static inline SEG_TARGET __m512i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

static inline __attribute__((always_inline)) SEG_TARGET void kernel_nb(
    const int NB, size_t mr, size_t nc, size_t ks, size_t kc, const uint8_t *const *a, size_t a_stride,
    ptrdiff_t a_offset, const uint8_t *zero, const int8_t *w, void *y, size_t y_stride, const seg_qu8_epilogue *e) {
    __m512i acc[MR][4];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++)
#pragma clang loop unroll(full)
        for (int b = 0; b < 4; b++) acc[i][b] = _mm512_setzero_si512();

    const size_t i1 = mr > 1 ? 1 : mr - 1, i2 = mr > 2 ? 2 : mr - 1, i3 = mr > 3 ? 3 : mr - 1;
    const size_t i4 = mr > 4 ? 4 : mr - 1, i5 = mr > 5 ? 5 : mr - 1;
    for (size_t t = 0; t < ks; t++) {
        const uint8_t *p0 = a[t], *p1 = a[i1 * a_stride + t], *p2 = a[i2 * a_stride + t];
        const uint8_t *p3 = a[i3 * a_stride + t], *p4 = a[i4 * a_stride + t], *p5 = a[i5 * a_stride + t];
        if (p0 != zero) p0 += a_offset;
        if (p1 != zero) p1 += a_offset;
        if (p2 != zero) p2 += a_offset;
        if (p3 != zero) p3 += a_offset;
        if (p4 != zero) p4 += a_offset;
        if (p5 != zero) p5 += a_offset;
        const int8_t *wt = w + t * kc * NB * 16;
        for (size_t k = 0; k < kc; k += 4) {
            __m512i wv[4];
#pragma clang loop unroll(full)
            for (int b = 0; b < NB; b++) wv[b] = _mm512_load_si512((const void *)(wt + b * 64));
            wt += NB * 64;
            __m512i x;
#define ROW(I, P)                                                                      \
    x = bcast4(P + k);                                                                 \
    _Pragma("clang loop unroll(full)") for (int b = 0; b < NB; b++) acc[I][b] = _mm512_dpbusd_epi32(acc[I][b], x, wv[b]);
            ROW(0, p0) ROW(1, p1) ROW(2, p2) ROW(3, p3) ROW(4, p4) ROW(5, p5)
#undef ROW
        }
    }

    const __m512 lo = _mm512_set1_ps(e->lo), hi = _mm512_set1_ps(e->hi);
    const __m512i yzp = _mm512_set1_epi32(e->y_zp), rzp = _mm512_set1_epi32(e->r_zp);
    const __m512 rmult = _mm512_set1_ps(e->r_mult);
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
        if ((size_t)i >= mr) break;
#pragma clang loop unroll(full)
        for (int b = 0; b < NB; b++) {
            const size_t left = nc - (size_t)b * 16;
            const __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
            __m512 v = _mm512_cvtepi32_ps(_mm512_add_epi32(acc[i][b], _mm512_loadu_si512(e->bias + b * 16)));
            v = _mm512_mul_ps(v, _mm512_loadu_ps(e->mult + b * 16));
            if (e->fbias) {
                v = _mm512_add_ps(v, _mm512_loadu_ps(e->fbias + b * 16));
                _mm512_mask_storeu_ps((char *)y + i * y_stride + b * 64, m, v);
                continue;
            }
            if (e->r) {
                __m128i rq = _mm_maskz_loadu_epi8(m, e->r + i * e->r_stride + b * 16);
                __m512 rv = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(rq), rzp));
                v = _mm512_add_ps(v, _mm512_mul_ps(rv, rmult));
            }
            v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), yzp);
            _mm512_mask_cvtepi32_storeu_epi8((uint8_t *)y + i * y_stride + b * 16, m, q);
        }
    }
}

SEG_TARGET void seg_qu8_igemm_minmax_ukernel_6x64c4__avx512vnni(size_t mr, size_t nc, size_t ks, size_t kc,
                                                                const uint8_t *const *a, size_t a_stride,
                                                                ptrdiff_t a_offset, const uint8_t *zero,
                                                                const int8_t *w, void *y, size_t y_stride,
                                                                const seg_qu8_epilogue *e) {
    switch ((nc + 15) / 16) {
    case 4: kernel_nb(4, mr, nc, ks, kc, a, a_stride, a_offset, zero, w, y, y_stride, e); break;
    case 3: kernel_nb(3, mr, nc, ks, kc, a, a_stride, a_offset, zero, w, y, y_stride, e); break;
    case 2: kernel_nb(2, mr, nc, ks, kc, a, a_stride, a_offset, zero, w, y, y_stride, e); break;
    default: kernel_nb(1, mr, nc, ks, kc, a, a_stride, a_offset, zero, w, y, y_stride, e); break;
    }
}
