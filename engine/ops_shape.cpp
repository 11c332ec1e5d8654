// tessera/engine/ops_shape.cpp — reshape, transpose/permute, (un)squeeze, expand, cat/stack,
// split/chunk, narrow, index_select, gather: forward and backward side by side.
//
// Views (reshape, unsqueeze, squeeze, narrow along a leading dim) share storage with their
// input; everything else copies into a fresh contiguous tensor.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace tessera {

namespace {

// A tensor sharing a's storage with another shape (and an element offset).
Tensor make_view(const Tensor& a, const Shape& shape, int64_t extra_offset = 0) {
  return Tensor(detail::make_small<TensorImpl>(a.impl().storage, a.impl().offset + extra_offset, shape));
}

// out[idx] = src[Σ_k idx_k · strides[k]] for every index of out_shape: the one kernel behind
// permute (strides = the input's strides, permuted) and expand (strides 0 on broadcast dims).
// The last dim is the inner loop.
Tensor gather_strided(const Tensor& src, const Shape& out_shape, const int64_t* strides) {
  Tensor out = empty(out_shape);
  const int rank = out_shape.rank();
  const int64_t n = out.numel();
  if (n == 0) return out;
  const int64_t inner = rank ? out_shape[rank - 1] : 1;
  const int64_t inner_stride = rank ? strides[rank - 1] : 0;
  const int64_t rows = n / inner;
  const scalar_t* s = src.data();
  scalar_t* o = out.data();
  parallel_for(rows, std::max<int64_t>(1, kElementwiseGrain / inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t offset = 0, rem = r;
      for (int d = rank - 2; d >= 0; --d) {
        offset += (rem % out_shape[d]) * strides[d];
        rem /= out_shape[d];
      }
      const scalar_t* p = s + offset;
      scalar_t* q = o + r * inner;
      if (inner_stride == 1) std::memcpy(q, p, sizeof(scalar_t) * inner);
      else if (inner_stride == 0) std::fill(q, q + inner, p[0]);
      else
        for (int64_t i = 0; i < inner; ++i) q[i] = p[i * inner_stride];
    }
  });
  return out;
}

}  // namespace

// ---------------- views ----------------

// Same data, new shape (one size may be -1: inferred from the others). dL/da = g reshaped back.
Tensor reshape(const Tensor& a, const Shape& requested) {
  Shape shape = requested;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < shape.rank(); ++i) {
    if (shape[i] == -1) {
      TS_CHECK(infer < 0, "reshape: only one size may be -1, got {}", requested);
      infer = i;
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    TS_CHECK(known > 0 && a.numel() % known == 0,
             "reshape: cannot view shape {} as {}: {} elements do not divide into chunks of {}", a.shape(),
             requested, a.numel(), known);
    shape[infer] = a.numel() / known;
  }
  TS_CHECK(shape.numel() == a.numel(), "reshape: cannot view shape {} ({} elements) as {} ({} elements)",
           a.shape(), a.numel(), shape, shape.numel());
  Tensor out = make_view(a, shape);
  record(out, "reshape", {&a}, [in_shape = a.shape()](const Tensor& g, GradSink& sink) {
    sink.add(0, reshape(g, in_shape));
  });
  return out;
}

// Inserts a size-1 dim at `dim` (dim may be rank, meaning "at the end").
Tensor unsqueeze(const Tensor& a, int dim) {
  TS_CHECK(dim >= -(a.dim() + 1) && dim <= a.dim(),
           "unsqueeze: dim {} is out of range for a tensor of rank {} (valid: {}..{})", dim, a.dim(), -(a.dim() + 1),
           a.dim());
  const int d = dim < 0 ? dim + a.dim() + 1 : dim;
  Shape shape = a.shape();
  shape.insert(d, 1);
  return reshape(a, shape);
}

Tensor squeeze(const Tensor& a, int dim) {
  const int d = normalize_dim(dim, a.dim(), "squeeze");
  if (a.dim() == 0 || a.shape()[d] != 1) return a;  // like torch: a no-op when the size is not 1
  Shape shape = a.shape();
  shape.erase(d);
  return reshape(a, shape);
}

Tensor squeeze(const Tensor& a) {
  Shape shape;
  for (int64_t s : a.shape())
    if (s != 1) shape.push_back(s);
  return reshape(a, shape);
}

