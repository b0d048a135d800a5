#include "CSegKernels.h"
