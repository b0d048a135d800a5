/* Internal to CSegKernels: the instruction-rate probes behind seg_peak_gmacs (peak*.c). */
#ifndef SEG_PEAK_H
#define SEG_PEAK_H
#include <stdint.h>

#define SEG_PEAK_CHAINS 12

/* `rounds` rounds of SEG_PEAK_CHAINS independent multiply-accumulates; return the MACs done. The int8 probes
   leave in *sink the sum over the chains of lane 0 (each chain k starts at k and gains the same product sum per
   round), so a test can check that the loop ran as written. */
uint64_t seg_peak_int8__avx2(uint64_t rounds, int32_t *sink);
uint64_t seg_peak_int8__avx512vnni(uint64_t rounds, int32_t *sink);
uint64_t seg_peak_fp32__avx2(uint64_t rounds, float *sink);
uint64_t seg_peak_fp32__avx512(uint64_t rounds, float *sink);

#endif
