/* int8 boundary gate (SeENet's BAM, CSegKernels.h): y = requant((b − b_zp)·T[a]) with the table
   T[q] = (1 − σ(s_a·(q − a_zp)))·s_b/s_y made once per layer, so every ISA does the same float ops. */
#pragma STDC FP_CONTRACT OFF
#include <math.h>

#include "qu8-common.h"

void seg_qu8_gate_table(float a_scale, uint8_t a_zp, float b_scale, float y_scale, float *table) {
    const float ratio = b_scale / y_scale;
    for (int q = 0; q < 256; q++) table[q] = (1.0f / (1.0f + expf(a_scale * (float)(q - (int)a_zp)))) * ratio;
}

void seg_qu8_gate_row__scalar(size_t c, const uint8_t *a, const uint8_t *b, const float *table, int32_t b_zp,
                              int32_t y_zp, uint8_t *y) {
    const float lo = (float)(0 - y_zp), hi = (float)(255 - y_zp);
    for (size_t ch = 0; ch < c; ch++) {
        float v = (float)((int32_t)b[ch] - b_zp) * table[a[ch]];
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        y[ch] = (uint8_t)((int32_t)lrintf(v) + y_zp);
    }
}

void seg_qu8_gate_isa(seg_isa isa, size_t n, size_t c, const uint8_t *a, size_t a_stride, const uint8_t *b,
                      size_t b_stride, const float *table, int32_t b_zp, int32_t y_zp, uint8_t *y, size_t y_stride) {
    if (!seg_isa_supported(isa)) isa = seg_isa_active();
    seg_qu8_gate_row_fn row = isa == SEG_ISA_AVX512VNNI ? seg_qu8_gate_row__avx512
                              : isa == SEG_ISA_AVX2   ? seg_qu8_gate_row__avx2
                                                      : seg_qu8_gate_row__scalar;
    for (size_t p = 0; p < n; p++) row(c, a + p * a_stride, b + p * b_stride, table, b_zp, y_zp, y + p * y_stride);
}

void seg_qu8_gate(size_t n, size_t c, const uint8_t *a, size_t a_stride, const uint8_t *b, size_t b_stride,
                  const float *table, int32_t b_zp, int32_t y_zp, uint8_t *y, size_t y_stride) {
    seg_qu8_gate_isa(seg_isa_active(), n, c, a, a_stride, b, b_stride, table, b_zp, y_zp, y, y_stride);
}
