/* AVX2 indirect-GEMM kernel: 4 pixels × 8 output channels per pass. u8 activations and s8 weights are
   widened to s16 and multiplied with vpmaddwd, which is exact (no vpmaddubsw saturation), so the int32
   accumulators equal the scalar and VNNI ones bit for bit. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>
#include <string.h>

#include "qu8-common.h"

#define SEG_TARGET __attribute__((target("avx2,fma")))
#define MR 4

static inline SEG_TARGET __m256i bcast4_u16(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_cvtepu8_epi16(_mm_set1_epi32(v)); /* x0 x1 x2 x3 repeated 4× as s16 */
}

SEG_TARGET void seg_qu8_igemm_minmax_ukernel_4x8c4__avx2(size_t mr, size_t nc, size_t ks, size_t kc,
                                                         const uint8_t *const *a, size_t a_stride, ptrdiff_t a_offset,
                                                         const uint8_t *zero, const int8_t *w, void *y, size_t y_stride,
                                                         const seg_qu8_epilogue *e) {
    const size_t gn = (nc + 15) / 16 * 16;
    const size_t i1 = mr > 1 ? 1 : mr - 1, i2 = mr > 2 ? 2 : mr - 1, i3 = mr > 3 ? 3 : mr - 1;
    const __m256 lo = _mm256_set1_ps(e->lo), hi = _mm256_set1_ps(e->hi);
    const __m256i yzp = _mm256_set1_epi32(e->y_zp), rzp = _mm256_set1_epi32(e->r_zp);
    const __m256 rmult = _mm256_set1_ps(e->r_mult);
    for (size_t n0 = 0; n0 < nc; n0 += 8) {
        __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
                c31 = c00;
        for (size_t t = 0; t < ks; t++) {
            const uint8_t *p0 = a[t], *p1 = a[i1 * a_stride + t], *p2 = a[i2 * a_stride + t], *p3 = a[i3 * a_stride + t];
            if (p0 != zero) p0 += a_offset;
            if (p1 != zero) p1 += a_offset;
            if (p2 != zero) p2 += a_offset;
            if (p3 != zero) p3 += a_offset;
            const int8_t *wt = w + t * kc * gn + n0 * 4;
            for (size_t k = 0; k < kc; k += 4, wt += gn * 4) {
                const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wt));
                const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wt + 16)));
                __m256i x = bcast4_u16(p0 + k);
                c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(x, w0));
                c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(x, w1));
                x = bcast4_u16(p1 + k);
                c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(x, w0));
                c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(x, w1));
                x = bcast4_u16(p2 + k);
                c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(x, w0));
                c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(x, w1));
                x = bcast4_u16(p3 + k);
                c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(x, w0));
                c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(x, w1));
            }
        }
        /* Each accumulator holds two partial sums per channel; fold them into channel order. */
        __m256i acc[MR] = {
            _mm256_permute4x64_epi64(_mm256_hadd_epi32(c00, c01), 0xD8),
            _mm256_permute4x64_epi64(_mm256_hadd_epi32(c10, c11), 0xD8),
            _mm256_permute4x64_epi64(_mm256_hadd_epi32(c20, c21), 0xD8),
            _mm256_permute4x64_epi64(_mm256_hadd_epi32(c30, c31), 0xD8),
        };
        const size_t cn = nc - n0 < 8 ? nc - n0 : 8;
        const __m256i bias = _mm256_loadu_si256((const __m256i *)(e->bias + n0));
        const __m256 mult = _mm256_loadu_ps(e->mult + n0);
        for (size_t i = 0; i < mr; i++) {
            __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(acc[i], bias)), mult);
            if (e->fbias) {
                v = _mm256_add_ps(v, _mm256_loadu_ps(e->fbias + n0));
                float *dst = (float *)((char *)y + i * y_stride) + n0;
                if (cn == 8) _mm256_storeu_ps(dst, v);
                else {
                    float tmp[8];
                    _mm256_storeu_ps(tmp, v);
                    memcpy(dst, tmp, cn * 4);
                }
                continue;
            }
            if (e->r) {
                int64_t rr = 0;
                memcpy(&rr, e->r + i * e->r_stride + n0, cn);
                __m256i rq = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(rr));
                __m256 rv = _mm256_cvtepi32_ps(_mm256_sub_epi32(rq, rzp));
                v = _mm256_add_ps(v, _mm256_mul_ps(rv, rmult));
            }
            v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
            __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), yzp);
            __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
            __m128i q8 = _mm_packus_epi16(q16, q16);
            uint8_t *dst = (uint8_t *)y + i * y_stride + n0;
            if (cn == 8) _mm_storel_epi64((__m128i *)dst, q8);
            else {
                int64_t tmp = _mm_cvtsi128_si64(q8);
                memcpy(dst, &tmp, cn);
            }
        }
    }
}
