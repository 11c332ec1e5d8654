#include "nn/layernorm.h"

#include <cmath>
#include <memory>

#include "engine/parallel.h"
#include "nn/dropout.h"

namespace tessera::nn {

// Per row x of N values:
//   μ = Σ x / N,  σ² = Σ (x − μ)² / N,  r = 1 / √(σ² + eps),  x̂ = (x − μ) r,  y = x̂ ⊙ w + b
// Backward, with g = dL/dy and ĝ = g ⊙ w:
//   dL/dw = Σ_rows g ⊙ x̂,   dL/db = Σ_rows g,
//   dL/dx = r (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂))
// (the two mean terms are the paths through μ and through σ²). The three row kernels below are
// shared by layer_norm and the fused add_dropout_layer_norm, so both compute the same bits.
namespace {

int64_t row_grain(int64_t n) { return std::max<int64_t>(1, 8192 / n); }

// One row: x̂ into xhr, y into orow; returns r. `row` may be xhr itself (each x̂_i is written after
// its x_i was read).
scalar_t normalize_row(const scalar_t* row, int64_t n, double eps, const scalar_t* w, const scalar_t* b,
                       scalar_t* xhr, scalar_t* orow) {
  scalar_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += row[i];
  const scalar_t mu = sum / static_cast<scalar_t>(n);
  scalar_t sq = 0;
#pragma omp simd reduction(+ : sq)
  for (int64_t i = 0; i < n; ++i) sq += (row[i] - mu) * (row[i] - mu);
  const scalar_t r_std = static_cast<scalar_t>(1 / std::sqrt(static_cast<double>(sq / static_cast<scalar_t>(n)) + eps));
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const scalar_t v = (row[i] - mu) * r_std;
    xhr[i] = v;
    orow[i] = v * (w ? w[i] : scalar_t(1)) + (b ? b[i] : scalar_t(0));
  }
  return r_std;
}

// One row of dL/dx from g, x̂ and r.
void normalize_row_backward(const scalar_t* gr, const scalar_t* xr, scalar_t r_std, const scalar_t* ws, int64_t n,
                            scalar_t* dr) {
  scalar_t mean_g = 0, mean_gx = 0;
#pragma omp simd reduction(+ : mean_g, mean_gx)
  for (int64_t i = 0; i < n; ++i) {
    const scalar_t gh = gr[i] * (ws ? ws[i] : scalar_t(1));
    mean_g += gh;
    mean_gx += gh * xr[i];
  }
  mean_g /= static_cast<scalar_t>(n);
  mean_gx /= static_cast<scalar_t>(n);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dr[i] = r_std * (gr[i] * (ws ? ws[i] : scalar_t(1)) - mean_g - xr[i] * mean_gx);
}

// dL/dw and dL/db (inputs `w_input`, `b_input` of the sink), summed over the rows in order (the
// same bits at any thread count).
void weight_bias_backward(const Tensor& g, const Tensor& xhat, const Tensor& w, int64_t n, int64_t rows,
                          GradSink& sink, int w_input, int b_input) {
  if (!sink.needs(w_input) && !sink.needs(b_input)) return;
  const Shape shape = w.defined() ? w.shape() : Shape{n};
  Tensor dw = zeros(shape), db = zeros(shape);
  scalar_t *dws = dw.data(), *dbs = db.data();
  const scalar_t* gs = g.data();
  const scalar_t* xh = xhat.data();
  for (int64_t r = 0; r < rows; ++r) {
    const scalar_t* gr = gs + r * n;
    const scalar_t* xr = xh + r * n;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      dws[i] += gr[i] * xr[i];
      dbs[i] += gr[i];
    }
  }
  if (sink.needs(w_input)) sink.add(w_input, dw);
  if (sink.needs(b_input)) sink.add(b_input, db);
}

// The checks both entry points share; returns N, the size of one normalised row.
int64_t check_layer_norm_args(const char* op, const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                              const Tensor& bias) {
  const int k = normalized_shape.rank();
  bool fits = k >= 1 && x.dim() >= k;
  for (int i = 0; fits && i < k; ++i) fits = x.shape()[x.dim() - k + i] == normalized_shape[i];
  TS_CHECK(fits, "{}: input of shape {} does not end in normalized_shape {}", op, x.shape(), normalized_shape);
  if (weight.defined())
    TS_CHECK(weight.shape() == normalized_shape, "{}: weight shape {} must equal normalized_shape {}", op,
             weight.shape(), normalized_shape);
  if (bias.defined())
    TS_CHECK(bias.shape() == normalized_shape, "{}: bias shape {} must equal normalized_shape {}", op, bias.shape(),
             normalized_shape);
  return normalized_shape.numel();
}

