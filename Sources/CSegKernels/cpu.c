/* CPU feature detection and the kernel dispatch table.
   Detection: CPUID leaves 1 and 7, plus OSXSAVE and XGETBV(XCR0) so that an OS that does not save
   the YMM/ZMM state disables the ISA. The table is filled once (pthread_once); SEGSTREAM_ISA overrides. */
#include <cpuid.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "CSegKernels.h"
#include "gate.h"
#include "qu8-common.h"

static int g_supported[SEG_ISA_COUNT];
static seg_isa g_best = SEG_ISA_SCALAR;
static seg_isa g_active = SEG_ISA_SCALAR;
static int g_override = 0;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void init(void);

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect(void) {
    g_supported[SEG_ISA_SCALAR] = 1;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return;
    const uint64_t xcr0 = xgetbv0();
    const int os_ymm = (xcr0 & 0x6) == 0x6;     /* SSE + AVX state */
    const int os_zmm = (xcr0 & 0xe6) == 0xe6;   /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1;
    const int f = (b >> 16) & 1, dq = (b >> 17) & 1, cd = (b >> 28) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    const int vnni = (c >> 11) & 1;
    g_supported[SEG_ISA_AVX2] = os_ymm && avx2 && fma;
    g_supported[SEG_ISA_AVX512VNNI] = g_supported[SEG_ISA_AVX2] && os_zmm && f && dq && cd && bw && vl && vnni;
}

int seg_isa_resolve(const char *request, seg_isa *isa, int quiet) {
    pthread_once(&g_once, init);
    *isa = g_best;
    if (!request || !*request) return 0;
    int want = -1;
    for (int i = 0; i < SEG_ISA_COUNT; i++)
        if (strcmp(request, seg_isa_name((seg_isa)i)) == 0) want = i;
    if (want < 0) {
        if (!quiet)
            fprintf(stderr, "segstream: SEGSTREAM_ISA=%s is not one of scalar|avx2|avx512vnni; using %s\n", request,
                    seg_isa_name(g_best));
        return -1;
    }
    if (!g_supported[want]) {
        if (!quiet)
            fprintf(stderr, "segstream: SEGSTREAM_ISA=%s is not supported by this CPU/OS; using %s\n", request,
                    seg_isa_name(g_best));
        return -1;
    }
    *isa = (seg_isa)want;
    return 1;
}

static void init(void) {
    detect();
    for (int i = 0; i < SEG_ISA_COUNT; i++)
        if (g_supported[i]) g_best = (seg_isa)i;
    g_active = g_best;
}

static pthread_once_t g_once_env = PTHREAD_ONCE_INIT;
static void init_env(void) { g_override = seg_isa_resolve(getenv("SEGSTREAM_ISA"), &g_active, 0); }

const char *seg_isa_name(seg_isa isa) {
    switch (isa) {
    case SEG_ISA_SCALAR: return "scalar";
    case SEG_ISA_AVX2: return "avx2";
    case SEG_ISA_AVX512VNNI: return "avx512vnni";
    default: return "?";
    }
}

int seg_isa_supported(seg_isa isa) {
    pthread_once(&g_once, init);
    return (unsigned)isa < SEG_ISA_COUNT && g_supported[isa];
}

seg_isa seg_isa_best(void) {
    pthread_once(&g_once, init);
    return g_best;
}

seg_isa seg_isa_active(void) {
    pthread_once(&g_once_env, init_env);
    return g_active;
}

int seg_isa_override_status(void) {
    pthread_once(&g_once_env, init_env);
    return g_override;
}

/* ---- fp32 table ---- */
static const seg_f32_ukernels g_f32[SEG_ISA_COUNT] = {
    [SEG_ISA_SCALAR] = {seg_f32_winograd43_input__scalar, seg_f32_winograd43_output__scalar,
                        seg_f32_modulate__scalar, seg_f32_balanced_sum__scalar},
    [SEG_ISA_AVX2] = {seg_f32_winograd43_input__avx2, seg_f32_winograd43_output__avx2, seg_f32_modulate__avx2,
                      seg_f32_balanced_sum__avx2},
    /* The gates are memory-bound elementwise passes: AVX2's 8 lanes already keep up, so AVX-512 reuses them. */
    [SEG_ISA_AVX512VNNI] = {seg_f32_winograd43_input__avx512, seg_f32_winograd43_output__avx512,
                            seg_f32_modulate__avx2, seg_f32_balanced_sum__avx2},
};

const seg_f32_ukernels *seg_f32_ukernels_get(seg_isa isa) {
    if ((unsigned)isa >= SEG_ISA_COUNT || !seg_isa_supported(isa)) isa = seg_isa_active();
    return &g_f32[isa];
}

/* ---- int8 (qu8) table ---- */
static const seg_qu8_ukernels g_qu8[SEG_ISA_COUNT] = {
    [SEG_ISA_SCALAR] = {seg_qu8_igemm_minmax_ukernel_1x64c4__scalar, 1, 0, seg_qu8_bilinear_ukernel__scalar,
                        seg_qu8_upsample_row_ukernel__scalar, seg_qu8_argmax_row_ukernel__scalar,
                        .modulate = seg_qu8_modulate__scalar, .balanced_sum = seg_qu8_balanced_sum__scalar},
    [SEG_ISA_AVX2] = {seg_qu8_igemm_minmax_ukernel_6x16c2__avx2, 6, 1, seg_qu8_bilinear_ukernel__avx2,
                      seg_qu8_upsample_row_ukernel__avx2, seg_qu8_argmax_row_ukernel__avx2,
                      .modulate = seg_qu8_modulate__avx2, .balanced_sum = seg_qu8_balanced_sum__avx2},
    [SEG_ISA_AVX512VNNI] = {seg_qu8_igemm_minmax_ukernel_6x64c4__avx512vnni, 6, 0, seg_qu8_bilinear_ukernel__avx512bw,
                            seg_qu8_upsample_row_ukernel__avx512, seg_qu8_argmax_row_ukernel__avx512,
                            seg_qu8_dot_ukernel_4x4__avx512vnni, 4, seg_qu8_modulate__avx2,
                            seg_qu8_balanced_sum__avx2},
};

const seg_qu8_ukernels *seg_qu8_ukernels_get(seg_isa isa) {
    if ((unsigned)isa >= SEG_ISA_COUNT || !seg_isa_supported(isa)) isa = seg_isa_active();
    return &g_qu8[isa];
}
