// tessera/engine/small_alloc.h — a per-thread free-list allocator for the engine's small objects.
//
// Every op makes a handful of small heap objects: the output's TensorImpl and Storage, a graph
// Node and its edge list, and in backward the gradient tensors. A graph of N ops allocates them
// N at a time and frees them N at a time; glibc's per-thread cache (tcache) holds only 7 blocks
// of a size, so the rest went through malloc's slow paths (consolidation, unlinking, memalign for
// the 64-byte aligned Storage): 56% of the cycles of 1,000 tiny ops (bench/README.md, "Per-op
// overhead").
//
// The fix is the classic one (TCMalloc's per-thread caches, PyTorch's and MLX's object pools):
// blocks of a few fixed sizes are kept on a singly-linked free list per thread and handed out
// again, so allocating is a pop and freeing a push. A block can be freed on another thread than
// the one that allocated it: it then joins that thread's list (every block is an ordinary
// aligned_alloc'ed block of its class size, so any list, or free(), can take it). Each thread
// keeps at most kMaxCachedBytes; beyond that, and after the thread's cache is destroyed at thread
// exit, blocks go straight back to free().
//
// Under AddressSanitizer the cache is bypassed (every block is a plain aligned_alloc/free), so
// use-after-free in the engine is still caught.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace tessera::detail {

inline constexpr size_t kSmallAlign = 64;       // every block is aligned to a cache line
inline constexpr size_t kSmallMax = 512;        // the largest pooled block
inline constexpr size_t kMaxCachedBytes = size_t{32} << 20;  // per thread

// A block of at least `bytes` (≤ kSmallMax), 64-byte aligned. Never returns null (throws
// std::bad_alloc like operator new).
void* small_alloc(size_t bytes);
// Gives back a block from small_alloc of the same `bytes`.
void small_free(void* p, size_t bytes) noexcept;
// Bytes this thread holds on its free lists (for tests and memory accounting).
size_t small_cached_bytes() noexcept;
// Whether blocks are recycled at all (false under AddressSanitizer).
bool small_pooling() noexcept;

// A standard allocator over small_alloc, for std::allocate_shared and containers. Requests larger
// than kSmallMax (or with a stricter alignment) fall back to the global operator new.
template <class T>
struct SmallAllocator {
  using value_type = T;
  SmallAllocator() noexcept = default;
  template <class U>
  SmallAllocator(const SmallAllocator<U>&) noexcept {}

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes <= kSmallMax && alignof(T) <= kSmallAlign) return static_cast<T*>(small_alloc(bytes));
    return static_cast<T*>(::operator new(bytes, std::align_val_t(alignof(T))));
  }
  void deallocate(T* p, size_t n) noexcept {
    const size_t bytes = n * sizeof(T);
    if (bytes <= kSmallMax && alignof(T) <= kSmallAlign) small_free(p, bytes);
    else ::operator delete(p, std::align_val_t(alignof(T)));  // unsized: clang < 19 declares no sized delete by default
  }
  template <class U>
  bool operator==(const SmallAllocator<U>&) const noexcept { return true; }
};

// std::make_shared through the small-object cache: object and control block in one pooled block.
template <class T, class... Args>
std::shared_ptr<T> make_small(Args&&... args) {
  return std::allocate_shared<T>(SmallAllocator<T>(), std::forward<Args>(args)...);
}

}  // namespace tessera::detail
