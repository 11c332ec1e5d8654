// tessera/engine/parallel.h — one thread pool for everything.
//
// tessera links Debian's OpenMP build of OpenBLAS, so BLAS and the engine's own loops share the
// same OpenMP threads instead of two pools spinning against each other (docs/design.md).
// parallel_for splits [0, n) into one contiguous block per thread, statically, so results
// never depend on timing; small ranges run inline, where threads would cost more than they save.
#pragma once

#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace tessera {

// Sets the number of threads for the engine and BLAS (like torch.set_num_threads).
void set_num_threads(int n);
int get_num_threads();

template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
#ifdef _OPENMP
  if (n > grain && !omp_in_parallel()) {
    const int threads = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), n / grain));
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
      {
        const int t = omp_get_thread_num();
        const int nt = omp_get_num_threads();
        const int64_t begin = n * t / nt, end = n * (t + 1) / nt;
        if (begin < end) f(begin, end);
      }
      return;
    }
  }
#endif
  (void)grain;
  if (n > 0) f(int64_t{0}, n);
}

// Elementwise work below this many elements runs on one thread.
constexpr int64_t kElementwiseGrain = 32768;

}  // namespace tessera