const scalar_t* data_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const int64_t n = check_layer_norm_args("layer_norm", x, normalized_shape, weight, bias);
  const int64_t rows = x.numel() / std::max<int64_t>(n, 1);
  Tensor out = empty(x.shape()), xhat = empty(x.shape()), rstd = empty({rows});
  const scalar_t* xs = x.data();
  const scalar_t *w = data_or_null(weight), *b = data_or_null(bias);
  scalar_t *o = out.data(), *xh = xhat.data(), *rs = rstd.data();
  parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) rs[r] = normalize_row(xs + r * n, n, eps, w, b, xh + r * n, o + r * n);
  });
  record(out, "layer_norm", {&x, &weight, &bias},
         [xhat, rstd, w = weight.defined() ? weight.detach() : Tensor(), n, rows](const Tensor& g, GradSink& sink) {
           if (sink.needs(0)) {
             Tensor dx = empty(xhat.shape());
             const scalar_t *gs = g.data(), *xh = xhat.data(), *rs = rstd.data(), *ws = data_or_null(w);
             scalar_t* d = dx.data();
             parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
               for (int64_t r = r0; r < r1; ++r) normalize_row_backward(gs + r * n, xh + r * n, rs[r], ws, n, d + r * n);
             });
             sink.add(0, dx);
           }
           weight_bias_backward(g, xhat, w, n, rows, sink, 1, 2);
         });
  return out;
}

// out = layer_norm(x + dropout(y)): the post-norm residual of a Transformer layer in one pass.
//   s = x + y ⊙ m   (m_i = keep_i / (1 − p), the mask nn::dropout draws from the same generator)
//   out = layer_norm(s)
// Backward: ds from the layer norm's row formula (above), then dL/dx = ds and dL/dy = ds ⊙ m, in
// the same pass. Unfused, the step writes and reads back y ⊙ m and s and runs two more backward
// passes; here s lives only in x̂'s buffer. The float operations are those of the composed ops
// (y_i · (keep_i · scale), then x_i + that), so the result is the same to the bit.
Tensor add_dropout_layer_norm(const Tensor& x, const Tensor& y, double p, bool training, const Shape& normalized_shape,
                              const Tensor& weight, const Tensor& bias, double eps, Generator* gen) {
  TS_CHECK(p >= 0 && p <= 1, "add_dropout_layer_norm: probability {} is outside [0, 1]", p);
  TS_CHECK(x.shape() == y.shape(), "add_dropout_layer_norm: the residual {} and the branch {} must have one shape",
           x.shape(), y.shape());
  if (p == 1 && training) return layer_norm(x + dropout(y, p, true, gen), normalized_shape, weight, bias, eps);
  const bool drop = training && p > 0;
  const int64_t n = check_layer_norm_args("add_dropout_layer_norm", x, normalized_shape, weight, bias);
  const int64_t rows = x.numel() / std::max<int64_t>(n, 1);
  std::shared_ptr<ByteBuffer> keep;
  if (drop) {
    keep = detail::make_small<ByteBuffer>(x.numel());
    (gen ? *gen : default_generator()).fill_bernoulli(keep->data, x.numel(), 1 - p);
  }
  const scalar_t scale = drop ? static_cast<scalar_t>(1 / (1 - p)) : scalar_t(1);
  Tensor out = empty(x.shape()), xhat = empty(x.shape()), rstd = empty({rows});
  const scalar_t *xs = x.data(), *ys = y.data(), *w = data_or_null(weight), *b = data_or_null(bias);
  const uint8_t* k = drop ? keep->data : nullptr;
  scalar_t *o = out.data(), *xh = xhat.data(), *rs = rstd.data();
  parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const scalar_t *xr = xs + r * n, *yr = ys + r * n;
      scalar_t* sr = xh + r * n;  // s, normalised in place into x̂
      if (k) {
        // Two loops, not x + y·m in one: the compiler would contract that into a fused multiply-add,
        // rounding once where the composed ops round twice, and the bits would differ from them.
        const uint8_t* kr = k + r * n;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) sr[i] = yr[i] * (static_cast<scalar_t>(kr[i]) * scale);
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) sr[i] = xr[i] + sr[i];
      } else {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) sr[i] = xr[i] + yr[i];
      }
      rs[r] = normalize_row(sr, n, eps, w, b, sr, o + r * n);
    }
  });
  record(out, "add_dropout_layer_norm", {&x, &y, &weight, &bias},
         [xhat, rstd, keep, scale, w = weight.defined() ? weight.detach() : Tensor(), n, rows](const Tensor& g,
                                                                                              GradSink& sink) {
           if (sink.needs(0) || sink.needs(1)) {
             Tensor ds = empty(xhat.shape()), dy = sink.needs(1) ? empty(xhat.shape()) : Tensor();
             const scalar_t *gs = g.data(), *xh = xhat.data(), *rs = rstd.data(), *ws = data_or_null(w);
             const uint8_t* k = keep ? keep->data : nullptr;
             scalar_t *d = ds.data(), *dys = dy.defined() ? dy.data() : nullptr;
             parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
               for (int64_t r = r0; r < r1; ++r) {
                 scalar_t* dr = d + r * n;
                 normalize_row_backward(gs + r * n, xh + r * n, rs[r], ws, n, dr);
                 if (!dys) continue;
                 scalar_t* dyr = dys + r * n;
                 if (k) {
                   const uint8_t* kr = k + r * n;
#pragma omp simd
                   for (int64_t i = 0; i < n; ++i) dyr[i] = dr[i] * (static_cast<scalar_t>(kr[i]) * scale);
                 } else {
#pragma omp simd
                   for (int64_t i = 0; i < n; ++i) dyr[i] = dr[i];
                 }
               }
             });
             if (sink.needs(0)) sink.add(0, ds);
             if (sink.needs(1)) sink.add(1, dy);
           }
           weight_bias_backward(g, xhat, w, n, rows, sink, 2, 3);
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
