// OpenMP helpers that degrade to serial code when the compiler has no OpenMP.
#pragma once
#ifdef FEDRAS_WITH_OPENMP
#include <omp.h>
#endif

namespace fedras {

inline int resolve_threads(int requested) {
#ifdef FEDRAS_WITH_OPENMP
  return requested > 0 ? requested : omp_get_max_threads();
#else
  (void)requested;
  return 1;
#endif
}

}  // namespace fedras
