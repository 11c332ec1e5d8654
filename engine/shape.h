// tessera/engine/shape.h — Shape: the sizes of a tensor's dimensions, stored inline.
//
// A Shape holds up to kMaxRank sizes without touching the heap: tensors are created on every
// op, so their shapes must be cheap. Dims may be given negative (-1 = last), as in PyTorch;
// normalize_dim() turns them into 0..rank-1 and names the op in its error.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "engine/error.h"

namespace tessera {

class Shape {
 public:
  static constexpr int kMaxRank = 8;

  Shape() = default;
  Shape(std::initializer_list<int64_t> sizes) { assign(sizes.begin(), sizes.end()); }
  explicit Shape(const std::vector<int64_t>& sizes) { assign(sizes.begin(), sizes.end()); }

  int rank() const { return rank_; }
  int size() const { return rank_; }  // number of dims, like std::vector::size()
  bool empty() const { return rank_ == 0; }
  int64_t operator[](int i) const { return sizes_[i]; }
  int64_t& operator[](int i) { return sizes_[i]; }
  const int64_t* begin() const { return sizes_.data(); }
  const int64_t* end() const { return sizes_.data() + rank_; }
  int64_t back() const { return sizes_[rank_ - 1]; }

  // Number of elements: the product of the sizes (1 for a scalar of rank 0).
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= sizes_[i];
    return n;
  }
  void push_back(int64_t s) {
    TS_CHECK(rank_ < kMaxRank, "shape: rank {} exceeds the maximum of {}", rank_ + 1, kMaxRank);
    sizes_[rank_++] = s;
  }
  void insert(int at, int64_t s) {
    TS_CHECK(rank_ < kMaxRank, "shape: rank {} exceeds the maximum of {}", rank_ + 1, kMaxRank);
    for (int i = rank_; i > at; --i) sizes_[i] = sizes_[i - 1];
    sizes_[at] = s;
    ++rank_;
  }
  void erase(int at) {
    for (int i = at; i + 1 < rank_; ++i) sizes_[i] = sizes_[i + 1];
    --rank_;
  }
  std::vector<int64_t> vec() const { return std::vector<int64_t>(begin(), end()); }

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.sizes_[i] != b.sizes_[i]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

  // "[2, 3]" — the form every error message uses.
  std::string str() const;

 private:
  template <class It>
  void assign(It first, It last) {
    rank_ = 0;
    for (; first != last; ++first) {
      // -1 is allowed as reshape's "infer this size"; factories reject it (check_sizes)
      TS_CHECK(*first >= -1, "shape: size {} is negative", *first);
      push_back(*first);
    }
  }
  std::array<int64_t, kMaxRank> sizes_{};
  int rank_ = 0;
};

// Throws "<op>: shape [-1, 2] has a negative size" unless every size is >= 0.
void check_sizes(const Shape& shape, const char* op);

// Row-major (C-order) strides of a contiguous tensor of this shape, in elements.
std::array<int64_t, Shape::kMaxRank> contiguous_strides(const Shape& shape);

// Maps dim in [-rank, rank) to [0, rank); throws "<op>: dim 3 is out of range for a tensor of
// rank 2 (valid: -2..1)" otherwise.
int normalize_dim(int dim, int rank, const char* op);

// NumPy broadcasting: align trailing dims; sizes must match or one of them be 1.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace tessera

template <>
struct fmt::formatter<tessera::Shape> : fmt::formatter<std::string> {
  auto format(const tessera::Shape& s, format_context& ctx) const {
    return fmt::formatter<std::string>::format(s.str(), ctx);
  }
};
