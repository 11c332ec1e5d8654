// tessera/engine/parallel.h — the engine's own thread pool, and the loops that use it.
//
// One pool serves everything: the elementwise and reduction loops, and matrix products (BLAS runs
// single-threaded; engine/blas.cpp splits a large product into blocks of C and hands the blocks to
// this pool). docs/design.md, "Threading", has the reasoning and the measurements. In short:
//
//  * Work is cut into chunks whose boundaries depend only on the problem (n and the grain),
//    never on the number of threads, and any thread may run any chunk. So a result is the same,
//    bit for bit, at 1, 2 or 16 threads, and a thread that the OS deschedules (a busy laptop)
//    only delays the chunks it has already claimed: the others take the rest.
//  * Idle workers spin briefly (a few tens of microseconds: the gap between two ops of a training
//    step), then sleep on a futex. Fast when idle, harmless when the machine is busy: no
//    environment variable needed.
//  * Small work runs inline on the calling thread: parallel_for runs in parallel only when n
//    exceeds the grain, and grains come from a cost model (grain_for_cost) so that a chunk is
//    always worth more than waking a thread.
//  * A parallel_for inside a parallel_for (or from a second user thread while the pool is busy)
//    runs inline, serially. Exceptions thrown in a chunk reach the caller.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace tessera {

// Sets the number of threads for the engine, BLAS included (like torch.set_num_threads). The
// default is the number of cores this process may run on, or TESSERA_NUM_THREADS when set.
void set_num_threads(int n);
int get_num_threads();

// True inside a chunk of a parallel_for (where further parallel_for calls run inline).
bool in_parallel_region();

namespace detail {
// Runs fn(ctx, c) for every chunk c in [0, chunks) on the pool (the caller takes part) and
// returns when all are done; rethrows the first exception a chunk threw.
void run_chunks(int64_t chunks, void* ctx, void (*fn)(void* ctx, int64_t chunk));
}  // namespace detail

// The most chunks one parallel_for is cut into: enough for 2–8 threads to balance their load when
// some of them are descheduled, few enough that claiming a chunk (one atomic add) costs nothing.
constexpr int64_t kMaxChunks = 64;

// Calls f(begin, end) over disjoint ranges covering [0, n), in parallel when n > grain. The
// ranges are cut from n and grain alone (each at least `grain` long, at most kMaxChunks of them),
// so f sees the same ranges at every thread count; f must not depend on which thread runs it.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (n <= grain) {
    f(int64_t{0}, n);
    return;
  }
  const int64_t chunk = std::max(grain, (n + kMaxChunks - 1) / kMaxChunks);
  struct Context {
    std::remove_reference_t<F>* f;
    int64_t n, chunk;
  } ctx{&f, n, chunk};
  // With one thread (or nested) run_chunks walks the same chunks in order on this thread.
  detail::run_chunks((n + chunk - 1) / chunk, &ctx, [](void* p, int64_t c) {
    const Context& x = *static_cast<const Context*>(p);
    const int64_t begin = c * x.chunk;
    (*x.f)(begin, std::min(x.n, begin + x.chunk));
  });
}

// The cost model. Handing work to the pool costs about kParallelOverheadNs (signalling a worker,
// claiming chunks, waiting for the last one; an estimate, not yet tuned by measurement), so a
// chunk should be worth several times that. grain_for_cost(ns per item) is the smallest chunk
// that is: pass what one item of the loop costs on one core.
constexpr double kParallelOverheadNs = 4000;
constexpr int64_t grain_for_cost(double ns_per_item) {
  const double items = 4 * kParallelOverheadNs / (ns_per_item > 0 ? ns_per_item : 1);
  return items < 1 ? 1 : static_cast<int64_t>(items);
}

// Elementwise work (a load, a few flops, a store: ~0.5 ns an element) below this many elements
// runs on one thread.
constexpr int64_t kElementwiseGrain = grain_for_cost(0.5);

}  // namespace tessera
