/* AVX2 boundary gate y = b / (1 + e^a) (f32-boundary-gate.c), 8 lanes. e^x: x = n·ln2 + r, |r| ≤ ln2/2, a degree-6
   polynomial for e^r (Cephes expf coefficients, ~1e-7 relative), 2^n through the exponent bits; x is clamped
   to [−87, 88] first, where 1/(1 + e^x) is 1 resp. 0 to float precision anyway. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>
#include <math.h>

#include "CSegKernels.h"

#define SEG_TARGET __attribute__((target("avx2,fma")))

static inline SEG_TARGET __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(-2.12194440e-4f)));
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

SEG_TARGET void seg_f32_gate_row__avx2(const float *a, const float *b, float *y, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 g = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_loadu_ps(a + j))));
        _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(b + j), g));
    }
    for (; j < n; j++) y[j] = b[j] * (1.0f / (1.0f + expf(a[j])));
}
