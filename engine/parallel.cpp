#include "engine/parallel.h"

#include "engine/error.h"

namespace tessera {

void set_num_threads(int n) {
  TS_CHECK(n >= 1, "set_num_threads: need at least one thread, got {}", n);
#ifdef _OPENMP
  omp_set_num_threads(n);  // OpenBLAS's OpenMP build reads the same setting
#endif
}

int get_num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace tessera
