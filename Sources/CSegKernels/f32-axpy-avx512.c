/* AVX-512 row kernel of the fp32 depthwise conv: y[j] += w·x[j], mul then add (no FMA), masked tail. */
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>

#include "CSegKernels.h"

__attribute__((target("avx512f"))) void seg_f32_axpy_row__avx512(float *y, const float *x, float w, size_t n) {
    const __m512 vw = _mm512_set1_ps(w);
    size_t j = 0;
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(y + j, _mm512_add_ps(_mm512_loadu_ps(y + j), _mm512_mul_ps(vw, _mm512_loadu_ps(x + j))));
    if (j < n) {
        const __mmask16 m = (__mmask16)((1u << (n - j)) - 1);
        _mm512_mask_storeu_ps(y + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + j),
                                                      _mm512_mul_ps(vw, _mm512_maskz_loadu_ps(m, x + j))));
    }
}
