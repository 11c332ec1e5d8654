#include "engine/shape.h"

#include <fmt/format.h>

namespace tessera {

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ", ";
    s += std::to_string(sizes_[i]);
  }
  return s + "]";
}

void check_sizes(const Shape& shape, const char* op) {
  for (int64_t s : shape) TS_CHECK(s >= 0, "{}: shape {} has a negative size", op, shape);
}

std::array<int64_t, Shape::kMaxRank> contiguous_strides(const Shape& shape) {
  std::array<int64_t, Shape::kMaxRank> strides{};
  int64_t stride = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

int normalize_dim(int dim, int rank, const char* op) {
  const int lo = -std::max(rank, 1), hi = std::max(rank, 1) - 1;
  TS_CHECK(dim >= lo && dim <= hi, "{}: dim {} is out of range for a tensor of rank {} (valid: {}..{})",
           op, dim, rank, lo, hi);
  return dim < 0 ? dim + std::max(rank, 1) : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int rank = std::max(a.rank(), b.rank());
  Shape out;
  for (int i = 0; i < rank; ++i) {
    const int ia = i - (rank - a.rank()), ib = i - (rank - b.rank());
    const int64_t sa = ia >= 0 ? a[ia] : 1, sb = ib >= 0 ? b[ib] : 1;
    TS_CHECK(sa == sb || sa == 1 || sb == 1,
             "{}: shapes {} and {} cannot be broadcast: size {} vs {} at dim {} (sizes must match "
             "or one of them be 1)",
             op, a, b, sa, sb, i - rank);
    out.push_back(sa == 1 ? sb : sa);
  }
  return out;
}

}  // namespace tessera
