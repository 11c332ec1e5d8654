// tessera/nn/loss.cpp — cross_entropy and nll_loss (fused kernels with their own backward), mse_loss.
//
// Both classification losses first view the input as rows [R, C] with the classes contiguous
// (a permute moves PyTorch's class dim 1 last when there are extra dims; the engine's autograd
// undoes it in the backward), then run one row-wise kernel over the flat targets.
#include "nn/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "engine/kernels.h"

namespace tessera::nn {

namespace {

// "[1, 2]": the position of flat element i of a tensor of this shape.
std::string position(int64_t i, const Shape& shape) {
  std::vector<int64_t> index(shape.rank());
  for (int d = shape.rank() - 1; d >= 0; --d) {
    index[d] = shape[d] ? i % shape[d] : 0;
    i = shape[d] ? i / shape[d] : 0;
  }
  return Shape(index).str();
}

Shape without_dim(const Shape& shape, int dim) {
  Shape out = shape;
  out.erase(dim);
  return out;
}

// The input as rows [R, C] (classes last, contiguous), differentiable. See loss.h for the layouts.
Tensor as_rows(const Tensor& input, const IndexTensor& target, const char* op) {
  TS_CHECK(target.defined(), "{}: the target is undefined", op);
  TS_CHECK(input.dim() >= 1, "{}: input must have a class dim, but it is a scalar (rank 0)", op);
  const Shape& in = input.shape();
  if (input.dim() == 1) {
    TS_CHECK(target.dim() == 0,
             "{}: an input of shape {} (one sample of {} classes) needs a rank-0 target, but the target has shape {}",
             op, in, in[0], target.shape());
    return input.reshape({1, in[0]});
  }
  if (target.shape() == without_dim(in, 1)) {  // PyTorch's layout: [N, C, d1, ..., dk]
    if (input.dim() == 2) return input;
    std::vector<int> order{0};
    for (int d = 2; d < input.dim(); ++d) order.push_back(d);
    order.push_back(1);
    return permute(input, order).reshape({-1, in[1]});
  }
  if (target.shape() == without_dim(in, input.dim() - 1)) return input.reshape({-1, in.back()});  // [*, C]
  fail("{}: input of shape {} does not fit target of shape {}: the target must be the input's shape "
       "without the class dim, i.e. {} (classes in dim 1, PyTorch's layout) or {} (classes in the last dim)",
       op, in, target.shape(), without_dim(in, 1), without_dim(in, input.dim() - 1));
}

// Checks every target is a class in [0, classes) or ignore_index; returns how many are counted.
int64_t count_targets(const IndexTensor& target, int64_t classes, int64_t ignore_index, const char* op) {
  TS_CHECK(classes > 0, "{}: the input has 0 classes", op);
  const int64_t* y = target.data();
  int64_t count = 0;
  for (int64_t i = 0; i < target.numel(); ++i) {
    if (y[i] == ignore_index) continue;
    TS_CHECK(y[i] >= 0 && y[i] < classes,
             "{}: target {} at position {} is out of range for {} classes (valid: 0..{}, or ignore_index = {})",
             op, y[i], position(i, target.shape()), classes, classes - 1, ignore_index);
    ++count;
  }
  return count;
}

// Per-row losses -> the reduced output. Sums in double, in row order (deterministic).
Tensor reduce_losses(const std::vector<scalar_t>& losses, Reduction reduction, int64_t count, const Shape& target_shape) {
  if (reduction == Reduction::None) {
    Tensor out = empty(target_shape);
    std::copy(losses.begin(), losses.end(), out.data());
    return out;
  }
  double total = 0;
  for (scalar_t l : losses) total += l;
  if (reduction == Reduction::Sum) return scalar_tensor(static_cast<scalar_t>(total));
  // Mean over the counted targets; none counted is 0/0 = NaN, as in PyTorch.
  return scalar_tensor(count ? static_cast<scalar_t>(total / static_cast<double>(count))
                             : std::numeric_limits<scalar_t>::quiet_NaN());
}

// dL/dloss_r for row r, from the gradient of the (reduced) output.
struct RowScale {
  const scalar_t* g;  // [R] for None, else one value
  scalar_t scalar;    // g[0] (Sum) or g[0] / count (Mean)
  bool per_row;
  RowScale(const Tensor& grad, Reduction reduction, int64_t count)
      : g(grad.data()),
        scalar(reduction == Reduction::Mean && count ? grad.data()[0] / static_cast<scalar_t>(count) : grad.data()[0]),
        per_row(reduction == Reduction::None) {}
  scalar_t operator()(int64_t r) const { return per_row ? g[r] : scalar; }
};

int64_t row_grain(int64_t classes) { return std::max<int64_t>(1, 4096 / std::max<int64_t>(classes, 1)); }

}  // namespace

Tensor cross_entropy(const Tensor& input, const IndexTensor& target_in, const CrossEntropyOptions& options) {
  const double eps = options.label_smoothing;
  TS_CHECK(eps >= 0 && eps <= 1, "cross_entropy: label_smoothing must be between 0 and 1, got {}", eps);
  Tensor rows = as_rows(input, target_in, "cross_entropy");  // [R, C]
  const int64_t R = rows.shape()[0], C = rows.shape()[1];
  const int64_t ignore = options.ignore_index;
  const int64_t count = count_targets(target_in, C, ignore, "cross_entropy");
  // Copied: the backward must see these targets even if the caller refills its buffer.
  const IndexTensor target(target_in.values(), target_in.shape());
  const int64_t* y = target.data();

  // One pass per row: the max, Σ exp(x − max), lse = log Σ exp(x), the loss. lse is all the
  // backward needs besides the logits (p = exp(x − lse)), so no [R, C] buffer is allocated.
  std::vector<scalar_t> losses(R), lse(R);
  const scalar_t* xs = rows.data();
  const scalar_t keep = static_cast<scalar_t>(1 - eps), smooth = static_cast<scalar_t>(eps);
  parallel_for(R, row_grain(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (y[r] == ignore) {
        losses[r] = 0;
        lse[r] = 0;
        continue;
      }
      const scalar_t* x = xs + r * C;
      scalar_t mx = -std::numeric_limits<scalar_t>::infinity();
#pragma omp simd reduction(max : mx)
      for (int64_t c = 0; c < C; ++c) mx = x[c] > mx ? x[c] : mx;
      scalar_t total = 0;
#pragma omp simd reduction(+ : total)
      for (int64_t c = 0; c < C; ++c) total += kernels::exp_kernel(x[c] - mx);
      // −log p_c = lse − x_c with lse = log Σ exp(x) = mx + log Σ exp(x − mx)
      lse[r] = mx + std::log(total);
      scalar_t loss = lse[r] - x[y[r]];
      if (eps > 0) {
        // eps/C · Σ_c (lse − x_c) = eps · (lse − mean_c x_c)
        scalar_t sum_x = 0;
#pragma omp simd reduction(+ : sum_x)
        for (int64_t c = 0; c < C; ++c) sum_x += x[c];
        loss = keep * loss + smooth * (lse[r] - sum_x / static_cast<scalar_t>(C));
      }
      losses[r] = loss;
    }
  });
  Tensor out = reduce_losses(losses, options.reduction, count, target.shape());

