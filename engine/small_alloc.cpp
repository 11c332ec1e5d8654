// tessera/engine/small_alloc.cpp — the per-thread free lists behind small_alloc (see the header).
#include "engine/small_alloc.h"

#include <cstdlib>

namespace tessera::detail {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPooling = false;  // let ASan see every allocation and every free
#else
constexpr bool kPooling = true;
#endif

constexpr size_t kClasses = kSmallMax / kSmallAlign;  // blocks of 64, 128, ..., 512 bytes

size_t class_of(size_t bytes) { return bytes == 0 ? 0 : (bytes - 1) / kSmallAlign; }
size_t class_bytes(size_t c) { return (c + 1) * kSmallAlign; }

struct FreeBlock {
  FreeBlock* next;
};

// The thread's lists. Plain data (no destructor), so it can still be read after the cleaner
// below has run at thread exit: `closed` then sends every free straight to free().
struct ThreadCache {
  FreeBlock* head[kClasses];
  size_t cached_bytes;
  bool closed;
};
thread_local ThreadCache t_cache{};

// Empties the thread's lists when the thread ends (for the main thread: before static objects
// are destroyed, which may still free tensors; they then take the `closed` path).
struct Cleaner {
  ~Cleaner() {
    t_cache.closed = true;
    for (FreeBlock*& head : t_cache.head) {
      while (head) {
        FreeBlock* next = head->next;
        std::free(head);
        head = next;
      }
    }
    t_cache.cached_bytes = 0;
  }
};

void* system_alloc(size_t c) {
  void* p = std::aligned_alloc(kSmallAlign, class_bytes(c));
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

void* small_alloc(size_t bytes) {
  const size_t c = class_of(bytes);
  if (!kPooling) return system_alloc(c);
  ThreadCache& cache = t_cache;
  if (FreeBlock* block = cache.head[c]) {
    cache.head[c] = block->next;
    cache.cached_bytes -= class_bytes(c);
    return block;
  }
  return system_alloc(c);
}

void small_free(void* p, size_t bytes) noexcept {
  if (!p) return;
  const size_t c = class_of(bytes);
  ThreadCache& cache = t_cache;
  if (!kPooling || cache.closed || cache.cached_bytes + class_bytes(c) > kMaxCachedBytes) {
    std::free(p);
    return;
  }
  thread_local Cleaner cleaner;  // registered when the thread first caches a block
  (void)cleaner;
  FreeBlock* block = static_cast<FreeBlock*>(p);
  block->next = cache.head[c];
  cache.head[c] = block;
  cache.cached_bytes += class_bytes(c);
}

size_t small_cached_bytes() noexcept { return t_cache.cached_bytes; }
bool small_pooling() noexcept { return kPooling; }

}  // namespace tessera::detail
