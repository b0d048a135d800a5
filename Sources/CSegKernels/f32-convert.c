/* Half-precision widening for model loading. */
#include "CSegKernels.h"
#include <string.h>

static inline float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

void seg_f32_from_f16(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t h = src[i], sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu, bits;
        if (exp == 0) {
            if (man == 0) bits = sign;
            else {                                  /* subnormal: renormalise */
                int e = -1;
                do { man <<= 1; e++; } while (!(man & 0x400u));
                bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
            }
        } else if (exp == 31) bits = sign | 0x7f800000u | (man << 13);
        else bits = sign | ((exp + 112) << 23) | (man << 13);
        dst[i] = f32_from_bits(bits);
    }
}

void seg_f32_from_bf16(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = f32_from_bits((uint32_t)src[i] << 16);
}
