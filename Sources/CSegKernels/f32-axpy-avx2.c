/* AVX2 row kernel of the fp32 depthwise conv: y[j] += w·x[j], mul then add (no FMA) as the scalar reference. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>

#include "CSegKernels.h"

__attribute__((target("avx2"))) void seg_f32_axpy_row__avx2(float *y, const float *x, float w, size_t n) {
    const __m256 vw = _mm256_set1_ps(w);
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(y + j, _mm256_add_ps(_mm256_loadu_ps(y + j), _mm256_mul_ps(vw, _mm256_loadu_ps(x + j))));
    for (; j < n; j++) y[j] = y[j] + w * x[j];
}
