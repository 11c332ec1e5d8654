// tests/test_small_alloc.cpp — engine/small_alloc.h: the per-thread free lists behind TensorImpl,
// Storage, graph nodes and their edge lists.
//
// Blocks are aligned, usable to their full size and distinct while live; a freed block is handed
// out again (that is the point); blocks may be freed on another thread than the one that made
// them; a thread never caches more than its cap; and tensors made on the pool's workers and
// dropped on the caller (and the reverse) survive a stress loop. Under AddressSanitizer the
// cache is off, so these tests then check plain allocation, and ASan checks every free.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "engine/parallel.h"
#include "engine/small_alloc.h"
#include "engine/tessera.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::detail;

TEST_CASE("small_alloc: every size gets an aligned block usable to its full size, distinct while live") {
  std::vector<std::pair<void*, size_t>> live;
  std::set<void*> seen;
  for (size_t bytes = 1; bytes <= kSmallMax; bytes += 7) {
    void* p = small_alloc(bytes);
    CHECK(reinterpret_cast<uintptr_t>(p) % kSmallAlign == 0);
    std::memset(p, static_cast<int>(bytes & 0xff), bytes);
    CHECK(seen.insert(p).second);
    live.emplace_back(p, bytes);
  }
  // nothing overwrote a neighbour
  int damaged = 0;
  for (const auto& [p, bytes] : live)
    for (size_t i = 0; i < bytes; ++i) damaged += static_cast<unsigned char*>(p)[i] != (bytes & 0xff);
  CHECK(damaged == 0);
  for (const auto& [p, bytes] : live) small_free(p, bytes);
}

TEST_CASE("small_alloc: a freed block is reused, and the thread's cache counts it") {
  if (!small_pooling()) return;  // AddressSanitizer build: no cache to test
  void* a = small_alloc(100);
  const size_t before = small_cached_bytes();
  small_free(a, 100);
  CHECK(small_cached_bytes() == before + 128);  // 100 bytes live in the 128-byte class
  void* b = small_alloc(120);                   // same class: the same block comes back
  CHECK(b == a);
  CHECK(small_cached_bytes() == before);
  small_free(b, 120);
}

TEST_CASE("small_alloc: blocks freed on another thread join that thread's cache") {
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) {
    void* p = small_alloc(64);
    std::memset(p, i & 0xff, 64);
    blocks.push_back(p);
  }
  size_t cached_there = 0, reused_there = 0;
  std::thread other([&] {
    const size_t start = small_cached_bytes();
    for (void* p : blocks) small_free(p, 64);
    cached_there = small_cached_bytes() - start;
    // that thread now allocates from what it was given
    std::set<void*> given(blocks.begin(), blocks.end());
    for (int i = 0; i < 1000; ++i) {
      void* p = small_alloc(64);
      reused_there += given.count(p);
      small_free(p, 64);
    }
  });
  other.join();
  if (small_pooling()) {
    CHECK(cached_there == 1000 * 64);
    CHECK(reused_there == 1000);
  }
}

TEST_CASE("small_alloc: a thread caches at most kMaxCachedBytes; the rest goes back to the system") {
  std::thread t([] {
    const size_t n = kMaxCachedBytes / 512 + 1000;
    std::vector<void*> blocks(n);
    for (auto& p : blocks) p = small_alloc(512);
    for (void* p : blocks) small_free(p, 512);
    CHECK(small_cached_bytes() <= kMaxCachedBytes);
    if (small_pooling()) CHECK(small_cached_bytes() == kMaxCachedBytes);
  });  // and the thread's cache is emptied when it ends
  t.join();
}

TEST_CASE("small_alloc: tensors and graphs made on the pool's threads and dropped on the caller") {
  const int saved = get_num_threads();
  set_num_threads(2);
  for (int round = 0; round < 20; ++round) {
    std::vector<Tensor> made(64);
    // each chunk builds a small graph on whichever thread runs it
    parallel_for(64, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        Tensor x = full({3}, static_cast<scalar_t>(i)).requires_grad_();
        made[i] = mul(add(x, x), x);  // 2x² with a two-node graph
      }
    });
    scalar_t total = 0;
    for (int64_t i = 0; i < 64; ++i) {
      made[i].sum().backward();  // the graph built on a worker, walked and freed here
      total += made[i].data()[0];
    }
    scalar_t expected = 0;
    for (int i = 0; i < 64; ++i) expected += 2 * static_cast<scalar_t>(i) * static_cast<scalar_t>(i);
    CHECK(total == expected);
  }
  set_num_threads(saved);
}