// ---------------- copies ----------------

// out = a with its dims reordered: out.shape[i] = a.shape[dims[i]].
// dL/da = g permuted by the inverse permutation.
Tensor permute(const Tensor& a, const std::vector<int>& dims) {
  const int rank = a.dim();
  TS_CHECK(static_cast<int>(dims.size()) == rank, "permute: {} dims given for a tensor of rank {} (shape {})",
           dims.size(), rank, a.shape());
  std::vector<int> perm(rank), inverse(rank, -1);
  for (int i = 0; i < rank; ++i) {
    perm[i] = normalize_dim(dims[i], rank, "permute");
    TS_CHECK(inverse[perm[i]] < 0, "permute: dim {} appears twice in the permutation", dims[i]);
    inverse[perm[i]] = i;
  }
  const auto in_strides = contiguous_strides(a.shape());
  Shape out_shape;
  int64_t strides[Shape::kMaxRank];
  for (int i = 0; i < rank; ++i) {
    out_shape.push_back(a.shape()[perm[i]]);
    strides[i] = in_strides[perm[i]];
  }
  Tensor out = gather_strided(a, out_shape, strides);
  record(out, "permute", {&a}, [inverse](const Tensor& g, GradSink& sink) {
    sink.add(0, permute(g, std::vector<int>(inverse.begin(), inverse.end())));
  });
  return out;
}

Tensor transpose(const Tensor& a, int dim0, int dim1) {
  const int d0 = normalize_dim(dim0, a.dim(), "transpose"), d1 = normalize_dim(dim1, a.dim(), "transpose");
  if (d0 == d1) return a;
  std::vector<int> perm(a.dim());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[d0], perm[d1]);
  return permute(a, perm);
}

// out = a broadcast to `shape` (a copy: tensors are contiguous). dL/da = g summed back (sum_to).
Tensor expand(const Tensor& a, const Shape& requested) {
  Shape shape = requested;
  const int rank = shape.rank();
  for (int d = 0; d < rank; ++d) {
    const int da = d - (rank - a.dim());
    if (shape[d] == -1) {
      TS_CHECK(da >= 0, "expand: -1 at dim {} of {} has no matching dim in the input {}", d, requested, a.shape());
      shape[d] = a.shape()[da];
    }
  }
  TS_CHECK(rank >= a.dim(), "expand: cannot expand shape {} to the smaller rank of {}", a.shape(), shape);
  int64_t strides[Shape::kMaxRank];
  const auto in_strides = contiguous_strides(a.shape());
  for (int d = 0; d < rank; ++d) {
    const int da = d - (rank - a.dim());
    const int64_t size = da >= 0 ? a.shape()[da] : 1;
    TS_CHECK(size == shape[d] || size == 1,
             "expand: shape {} cannot be expanded to {}: size {} at dim {} must be 1 or {}", a.shape(),
             shape, size, d, shape[d]);
    strides[d] = (size == 1) ? 0 : in_strides[da];
  }
  if (shape == a.shape()) return a;
  Tensor out = gather_strided(a, shape, strides);
  record(out, "expand", {&a}, [](const Tensor& g, GradSink& sink) { sink.add(0, g); });  // sink sums
  return out;
}

// Joins tensors along dim; all other sizes must agree. dL/d(input i) = its slice of g.
Tensor cat(const std::vector<Tensor>& tensors, int dim) {
  TS_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Shape& first = tensors[0].shape();
  const int d = normalize_dim(dim, first.rank(), "cat");
  Shape out_shape = first;
  int64_t total = 0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const Shape& s = tensors[t].shape();
    TS_CHECK(s.rank() == first.rank(), "cat: tensor {} has rank {} but tensor 0 has rank {} (shapes {} and {})",
             t, s.rank(), first.rank(), s, first);
    for (int i = 0; i < s.rank(); ++i)
      TS_CHECK(i == d || s[i] == first[i],
               "cat: sizes must match except in dim {}, but tensor {} has shape {} and tensor 0 has {}", d,
               t, s, first);
    total += s[d];
  }
  out_shape[d] = total;
  Tensor out = empty(out_shape);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= first[i];
  for (int i = d + 1; i < first.rank(); ++i) inner *= first[i];
  int64_t at = 0;
  std::vector<int64_t> sizes;
  for (const Tensor& t : tensors) {
    const int64_t block = t.shape()[d] * inner;
    const scalar_t* src = t.data();
    scalar_t* dst = out.data() + at * inner;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + o * total * inner, src + o * block, sizeof(scalar_t) * block);
    at += t.shape()[d];
    sizes.push_back(t.shape()[d]);
  }
  record_list(out, "cat", tensors, [sizes, d](const Tensor& g, GradSink& sink) {
    int64_t start = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (sink.needs(static_cast<int>(i))) sink.add(static_cast<int>(i), narrow(g, d, start, sizes[i]));
      start += sizes[i];
    }
  });
  return out;
}

