#ifndef CBLAS_SHIM_H
#define CBLAS_SHIM_H
#include <cblas.h>
// OpenBLAS's own thread pool must not fight the engine's threads: the engine calls this with 1.
void openblas_set_num_threads(int num_threads);
#endif
