/* The 1-D transforms of Winograd F(4,3) with points 0, ±1, ±2, ∞, shared by the scalar reference and
   written out again, operation for operation, with AVX-512 and AVX2 intrinsics in f32-winograd43-avx512.c
   and -avx2.c: keep them in step (the kernel tests compare them bit for bit). Internal to CSegKernels. */
#ifndef SEG_F32_WINOGRAD43_H
#define SEG_F32_WINOGRAD43_H

/* out = Bᵀ·d, Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]. */
static inline void seg_winograd43_bt(const float d[6], float out[6]) {
    out[0] = (d[0] * 4.0f - d[2] * 5.0f) + d[4];
    out[1] = (d[3] + d[4]) - (d[1] + d[2]) * 4.0f;
    out[2] = (d[4] - d[3]) + (d[1] - d[2]) * 4.0f;
    out[3] = (d[4] - d[2]) + (d[3] - d[1]) * 2.0f;
    out[4] = (d[4] - d[2]) - (d[3] - d[1]) * 2.0f;
    out[5] = (d[1] * 4.0f - d[3] * 5.0f) + d[5];
}

/* out = Aᵀ·s, Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]. */
static inline void seg_winograd43_at(const float s[6], float out[4]) {
    const float a = s[1] + s[2], b = s[1] - s[2], c = s[3] + s[4], d = s[3] - s[4];
    out[0] = (s[0] + a) + c;
    out[1] = b + d * 2.0f;
    out[2] = a + c * 4.0f;
    out[3] = (b + d * 8.0f) + s[5];
}

#endif