// Joins equally shaped tensors along a new dim.
Tensor stack(const std::vector<Tensor>& tensors, int dim) {
  TS_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  const int d = normalize_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (size_t t = 0; t < tensors.size(); ++t) {
    TS_CHECK(tensors[t].shape() == tensors[0].shape(),
             "stack: all tensors must have the same shape, but tensor {} has {} and tensor 0 has {}", t,
             tensors[t].shape(), tensors[0].shape());
    expanded.push_back(unsqueeze(tensors[t], d));
  }
  return cat(expanded, d);
}

// The slice [start, start + length) of dim. A view when every dim before `dim` has size 1
// (the slice is then one contiguous block); a copy otherwise.
// dL/da = zeros with g written into the slice.
Tensor narrow(const Tensor& a, int dim, int64_t start, int64_t length) {
  const int d = normalize_dim(dim, a.dim(), "narrow");
  const int64_t size = a.shape()[d];
  TS_CHECK(start >= 0 && length >= 0 && start + length <= size,
           "narrow: slice [{}, {}) is out of range for dim {} of size {} (shape {})", start,
           start + length, dim, size, a.shape());
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= a.shape()[i];
  for (int i = d + 1; i < a.dim(); ++i) inner *= a.shape()[i];
  Shape out_shape = a.shape();
  out_shape[d] = length;
  Tensor out;
  if (outer == 1) {
    out = make_view(a, out_shape, start * inner);
  } else {
    out = empty(out_shape);
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(out.data() + o * length * inner, a.data() + (o * size + start) * inner,
                  sizeof(scalar_t) * length * inner);
  }
  record(out, "narrow", {&a}, [shape = a.shape(), d, start, length, outer, inner](const Tensor& g, GradSink& sink) {
    Tensor grad = zeros(shape);
    const int64_t size = shape[d];
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(grad.data() + (o * size + start) * inner, g.data() + o * length * inner,
                  sizeof(scalar_t) * length * inner);
    sink.add(0, grad);
  });
  return out;
}

std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int dim) {
  const int d = normalize_dim(dim, a.dim(), "split");
  const int64_t total = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
  TS_CHECK(total == a.shape()[d], "split: sizes sum to {} but dim {} has size {} (shape {})", total, dim,
           a.shape()[d], a.shape());
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t s : sizes) {
    parts.push_back(narrow(a, d, start, s));
    start += s;
  }
  return parts;
}

// Pieces of split_size along dim (the last one may be smaller), like torch.split.
std::vector<Tensor> split(const Tensor& a, int64_t split_size, int dim) {
  TS_CHECK(split_size > 0, "split: split_size must be positive, got {}", split_size);
  const int d = normalize_dim(dim, a.dim(), "split");
  std::vector<int64_t> sizes;
  for (int64_t start = 0; start < a.shape()[d]; start += split_size)
    sizes.push_back(std::min(split_size, a.shape()[d] - start));
  return split(a, sizes, d);
}

// `chunks` pieces of equal size ceil(n / chunks) (the last may be smaller), like torch.chunk.
std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int dim) {
  TS_CHECK(chunks > 0, "chunk: number of chunks must be positive, got {}", chunks);
  const int d = normalize_dim(dim, a.dim(), "chunk");
  const int64_t n = a.shape()[d];
  return split(a, std::max<int64_t>(1, (n + chunks - 1) / chunks), d);
}

