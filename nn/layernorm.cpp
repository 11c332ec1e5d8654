#include "nn/layernorm.h"

#include <cmath>

namespace tessera::nn {

// Per row x of N values:
//   μ = Σ x / N,  σ² = Σ (x − μ)² / N,  r = 1 / √(σ² + eps),  x̂ = (x − μ) r,  y = x̂ ⊙ w + b
// Backward, with g = dL/dy and ĝ = g ⊙ w:
//   dL/dw = Σ_rows g ⊙ x̂,   dL/db = Σ_rows g,
//   dL/dx = r (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂))
// (the two mean terms are the paths through μ and through σ²).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const int k = normalized_shape.rank();
  bool fits = k >= 1 && x.dim() >= k;
  for (int i = 0; fits && i < k; ++i) fits = x.shape()[x.dim() - k + i] == normalized_shape[i];
  TS_CHECK(fits, "layer_norm: input of shape {} does not end in normalized_shape {}", x.shape(), normalized_shape);
  if (weight.defined())
    TS_CHECK(weight.shape() == normalized_shape, "layer_norm: weight shape {} must equal normalized_shape {}",
             weight.shape(), normalized_shape);
  if (bias.defined())
    TS_CHECK(bias.shape() == normalized_shape, "layer_norm: bias shape {} must equal normalized_shape {}",
             bias.shape(), normalized_shape);
  const int64_t n = normalized_shape.numel(), rows = x.numel() / std::max<int64_t>(n, 1);
  Tensor out = empty(x.shape()), xhat = empty(x.shape()), rstd = empty({rows});
  const scalar_t* xs = x.data();
  const scalar_t* w = weight.defined() ? weight.data() : nullptr;
  const scalar_t* b = bias.defined() ? bias.data() : nullptr;
  scalar_t *o = out.data(), *xh = xhat.data(), *rs = rstd.data();
  parallel_for(rows, std::max<int64_t>(1, 8192 / n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const scalar_t* row = xs + r * n;
      scalar_t sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < n; ++i) sum += row[i];
      const scalar_t mu = sum / static_cast<scalar_t>(n);
      scalar_t sq = 0;
#pragma omp simd reduction(+ : sq)
      for (int64_t i = 0; i < n; ++i) sq += (row[i] - mu) * (row[i] - mu);
      const scalar_t r_std = static_cast<scalar_t>(1 / std::sqrt(static_cast<double>(sq / static_cast<scalar_t>(n)) + eps));
      rs[r] = r_std;
      scalar_t* xhr = xh + r * n;
      scalar_t* orow = o + r * n;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const scalar_t v = (row[i] - mu) * r_std;
        xhr[i] = v;
        orow[i] = v * (w ? w[i] : scalar_t(1)) + (b ? b[i] : scalar_t(0));
      }
    }
  });
  record(out, "layer_norm", {&x, &weight, &bias},
         [xhat, rstd, w = weight.defined() ? weight.detach() : Tensor(), n, rows](const Tensor& g, GradSink& sink) {
           const scalar_t* gs = g.data();
           const scalar_t* xh = xhat.data();
           const scalar_t* ws = w.defined() ? w.data() : nullptr;
           if (sink.needs(0)) {
             Tensor dx = empty(xhat.shape());
             scalar_t* d = dx.data();
             const scalar_t* rs = rstd.data();
             parallel_for(rows, std::max<int64_t>(1, 8192 / n), [&](int64_t r0, int64_t r1) {
               for (int64_t r = r0; r < r1; ++r) {
                 const scalar_t* gr = gs + r * n;
                 const scalar_t* xr = xh + r * n;
                 scalar_t mean_g = 0, mean_gx = 0;
#pragma omp simd reduction(+ : mean_g, mean_gx)
                 for (int64_t i = 0; i < n; ++i) {
                   const scalar_t gh = gr[i] * (ws ? ws[i] : scalar_t(1));
                   mean_g += gh;
                   mean_gx += gh * xr[i];
                 }
                 mean_g /= static_cast<scalar_t>(n);
                 mean_gx /= static_cast<scalar_t>(n);
                 scalar_t* dr = d + r * n;
#pragma omp simd
                 for (int64_t i = 0; i < n; ++i)
                   dr[i] = rs[r] * (gr[i] * (ws ? ws[i] : scalar_t(1)) - mean_g - xr[i] * mean_gx);
               }
             });
             sink.add(0, dx);
           }
           if (sink.needs(1) || sink.needs(2)) {
             Tensor dw = zeros(w.defined() ? w.shape() : Shape{n}), db = zeros(w.defined() ? w.shape() : Shape{n});
             scalar_t *dws = dw.data(), *dbs = db.data();
             for (int64_t r = 0; r < rows; ++r) {
               const scalar_t* gr = gs + r * n;
               const scalar_t* xr = xh + r * n;
#pragma omp simd
               for (int64_t i = 0; i < n; ++i) {
                 dws[i] += gr[i] * xr[i];
                 dbs[i] += gr[i];
               }
             }
             if (sink.needs(1)) sink.add(1, dw);
             if (sink.needs(2)) sink.add(2, db);
           }
         });
  return out;
}

LayerNorm::LayerNorm(Shape shape, double eps_, bool affine) : UnaryModule("LayerNorm"), normalized_shape(shape), eps(eps_) {
  TS_CHECK(shape.rank() >= 1 && shape.numel() > 0, "LayerNorm: normalized_shape {} must be non-empty", shape);
  if (affine) {
    weight = register_parameter("weight", ones(shape));
    bias = register_parameter("bias", zeros(shape));
  }
}

std::string LayerNorm::extra_repr() const {
  return fmt::format("{}, eps={}, elementwise_affine={}", normalized_shape, eps, weight.defined());
}

}  // namespace tessera::nn
