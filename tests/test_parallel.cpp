// tests/test_parallel.cpp — engine/parallel.h: the thread pool behind parallel_for.
//
// The chunks a loop sees depend on n and the grain only; every index is visited once; exceptions
// reach the caller; nested loops and loops from several user threads run; resizing the pool many
// times neither hangs nor loses work; and cut matrix products equal the uncut reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/blas.h"
#include "engine/parallel.h"
#include "engine/tessera.h"
#include "tests/helpers.h"

using namespace tessera;

namespace {

struct ThreadCountGuard {
  int saved = get_num_threads();
  ~ThreadCountGuard() { set_num_threads(saved); }
};

// The ranges parallel_for hands out, sorted.
std::vector<std::pair<int64_t, int64_t>> ranges_of(int64_t n, int64_t grain) {
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    std::lock_guard lock(mutex);
    ranges.emplace_back(b, e);
  });
  std::sort(ranges.begin(), ranges.end());
  return ranges;
}

}  // namespace

TEST_CASE("parallel_for: every index once, in ranges that do not depend on the thread count") {
  ThreadCountGuard guard;
  for (const auto& [n, grain] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {10, 100}, {1000, 7}, {100000, 1000}, {65, 1}}) {
    set_num_threads(1);
    const auto one = ranges_of(n, grain);
    int64_t next = 0;
    for (const auto& [b, e] : one) {
      CHECK(b == next);  // contiguous, disjoint, covering [0, n)
      CHECK(e > b);
      next = e;
    }
    CHECK(next == n);
    CHECK(one.size() <= static_cast<size_t>(kMaxChunks));
    for (int threads : {2, 3, 4}) {
      set_num_threads(threads);
      CHECK(ranges_of(n, grain) == one);
    }
  }
}

TEST_CASE("parallel_for: work is shared, nested loops run inline, exceptions reach the caller") {
  ThreadCountGuard guard;
  set_num_threads(3);
  std::vector<std::atomic<int>> hits(20000);
  parallel_for(20000, 100, [&](int64_t b, int64_t e) {
    CHECK(in_parallel_region());
    // nested: its chunks (the same as anywhere) run in order on this thread
    const std::thread::id outer = std::this_thread::get_id();
    int64_t next = 0;
    parallel_for(e - b, 1, [&](int64_t b2, int64_t e2) {
      CHECK(std::this_thread::get_id() == outer);
      CHECK(b2 == next);
      next = e2;
    });
    CHECK(next == e - b);
    for (int64_t i = b; i < e; ++i) hits[i]++;
  });
  CHECK_FALSE(in_parallel_region());
  for (const auto& h : hits) REQUIRE(h.load() == 1);
  CHECK_THROWS_WITH_AS(parallel_for(1000, 1, [](int64_t b, int64_t) {
                         if (b >= 500) throw std::runtime_error("chunk failed");
                       }),
                       "chunk failed", std::runtime_error);
  // the pool still works afterwards
  std::atomic<int64_t> total{0};
  parallel_for(1000, 1, [&](int64_t b, int64_t e) { total += e - b; });
  CHECK(total.load() == 1000);
}

TEST_CASE("parallel_for: resizing the pool many times, and loops from several user threads at once") {
  ThreadCountGuard guard;
  for (int round = 0; round < 200; ++round) {
    set_num_threads(1 + round % 4);
    std::atomic<int64_t> total{0};
    parallel_for(5000, 10, [&](int64_t b, int64_t e) { total += e - b; });
    REQUIRE(total.load() == 5000);
  }
  set_num_threads(2);
  std::vector<std::thread> users;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t)
    users.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        std::atomic<int64_t> total{0};
        parallel_for(3000, 10, [&](int64_t b, int64_t e) { total += e - b; });
        if (total.load() != 3000) wrong++;
      }
    });
  for (auto& u : users) u.join();
  CHECK(wrong.load() == 0);
  CHECK_THROWS_WITH(set_num_threads(0), doctest::Contains("at least one thread"));
}

TEST_CASE("gemm: products cut into blocks for the pool equal the reference, at every thread count") {
  ThreadCountGuard guard;
  // big enough to be cut by rows (m large), by columns (m small, n large), and a GEMV cut over outputs
  for (const auto& [m, n, k] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{300, 70, 200}, {40, 900, 150}, {1, 5000, 300}, {3000, 1, 400}}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        manual_seed(static_cast<uint64_t>(m + n));
        const Tensor a = randn(ta ? Shape{k, m} : Shape{m, k}), b = randn(tb ? Shape{n, k} : Shape{k, n});
        Tensor want = zeros({m, n});
        gemm_reference(ta, tb, m, n, k, 1, a.data(), ta ? m : k, b.data(), tb ? k : n, 0, want.data(), n);
        std::vector<scalar_t> first;
        for (int threads : {1, 2, 3}) {
          set_num_threads(threads);
          Tensor got = full({m, n}, 7);  // beta = 0 must not read it
          gemm(ta, tb, m, n, k, 1, a.data(), ta ? m : k, b.data(), tb ? k : n, 0, got.data(), n);
          CHECK(testing::all_close(got, want, 1e-4, 1e-4));
          if (threads == 1) first = got.to_vector();
          else CHECK(got.to_vector() == first);  // the same bits
        }
      }
  }
}
