/* fp32 boundary gate (SeENet's BAM, CSegKernels.h): y = b·(1 − σ(a)) = b / (1 + e^a). Scalar reference and
   driver; the SIMD variants use their own e^x (f32-boundary-gate-avx2.c, f32-boundary-gate-avx512.c), within 1e-6 relative. */
#pragma STDC FP_CONTRACT OFF
#include <math.h>

#include "CSegKernels.h"

void seg_f32_gate_row__scalar(const float *a, const float *b, float *y, size_t n) {
    for (size_t j = 0; j < n; j++) y[j] = b[j] * (1.0f / (1.0f + expf(a[j])));
}

void seg_f32_gate_isa(int isa, const float *a, const float *b, float *y, size_t n) {
    if (!seg_isa_supported((seg_isa)isa)) isa = seg_isa_active();
    switch (isa) {
    case SEG_ISA_AVX512VNNI: seg_f32_gate_row__avx512(a, b, y, n); break;
    case SEG_ISA_AVX2: seg_f32_gate_row__avx2(a, b, y, n); break;
    default: seg_f32_gate_row__scalar(a, b, y, n); break;
    }
}

void seg_f32_gate(const float *a, const float *b, float *y, size_t n) { seg_f32_gate_isa(seg_isa_active(), a, b, y, n); }
