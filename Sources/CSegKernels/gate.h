/* Internal to CSegKernels: the gating ops' per-element definitions (gate.c, gate-avx2.c) and variants. */
#ifndef SEG_GATE_H
#define SEG_GATE_H
#pragma STDC FP_CONTRACT OFF
#include <math.h>

#include "CSegKernels.h"
#include "qu8-common.h"

static inline float seg_f32_modulate1(float x, float gs, float gc) {
    float t = x * gs;
    t = t * gc;
    return x + t;
}

static inline float seg_f32_balanced1(float h, float l, float wh, float wl) {
    float a = wh * h;
    float b = wl * l;
    return a + b;
}

/* Clamped to the u8 range around y_zp before rounding, as every qu8 epilogue. */
static inline uint8_t seg_qu8_round(float v, uint8_t y_zp) {
    const float lo = -(float)y_zp, hi = 255.0f - (float)y_zp;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (uint8_t)((int32_t)lrintf(v) + y_zp);
}

static inline uint8_t seg_qu8_modulate1(uint8_t x, uint8_t x_zp, float x_mult, float gs, float gc, uint8_t y_zp) {
    float v = (float)((int32_t)x - (int32_t)x_zp) * x_mult;
    float t = v * gs;
    t = t * gc;
    return seg_qu8_round(v + t, y_zp);
}

static inline uint8_t seg_qu8_balanced1(uint8_t h, uint8_t h_zp, float mh, uint8_t l, uint8_t l_zp, float ml,
                                        uint8_t y_zp) {
    float a = (float)((int32_t)h - (int32_t)h_zp) * mh;
    float b = (float)((int32_t)l - (int32_t)l_zp) * ml;
    return seg_qu8_round(a + b, y_zp);
}

#define SEG_GATE_DECL(isa)                                                                                         \
    void seg_f32_modulate__##isa(const float *, size_t, size_t, const float *, const float *, float *, size_t,    \
                                 size_t);                                                                          \
    void seg_f32_balanced_sum__##isa(const float *, const float *, size_t, size_t, const float *, const float *,  \
                                     float *, size_t, size_t);                                                     \
    void seg_qu8_modulate__##isa(size_t, const uint8_t *, size_t, uint8_t, float, const float *, const float *,   \
                                 uint8_t *, size_t, uint8_t, size_t, size_t);                                      \
    void seg_qu8_balanced_sum__##isa(size_t, const uint8_t *, size_t, uint8_t, const float *, const uint8_t *,    \
                                     size_t, uint8_t, const float *, uint8_t *, size_t, uint8_t, size_t, size_t);
SEG_GATE_DECL(scalar)
SEG_GATE_DECL(avx2)
#undef SEG_GATE_DECL

#endif
