// tessera/engine/parallel.cpp — the thread pool behind parallel_for and the split matrix products.
//
// The pool holds num_threads − 1 workers; the thread that calls parallel_for is the last one.
// A job is (chunks, ctx, fn). Its life, as the caller sees it:
//
//   1. take submit_mutex_ (a second user thread finding it taken runs its job inline instead);
//   2. write the job, then open it: generation_ += 1 (even = open), and wake sleeping workers;
//   3. claim chunks like any worker: c = next_.fetch_add(1) until c ≥ chunks;
//   4. wait until remaining_ (chunks not yet finished) is 0;
//   5. close the job: generation_ += 1 (odd = closed), then wait until no worker is inside it
//      (active_ == 0), so the next job may overwrite its fields.
//
// A worker that sees an open generation first announces itself (active_ += 1) and then checks
// that the generation is still the one it saw; if the caller closed the job meanwhile, it backs
// off. This is Dekker's pattern on (active_, generation_) with sequentially consistent atomics:
// either the worker sees the close, or the caller sees the worker and waits for it, so a worker
// never reads a job's fields while they are rewritten.
//
// Waiting, for workers and the caller alike, is a short spin with the CPU's pause instruction,
// then a futex sleep. The spin covers the gap between two ops of a step on an
// idle machine; the sleep gives the core away when the machine is busy or the program is idle.
#include "engine/parallel.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "engine/error.h"

namespace tessera {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// How long an idle thread spins before it sleeps. A Transformer step's ops follow each other
// within tens of microseconds, so a spin of this length keeps the workers awake through a step;
// longer spins buy nothing on an idle machine and cost the other programs on a busy one.
constexpr auto kSpin = std::chrono::microseconds(50);

// Spins until pred() holds or kSpin has passed; true if pred() held.
template <class Pred>
bool spin_until(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (pred()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() > deadline) return pred();
  }
}

// Sleeps while *word == expected (returns at once if it differs: no lost wake-up), and wakes every
// thread sleeping on word. Linux futexes directly: libstdc++ 12's std::atomic::wait lost wake-ups
// here (a worker slept through notify_all and the pool hung in join).
void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void futex_wake_all(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

thread_local bool tls_in_parallel = false;

// Marks the current thread as running a chunk (restoring the previous state after: scopes nest).
struct InParallelScope {
  InParallelScope() : previous(tls_in_parallel) { tls_in_parallel = true; }
  ~InParallelScope() { tls_in_parallel = previous; }
  bool previous;
};

// Every chunk in order on this thread: one thread, a nested loop, or a busy pool.
void run_inline(int64_t chunks, void* ctx, void (*fn)(void*, int64_t)) {
  InParallelScope scope;
  for (int64_t c = 0; c < chunks; ++c) fn(ctx, c);
}

int default_threads() {
  if (const char* env = std::getenv("TESSERA_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads) { start(threads); }
  ~ThreadPool() { stop(); }

  int threads() const { return threads_; }

  void resize(int threads) {
    std::lock_guard lock(submit_mutex_);
    stop();
    start(threads);
  }

  void run(int64_t chunks, void* ctx, void (*fn)(void*, int64_t)) {
    std::unique_lock lock(submit_mutex_, std::try_to_lock);
    if (!lock.owns_lock() || workers_.empty()) {  // pool busy with another user thread's job
      run_inline(chunks, ctx, fn);
      return;
    }
    // 2. write the job and open it
    ctx_ = ctx;
    fn_ = fn;
    chunks_ = chunks;
    error_ = nullptr;
    next_.store(0, std::memory_order_relaxed);
    remaining_.store(static_cast<uint32_t>(chunks), std::memory_order_relaxed);
    generation_.fetch_add(1);  // even: open (seq_cst: publishes the fields above)
    if (sleepers_.load() > 0) futex_wake_all(generation_);
    // 3. work like a worker
    work();
    // 4. wait for the chunks other threads claimed
    if (!spin_until([&] { return remaining_.load(std::memory_order_acquire) == 0; })) {
      caller_sleeping_.store(1);
      for (uint32_t r; (r = remaining_.load()) != 0;) futex_wait(remaining_, r);
      caller_sleeping_.store(0);
    }
    // 5. close, and wait for late workers to leave before the fields may change
    generation_.fetch_add(1);
    while (active_.load() != 0) cpu_relax();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void start(int threads) {
    threads_ = threads;
    stopping_.store(false);
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  void stop() {
    stopping_.store(true);
    generation_.fetch_add(2);  // stays closed (odd → odd), but wakes everyone
    futex_wake_all(generation_);
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  // Claims and runs chunks of the open job until none are left.
  void work() {
    InParallelScope scope;
    for (;;) {
      const int64_t c = next_.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks_) return;
      try {
        fn_(ctx_, c);
      } catch (...) {
        std::lock_guard lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      if (remaining_.fetch_sub(1) == 1 && caller_sleeping_.load()) futex_wake_all(remaining_);
    }
  }

  void worker_loop() {
    uint32_t seen = generation_.load();
    for (;;) {
      // Wait for the generation to move (or for stop(): a worker that starts after stop() moved
      // the generation would otherwise wait for a move that never comes).
      auto woken = [&] { return generation_.load() != seen || stopping_.load(); };
      if (!spin_until(woken)) {
        sleepers_.fetch_add(1);
        while (!woken()) futex_wait(generation_, seen);
        sleepers_.fetch_sub(1);
      }
      if (stopping_.load()) return;
      seen = generation_.load();
      if (seen % 2 == 1) continue;  // closed already: wait for the next one
      active_.fetch_add(1);
      if (generation_.load() == seen) work();  // still open: its fields are stable
      active_.fetch_sub(1);
    }
  }

  int threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;

  // the job (written only while closed and no worker is active)
  void* ctx_ = nullptr;
  void (*fn_)(void*, int64_t) = nullptr;
  int64_t chunks_ = 0;
  std::exception_ptr error_;
  std::mutex error_mutex_;

  // 32-bit: futex words. Wrapping is harmless: only equality and parity are used.
  std::atomic<uint32_t> generation_{1};  // odd: closed, even: open
  std::atomic<int64_t> next_{0};
  std::atomic<uint32_t> remaining_{0};
  std::atomic<int> caller_sleeping_{0};
  std::atomic<int> active_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false};
};

ThreadPool& pool() {
  // Built on first use (engine/blas.cpp keeps OpenBLAS itself single-threaded: the pool is the
  // only one); never destroyed: workers may outlive main()'s statics.
  static ThreadPool* p = new ThreadPool(default_threads());
  return *p;
}

std::atomic<int> g_threads{0};  // cached pool().threads(), 0 until the pool exists

}  // namespace

void set_num_threads(int n) {
  TS_CHECK(n >= 1, "set_num_threads: need at least one thread, got {}", n);
  TS_CHECK(!tls_in_parallel, "set_num_threads: called from inside a parallel_for");
  pool().resize(n);
  g_threads.store(n);
}

int get_num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    n = pool().threads();
    g_threads.store(n);
  }
  return n;
}

bool in_parallel_region() { return tls_in_parallel; }

namespace detail {
void run_chunks(int64_t chunks, void* ctx, void (*fn)(void*, int64_t)) {
  if (chunks <= 0) return;
  TS_CHECK(chunks < (int64_t{1} << 30), "parallel_for: {} chunks are too many", chunks);
  if (chunks == 1 || tls_in_parallel || get_num_threads() == 1) {
    run_inline(chunks, ctx, fn);
    return;
  }
  pool().run(chunks, ctx, fn);
}
}  // namespace detail

}  // namespace tessera