// out = a's slices along dim at the given indices; the dim is replaced by index's shape.
// dL/da = the rows of g added back at their indices (a scatter-add: repeated indices sum).
Tensor index_select(const Tensor& a, int dim, const IndexTensor& index) {
  const int d = normalize_dim(dim, a.dim(), "index_select");
  const int64_t size = a.shape()[d];
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= a.shape()[i];
  for (int i = d + 1; i < a.dim(); ++i) inner *= a.shape()[i];
  const int64_t count = index.numel();
  const int64_t* ix = index.data();
  for (int64_t j = 0; j < count; ++j)
    TS_CHECK(ix[j] >= 0 && ix[j] < size,
             "index_select: index {} (at position {}) is out of range for dim {} of size {} (shape {})",
             ix[j], j, dim, size, a.shape());
  Shape out_shape;
  for (int i = 0; i < d; ++i) out_shape.push_back(a.shape()[i]);
  for (int64_t s : index.shape()) out_shape.push_back(s);
  for (int i = d + 1; i < a.dim(); ++i) out_shape.push_back(a.shape()[i]);
  Tensor out = empty(out_shape);
  const scalar_t* src = a.data();
  scalar_t* dst = out.data();
  parallel_for(outer * count, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(inner, 1)),
               [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      const int64_t o = p / count, j = p % count;
      std::memcpy(dst + p * inner, src + (o * size + ix[j]) * inner, sizeof(scalar_t) * inner);
    }
  });
  record(out, "index_select", {&a},
         [index, shape = a.shape(), outer, inner, size, count](const Tensor& g, GradSink& sink) {
           Tensor grad = zeros(shape);
           const int64_t* ix = index.data();
           const scalar_t* gs = g.data();
           scalar_t* gd = grad.data();
           for (int64_t o = 0; o < outer; ++o)
             for (int64_t j = 0; j < count; ++j) {
               scalar_t* row = gd + (o * size + ix[j]) * inner;
               const scalar_t* grow = gs + (o * count + j) * inner;
#pragma omp simd
               for (int64_t i = 0; i < inner; ++i) row[i] += grow[i];
             }
           sink.add(0, grad);
         });
  return out;
}

// out[..., j, ...] = a[..., index[..., j, ...], ...] along dim (torch.gather).
// dL/da = g scattered (added) back to the gathered positions.
Tensor gather(const Tensor& a, int dim, const IndexTensor& index) {
  const int d = normalize_dim(dim, a.dim(), "gather");
  TS_CHECK(index.dim() == a.dim(), "gather: index has rank {} but the input has rank {} (shapes {} and {})",
           index.dim(), a.dim(), index.shape(), a.shape());
  for (int i = 0; i < a.dim(); ++i)
    TS_CHECK(i == d || index.shape()[i] <= a.shape()[i],
             "gather: index shape {} is larger than input shape {} at dim {}", index.shape(), a.shape(), i);
  const int64_t size = a.shape()[d];
  const Shape& out_shape = index.shape();
  const auto out_strides = contiguous_strides(out_shape);
  const auto in_strides = contiguous_strides(a.shape());
  const int64_t n = index.numel();
  // flat input position of output element p
  std::vector<int64_t> source(n);
  const int64_t* ix = index.data();
  for (int64_t p = 0; p < n; ++p) {
    int64_t rem = p, offset = 0;
    for (int i = 0; i < out_shape.rank(); ++i) {
      const int64_t coord = rem / out_strides[i];
      rem %= out_strides[i];
      if (i == d) {
        TS_CHECK(ix[p] >= 0 && ix[p] < size, "gather: index {} is out of range for dim {} of size {}",
                 ix[p], dim, size);
        offset += ix[p] * in_strides[i];
      } else {
        offset += coord * in_strides[i];
      }
    }
    source[p] = offset;
  }
  Tensor out = empty(out_shape);
  for (int64_t p = 0; p < n; ++p) out.data()[p] = a.data()[source[p]];
  record(out, "gather", {&a}, [source = std::move(source), shape = a.shape()](const Tensor& g, GradSink& sink) {
    Tensor grad = zeros(shape);
    for (size_t p = 0; p < source.size(); ++p) grad.data()[source[p]] += g.data()[p];
    sink.add(0, grad);
  });
  return out;
}

}  // namespace tessera
