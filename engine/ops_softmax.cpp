// tessera/engine/ops_softmax.cpp — softmax and log_softmax (optionally masked), forward and
// backward.
//
//   softmax(x)_i     = exp(x_i − m) / Σ_j exp(x_j − m),  m = max_j x_j   (m cancels; it only
//                      keeps exp from overflowing: inputs of 1e4 give finite results)
//   log_softmax(x)_i = x_i − m − log Σ_j exp(x_j − m)
// Masked (mask = 0) entries take no part: probability 0, log-probability −inf. A row with every
// entry masked has no distribution at all; it gives zeros (softmax) or −inf (log_softmax) and a
// zero gradient, never NaN — a query whose keys are all padding attends to nothing.
// The kernels work on the last dim; another dim is moved there and back by transposes.
#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace tessera {

namespace {

constexpr scalar_t kNegInf = -std::numeric_limits<scalar_t>::infinity();

// Row-wise over the last dim of x ([rows, n]). mask: same shape or undefined.
// log = false: out = softmax; log = true: out = log_softmax.
Tensor softmax_rows(const Tensor& x, const Tensor& mask, bool log) {
  Tensor out = empty(x.shape());
  const int64_t n = x.dim() ? x.shape().back() : 1;
  const int64_t rows = n ? x.numel() / n : 0;
  const scalar_t* xs = x.data();
  const scalar_t* ms = mask.defined() ? mask.data() : nullptr;
  scalar_t* os = out.data();
  parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const scalar_t* in = xs + r * n;
      const scalar_t* m = ms ? ms + r * n : nullptr;
      scalar_t* o = os + r * n;
      scalar_t mx = kNegInf;
      if (m) {
        for (int64_t i = 0; i < n; ++i)
          if (m[i] != 0 && in[i] > mx) mx = in[i];
      } else {
#pragma omp simd reduction(max : mx)
        for (int64_t i = 0; i < n; ++i) mx = in[i] > mx ? in[i] : mx;
      }
      if (mx == kNegInf) {  // every entry masked (or −inf): no distribution
        for (int64_t i = 0; i < n; ++i) o[i] = log ? kNegInf : scalar_t(0);
        continue;
      }
      scalar_t total = 0;
      if (m) {
        for (int64_t i = 0; i < n; ++i) {
          const scalar_t e = m[i] != 0 ? kernels::exp_kernel(in[i] - mx) : scalar_t(0);
          if (!log) o[i] = e;
          total += e;
        }
      } else if (log) {
#pragma omp simd reduction(+ : total)
        for (int64_t i = 0; i < n; ++i) total += kernels::exp_kernel(in[i] - mx);
      } else {
#pragma omp simd reduction(+ : total)
        for (int64_t i = 0; i < n; ++i) {
          const scalar_t e = kernels::exp_kernel(in[i] - mx);
          o[i] = e;
          total += e;
        }
      }
      if (log) {
        const scalar_t shift = mx + std::log(total);
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) o[i] = in[i] - shift;
        if (m)
          for (int64_t i = 0; i < n; ++i)
            if (m[i] == 0) o[i] = kNegInf;
      } else {
        const scalar_t inv = scalar_t(1) / total;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) o[i] *= inv;
      }
    }
  });
  return out;
}

// The backward kernels, row-wise with y the saved output and g = dL/dy:
//   softmax:      dL/dx_i = y_i (g_i − Σ_j g_j y_j)
//   log_softmax:  dL/dx_i = g_i − exp(y_i) Σ_j g_j   (exp(y) is the softmax)
// Masked entries get 0 (y_i = 0 for softmax; skipped explicitly for log_softmax).
Tensor softmax_rows_backward(const Tensor& y, const Tensor& g, const Tensor& mask, bool log) {
  Tensor dx = empty(y.shape());
  const int64_t n = y.dim() ? y.shape().back() : 1;
  const int64_t rows = n ? y.numel() / n : 0;
  const scalar_t* ys = y.data();
  const scalar_t* gs = g.data();
  const scalar_t* ms = mask.defined() ? mask.data() : nullptr;
  scalar_t* ds = dx.data();
  parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const scalar_t* yr = ys + r * n;
      const scalar_t* gr = gs + r * n;
      const scalar_t* m = ms ? ms + r * n : nullptr;
      scalar_t* d = ds + r * n;
      if (!log) {
        scalar_t dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t i = 0; i < n; ++i) dot += gr[i] * yr[i];
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) d[i] = yr[i] * (gr[i] - dot);
      } else {
        if (!m) {  // the common case, vectorised; a row of −inf only arises from a mask
          scalar_t total = 0;
#pragma omp simd reduction(+ : total)
          for (int64_t i = 0; i < n; ++i) total += gr[i];
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) d[i] = gr[i] - kernels::exp_kernel(yr[i]) * total;
          continue;
        }
        scalar_t total = 0;
        bool live = false;
        for (int64_t i = 0; i < n; ++i)
          if (m[i] != 0) {
            total += gr[i];
            live = live || yr[i] != kNegInf;
          }
        for (int64_t i = 0; i < n; ++i)
          d[i] = m[i] == 0 || !live ? scalar_t(0) : gr[i] - kernels::exp_kernel(yr[i]) * total;
      }
    }
  });
  return dx;
}

Tensor softmax_impl(const Tensor& x, int dim, const Tensor& mask_in, bool log, const char* name) {
  TS_CHECK(x.dim() >= 1 || dim == 0 || dim == -1, "{}: dim {} is out of range for a rank-0 tensor", name, dim);
  const int d = x.dim() == 0 ? 0 : normalize_dim(dim, x.dim(), name);
  Tensor mask;
  if (mask_in.defined()) {
    const Shape shape = broadcast_shapes(x.shape(), mask_in.shape(), name);
    TS_CHECK(shape == x.shape(), "{}: mask of shape {} does not broadcast to the input's shape {}", name,
             mask_in.shape(), x.shape());
    mask = mask_in.shape() == x.shape() ? mask_in.detach() : expand(mask_in.detach(), x.shape());
  }
  if (x.dim() > 1 && d != x.dim() - 1) {  // move `dim` last, work there, move it back
    const Tensor mt = mask.defined() ? transpose(mask, d, -1) : Tensor();
    return transpose(softmax_impl(transpose(x, d, -1), -1, mt, log, name), d, -1);
  }
  Tensor out = softmax_rows(x, mask, log);
  record(out, name, {&x}, [y = out.detach(), mask, log](const Tensor& g, GradSink& sink) {
    sink.add(0, softmax_rows_backward(y, g, mask, log));
  });
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int dim) { return softmax_impl(x, dim, Tensor(), false, "softmax"); }
Tensor softmax(const Tensor& x, int dim, const Tensor& mask) {
  return softmax_impl(x, dim, mask, false, "softmax");
}
Tensor log_softmax(const Tensor& x, int dim) { return softmax_impl(x, dim, Tensor(), true, "log_softmax"); }
Tensor log_softmax(const Tensor& x, int dim, const Tensor& mask) {
  return softmax_impl(x, dim, mask, true, "log_softmax");
}

}  // namespace tessera
