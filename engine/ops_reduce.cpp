// tessera/engine/ops_reduce.cpp — sum, mean, var, max: forward and backward side by side.
//
// A reduction over dim d sees its input as [outer, n, inner] (outer = product of the sizes
// before d, inner = after), so one kernel serves every dim: inner == 1 reduces contiguous rows,
// inner > 1 adds whole rows of length `inner` (vectorised). Several dims are reduced one after
// another. The full sum is blocked for determinism: fixed 4096-element blocks summed in float,
// then the block sums added in double, so the result is the same for every thread count.
#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace tessera {

namespace {

struct Split3 {
  int64_t outer = 1, n = 1, inner = 1;
};

Split3 split_at(const Shape& s, int d) {
  Split3 r;
  for (int i = 0; i < d; ++i) r.outer *= s[i];
  r.n = s[d];
  for (int i = d + 1; i < s.rank(); ++i) r.inner *= s[i];
  return r;
}

// Sorted, de-duplicated, normalised dims; empty list = all dims (as torch.sum(x, dim=[])).
std::vector<int> normalize_dims(const std::vector<int>& dims, int rank, const char* op) {
  std::vector<int> out;
  if (dims.empty()) {
    for (int i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (int d : dims) out.push_back(normalize_dim(d, rank, op));
  std::sort(out.begin(), out.end());
  TS_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), "{}: a dim is listed twice", op);
  return out;
}

Shape reduced_shape(const Shape& s, const std::vector<int>& dims, bool keepdim) {
  Shape out;
  for (int i = 0; i < s.rank(); ++i) {
    const bool reduced = std::find(dims.begin(), dims.end(), i) != dims.end();
    if (!reduced) out.push_back(s[i]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// Sum over one dim, keeping it as size 1.
Tensor sum_dim_keep(const Tensor& x, int d) {
  Shape out_shape = x.shape();
  out_shape[d] = 1;
  Tensor out = empty(out_shape);
  const Split3 s = split_at(x.shape(), d);
  const scalar_t* xs = x.data();
  scalar_t* o = out.data();
  if (s.inner == 1) {
    parallel_for(s.outer, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(s.n, 1)),
                 [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const scalar_t* row = xs + r * s.n;
        scalar_t acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < s.n; ++i) acc += row[i];
        o[r] = acc;
      }
    });
  } else {
    parallel_for(s.outer * s.inner, kElementwiseGrain / 8, [&](int64_t b, int64_t e) {
      // [b, e) is a range of (outer, inner) output positions; walk it outer block by block
      for (int64_t p = b; p < e;) {
        const int64_t outer = p / s.inner, i0 = p % s.inner;
        const int64_t i1 = std::min(s.inner, i0 + (e - p));
        scalar_t* dst = o + outer * s.inner;
        const scalar_t* src = xs + outer * s.n * s.inner;
        for (int64_t i = i0; i < i1; ++i) dst[i] = 0;
        for (int64_t r = 0; r < s.n; ++r) {
          const scalar_t* row = src + r * s.inner;
#pragma omp simd
          for (int64_t i = i0; i < i1; ++i) dst[i] += row[i];
        }
        p += i1 - i0;
      }
    });
  }
  return out;
}

// Expands g (the reduced gradient) back to `shape`: the backward of a sum over `dims`.
Tensor expand_back(const Tensor& g, const Shape& shape, const std::vector<int>& dims) {
  return expand(reshape(g, reduced_shape(shape, dims, /*keepdim=*/true)), shape);
}

}  // namespace

// out = Σ_i a_i;  dL/da_i = g
Tensor sum(const Tensor& a) {
  Tensor out = empty(Shape{});
  const int64_t n = a.numel();
  constexpr int64_t kBlock = 4096;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(blocks);
  const scalar_t* xs = a.data();
  parallel_for(blocks, 16, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t s = blk * kBlock, len = std::min(n, s + kBlock) - s;
      // A local pointer, not xs[i] through the lambda's reference: with the latter GCC 12 could
      // not see the stride and vectorised with gathers (7x slower than PyTorch on 16M floats).
      const scalar_t* x = xs + s;
      scalar_t acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t i = 0; i < len; ++i) acc += x[i];
      partial[blk] = acc;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  out.data()[0] = static_cast<scalar_t>(total);
  record(out, "sum", {&a}, [shape = a.shape()](const Tensor& g, GradSink& sink) {
    sink.add(0, expand(g, shape));
  });
  return out;
}

// out = Σ over dims;  dL/da = g broadcast back over the summed dims
Tensor sum(const Tensor& a, const std::vector<int>& dims_in, bool keepdim) {
  const std::vector<int> dims = normalize_dims(dims_in, a.dim(), "sum");
  if (dims.size() == static_cast<size_t>(a.dim()) && !keepdim) return sum(a);
  Tensor out = a.detach();
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) out = sum_dim_keep(out, *it);
  out = Tensor(detail::make_small<TensorImpl>(out.impl().storage, out.impl().offset,
                                            reduced_shape(a.shape(), dims, keepdim)));
  record(out, "sum", {&a}, [shape = a.shape(), dims](const Tensor& g, GradSink& sink) {
    sink.add(0, expand_back(g, shape, dims));
  });
  return out;
}

