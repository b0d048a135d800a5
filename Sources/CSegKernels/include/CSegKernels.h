#ifndef CSEGKERNELS_H
#define CSEGKERNELS_H
/* segstream C micro-kernels. Every SIMD kernel has a scalar reference beside it, and the dispatch
   table (cpu.c) is filled once from CPUID/XCR0, overridable with SEGSTREAM_ISA=scalar|avx2|avx512vnni. */
#include <stddef.h>
#include <stdint.h>

#endif