  // dL/dlogits_{r,c} = s_r · (p_{r,c} − eps/C − (1 − eps)·[c = y_r]),  p_{r,c} = exp(x_{r,c} − lse_r);
  // 0 for an ignored row.
  record(out, "cross_entropy", {&rows},
         [logits = rows.detach(), lse = std::move(lse), target, ignore, count, keep, reduction = options.reduction,
          uniform = static_cast<scalar_t>(eps / static_cast<double>(C))](const Tensor& g, GradSink& sink) {
           const int64_t R = logits.shape()[0], C = logits.shape()[1];
           const int64_t* y = target.data();
           const RowScale scale(g, reduction, count);
           Tensor dx = empty(logits.shape());
           const scalar_t* xs = logits.data();
           scalar_t* ds = dx.data();
           parallel_for(R, row_grain(C), [&](int64_t r0, int64_t r1) {
             for (int64_t r = r0; r < r1; ++r) {
               scalar_t* d = ds + r * C;
               if (y[r] == ignore) {
                 std::fill(d, d + C, scalar_t(0));
                 continue;
               }
               const scalar_t s = scale(r), row_lse = lse[r];
               const scalar_t* x = xs + r * C;
#pragma omp simd
               for (int64_t c = 0; c < C; ++c) d[c] = s * (kernels::exp_kernel(x[c] - row_lse) - uniform);
               d[y[r]] -= s * keep;
             }
           });
           sink.add(0, std::move(dx));
         });
  return out;
}

Tensor nll_loss(const Tensor& input, const IndexTensor& target_in, const NllLossOptions& options) {
  Tensor rows = as_rows(input, target_in, "nll_loss");  // [R, C] log-probabilities
  const int64_t R = rows.shape()[0], C = rows.shape()[1];
  const int64_t ignore = options.ignore_index;
  const int64_t count = count_targets(target_in, C, ignore, "nll_loss");
  const IndexTensor target(target_in.values(), target_in.shape());
  const int64_t* y = target.data();
  std::vector<scalar_t> losses(R);
  const scalar_t* xs = rows.data();
  for (int64_t r = 0; r < R; ++r) losses[r] = y[r] == ignore ? scalar_t(0) : -xs[r * C + y[r]];
  Tensor out = reduce_losses(losses, options.reduction, count, target.shape());

  // loss_r = −x_{r, y_r}  =>  dL/dx_{r, c} = −s_r·[c = y_r]
  record(out, "nll_loss", {&rows},
         [target, ignore, count, R, C, reduction = options.reduction](const Tensor& g, GradSink& sink) {
           const int64_t* y = target.data();
           const RowScale scale(g, reduction, count);
           Tensor dx = zeros({R, C});
           for (int64_t r = 0; r < R; ++r)
             if (y[r] != ignore) dx.data()[r * C + y[r]] = -scale(r);
           sink.add(0, std::move(dx));
         });
  return out;
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  TS_CHECK(input.shape() == target.shape(),
           "mse_loss: input of shape {} and target of shape {} differ; they must have the same shape "
           "(reshape one, or broadcast it explicitly with expand)",
           input.shape(), target.shape());
  const Tensor diff = input - target;
  const Tensor squared = diff * diff;
  switch (reduction) {
    case Reduction::None: return squared;
    case Reduction::Sum: return sum(squared);
    case Reduction::Mean: break;
  }
  return mean(squared);
}

}  // namespace tessera::nn