// out = Σ a / N;  dL/da = g / N
Tensor mean(const Tensor& a) {
  TS_CHECK(a.numel() > 0, "mean: the input is empty (shape {}); the mean of nothing is undefined", a.shape());
  return mul(sum(a), scalar_t(1) / static_cast<scalar_t>(a.numel()));
}

Tensor mean(const Tensor& a, const std::vector<int>& dims_in, bool keepdim) {
  const std::vector<int> dims = normalize_dims(dims_in, a.dim(), "mean");
  int64_t count = 1;
  for (int d : dims) count *= a.shape()[d];
  TS_CHECK(count > 0, "mean: reducing over an empty dim of shape {}", a.shape());
  return mul(sum(a, dims, keepdim), scalar_t(1) / static_cast<scalar_t>(count));
}

// out = Σ (a − ā)² / (N − correction), ā the mean over dims
// dL/da = g · 2 (a − ā) / (N − correction)   (the terms through ā sum to zero: Σ (a − ā) = 0)
Tensor var(const Tensor& a, const std::vector<int>& dims_in, bool keepdim, int correction) {
  const std::vector<int> dims = normalize_dims(dims_in, a.dim(), "var");
  int64_t count = 1;
  for (int d : dims) count *= a.shape()[d];
  TS_CHECK(count - correction > 0,
           "var: {} elements with correction {} leave no degrees of freedom (input shape {})", count,
           correction, a.shape());
  Tensor centered;
  {
    NoGradGuard no_grad;
    centered = sub(a, mean(a, dims, /*keepdim=*/true));
  }
  const scalar_t scale = scalar_t(1) / static_cast<scalar_t>(count - correction);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = mul(sum(kernels::map_unary(centered, [](scalar_t x) { return x * x; }), dims, keepdim), scale);
  }
  record(out, "var", {&a}, [centered, scale, shape = a.shape(), dims](const Tensor& g, GradSink& sink) {
    sink.add(0, mul(mul(expand_back(g, shape, dims), centered), 2 * scale));
  });
  return out;
}


// values = max over dim, indices = first position of the maximum (NaN counts as the maximum, as
// in PyTorch). dL/da = g at the argmax positions, 0 elsewhere.
MaxResult max(const Tensor& a, int dim_in, bool keepdim) {
  const int d = normalize_dim(dim_in, a.dim(), "max");
  TS_CHECK(a.dim() == 0 || a.shape()[d] > 0, "max: dim {} of shape {} is empty; the max of nothing is undefined",
           dim_in, a.shape());
  const Split3 s = a.dim() == 0 ? Split3{} : split_at(a.shape(), d);
  const std::vector<int> dims = a.dim() == 0 ? std::vector<int>{} : std::vector<int>{d};
  const Shape out_shape = reduced_shape(a.shape(), dims, keepdim);
  Tensor values = empty(out_shape);
  std::vector<int64_t> idx(s.outer * s.inner);
  const scalar_t* xs = a.data();
  scalar_t* v = values.data();
  parallel_for(s.outer, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(s.n * s.inner, 1)),
               [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o)
      for (int64_t i = 0; i < s.inner; ++i) {
        const scalar_t* p = xs + o * s.n * s.inner + i;
        int64_t best = 0;
        scalar_t bv = p[0];
        for (int64_t r = 1; r < s.n && !std::isnan(bv); ++r) {
          const scalar_t x = p[r * s.inner];
          if (x > bv || std::isnan(x)) {
            bv = x;
            best = r;
          }
        }
        v[o * s.inner + i] = bv;
        idx[o * s.inner + i] = best;
      }
  });
  IndexTensor indices(std::move(idx), out_shape);
  record(values, "max", {&a}, [indices, s, shape = a.shape()](const Tensor& g, GradSink& sink) {
    Tensor grad = zeros(shape);
    const scalar_t* gs = g.data();
    const int64_t* ix = indices.data();
    scalar_t* gd = grad.data();
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t i = 0; i < s.inner; ++i)
        gd[(o * s.n + ix[o * s.inner + i]) * s.inner + i] += gs[o * s.inner + i];
    sink.add(0, grad);
  });
  return {values, indices};
}

Tensor max(const Tensor& a) {
  TS_CHECK(a.numel() > 0, "max: the input is empty (shape {})", a.shape());
  return max(reshape(a, Shape{a.numel()}), 0, false).values;
}

// Sums a down to `shape`, the inverse of broadcasting: leading extra dims are summed away, and
// dims where `shape` has size 1 are summed with keepdim.
Tensor sum_to(const Tensor& a, const Shape& shape) {
  if (a.shape() == shape) return a;
  const int lead = a.dim() - shape.rank();
  TS_CHECK(lead >= 0, "sum_to: cannot reduce shape {} to the larger rank of {}", a.shape(), shape);
  std::vector<int> dims;
  for (int i = 0; i < a.dim(); ++i) {
    if (i < lead) {
      dims.push_back(i);
      continue;
    }
    const int64_t target = shape[i - lead];
    TS_CHECK(target == a.shape()[i] || target == 1, "sum_to: shape {} is not a broadcast of {}",
             a.shape(), shape);
    if (target == 1 && a.shape()[i] != 1) dims.push_back(i);
  }
  return reshape(sum(a, dims, /*keepdim=*/true), shape);
}

}  // namespace tessera
