#include "nn/batchnorm.h"

#include <cmath>

namespace tessera::nn {

namespace {

void check_channel_tensor(const Tensor& t, int64_t channels, const char* what, const Shape& input) {
  if (t.defined())
    TS_CHECK(t.shape() == Shape{channels}, "batch_norm: expected {} of shape [{}] (one per channel of input {}), got {}",
             what, channels, input, t.shape());
}

}  // namespace

// Per channel c, over its m = N·S values (S = the product of the trailing dims), which lie in N
// runs of S:
//   μ, σ² from the batch (training) or the running stats (eval),  r = 1 / √(σ² + eps)
//   x̂ = (x − μ) r,   y = x̂ γ + β
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  TS_CHECK(x.dim() >= 2, "batch_norm: expected input [N, C, *], got {}", x.shape());
  const int64_t n = x.shape()[0], channels = x.shape()[1], s = x.numel() / std::max<int64_t>(1, n * channels);
  const int64_t m = n * s;  // values per channel
  check_channel_tensor(running_mean, channels, "running_mean", x.shape());
  check_channel_tensor(running_var, channels, "running_var", x.shape());
  check_channel_tensor(weight, channels, "weight", x.shape());
  check_channel_tensor(bias, channels, "bias", x.shape());
  TS_CHECK(running_mean.defined() == running_var.defined(),
           "batch_norm: running_mean and running_var must be given together");
  if (training) {
    TS_CHECK(m > 1, "batch_norm: expected more than 1 value per channel when training, got input {}", x.shape());
  } else {
    TS_CHECK(running_mean.defined(),
             "batch_norm: eval mode normalises with running_mean and running_var, but none were given "
             "(pass training = true to use the batch statistics)");
  }
  Tensor out = empty(x.shape()), mean = empty({channels}), rstd = empty({channels});
  const scalar_t* xs = x.data();
  const scalar_t* w = weight.defined() ? weight.data() : nullptr;
  const scalar_t* b = bias.defined() ? bias.data() : nullptr;
  scalar_t* rm = running_mean.defined() ? Tensor(running_mean).data() : nullptr;  // updated in place, no graph
  scalar_t* rv = running_var.defined() ? Tensor(running_var).data() : nullptr;
  scalar_t *ys = out.data(), *mus = mean.data(), *rs = rstd.data();
  // Channel c's values lie in N runs of S: run i starts at (i·C + c)·S. Each loop below goes
  // along one run with plain pointers (so it vectorises), and a channel's runs stay in cache from
  // one pass to the next. Channels run in parallel.
  parallel_for(channels, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, m)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double mu, variance;
      if (training) {  // two passes (mean, then squared deviations): no cancellation
        double total = 0;
        for (int64_t i = 0; i < n; ++i) {
          const scalar_t* run = xs + (i * channels + c) * s;
          scalar_t part = 0;
#pragma omp simd reduction(+ : part)
          for (int64_t k = 0; k < s; ++k) part += run[k];
          total += part;
        }
        mu = total / static_cast<double>(m);
        double squares = 0;
        const scalar_t mean_c = static_cast<scalar_t>(mu);
        for (int64_t i = 0; i < n; ++i) {
          const scalar_t* run = xs + (i * channels + c) * s;
          scalar_t part = 0;
#pragma omp simd reduction(+ : part)
          for (int64_t k = 0; k < s; ++k) part += (run[k] - mean_c) * (run[k] - mean_c);
          squares += part;
        }
        variance = squares / static_cast<double>(m);  // biased: what the batch is normalised with
        if (rm) {
          rm[c] = static_cast<scalar_t>((1 - momentum) * rm[c] + momentum * mu);
          rv[c] = static_cast<scalar_t>((1 - momentum) * rv[c] + momentum * variance * m / (m - 1));  // unbiased
        }
      } else {
        mu = rm[c];
        variance = rv[c];
      }
      const scalar_t r = static_cast<scalar_t>(1 / std::sqrt(variance + eps));
      const scalar_t mean_c = static_cast<scalar_t>(mu), gamma = w ? w[c] : scalar_t(1), beta = b ? b[c] : scalar_t(0);
      mus[c] = mean_c;
      rs[c] = r;
      const scalar_t scale = r * gamma;  // y = (x − μ)·(rγ) + β
      for (int64_t i = 0; i < n; ++i) {
        const scalar_t* run = xs + (i * channels + c) * s;
        scalar_t* y_run = ys + (i * channels + c) * s;
#pragma omp simd
        for (int64_t k = 0; k < s; ++k) y_run[k] = (run[k] - mean_c) * scale + beta;
      }
    }
  });

  // Backward, per channel, with g = dL/dy and x̂ = (x − μ) r recomputed from the kept x (keeping
  // x rather than x̂ costs the same memory and saves the forward a write):
  //   y = x̂ γ + β  ⇒  dγ = Σ g x̂ = r Σ g (x − μ),  dβ = Σ g
  //   training (μ and σ² depend on x):  dx = γ r (g − dβ / m − x̂ · dγ / m)
  //     (the two terms are the paths through μ and σ², as in LayerNorm, over the channel's m values)
  //   eval (running stats are constants):  dx = γ r g
  // Two passes over each channel (the sums, then dx), the second from cache.
  record(out, "batch_norm", {&x, &weight, &bias},
         [x = x.detach(), mean, rstd, w = weight.defined() ? weight.detach() : Tensor(), training, n, channels,
          s](const Tensor& g, GradSink& sink) {
           const int64_t m = n * s;
           Tensor dgamma = empty({channels}), dbeta = empty({channels});
           Tensor dx = sink.needs(0) ? empty(x.shape()) : Tensor();
           const scalar_t* gs = g.data();
           const scalar_t* xs = x.data();
           const scalar_t* mus = mean.data();
           const scalar_t* rs = rstd.data();
           const scalar_t* ws = w.defined() ? w.data() : nullptr;
           scalar_t* d = dx.defined() ? dx.data() : nullptr;
           scalar_t *dw = dgamma.data(), *db = dbeta.data();
           parallel_for(channels, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, m)),
                        [&](int64_t c0, int64_t c1) {
             for (int64_t c = c0; c < c1; ++c) {
               const scalar_t mean_c = mus[c], r = rs[c];
               double sum_g = 0, sum_gx = 0;  // Σ g, Σ g (x − μ)
               for (int64_t i = 0; i < n; ++i) {
                 const scalar_t* g_run = gs + (i * channels + c) * s;
                 const scalar_t* x_run = xs + (i * channels + c) * s;
                 scalar_t part_g = 0, part_gx = 0;
#pragma omp simd reduction(+ : part_g, part_gx)
                 for (int64_t k = 0; k < s; ++k) {
                   part_g += g_run[k];
                   part_gx += g_run[k] * (x_run[k] - mean_c);
                 }
                 sum_g += part_g;
                 sum_gx += part_gx;
               }
               db[c] = static_cast<scalar_t>(sum_g);
               dw[c] = static_cast<scalar_t>(sum_gx * r);
               if (!d) continue;
               // dx = γ r (g − Σg/m − (x − μ) · r² Σg(x − μ)/m)
               const scalar_t scale = r * (ws ? ws[c] : scalar_t(1));
               const scalar_t mean_g = training ? static_cast<scalar_t>(sum_g / m) : scalar_t(0);
               const scalar_t slope = training ? static_cast<scalar_t>(sum_gx * r * r / m) : scalar_t(0);  // r² Σ g (x − μ) / m
               for (int64_t i = 0; i < n; ++i) {
                 const scalar_t* g_run = gs + (i * channels + c) * s;
                 const scalar_t* x_run = xs + (i * channels + c) * s;
                 scalar_t* d_run = d + (i * channels + c) * s;
#pragma omp simd
                 for (int64_t k = 0; k < s; ++k) d_run[k] = scale * (g_run[k] - mean_g - (x_run[k] - mean_c) * slope);
               }
             }
           });
           if (sink.needs(0)) sink.add(0, dx);
           if (sink.needs(1)) sink.add(1, dgamma);
           if (sink.needs(2)) sink.add(2, dbeta);
         });
  return out;
}

BatchNorm2d::BatchNorm2d(int64_t features, const BatchNormOptions& opts)
    : UnaryModule("BatchNorm2d"), num_features(features), options(opts) {
  TS_CHECK(features > 0, "BatchNorm2d: num_features ({}) must be positive", features);
  TS_CHECK(opts.eps >= 0, "BatchNorm2d: eps ({}) must not be negative", opts.eps);
  if (opts.affine) {
    weight = register_parameter("weight", ones({features}));
    bias = register_parameter("bias", zeros({features}));
  }
  if (opts.track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({features}));
    running_var = register_buffer("running_var", ones({features}));
    num_batches_tracked = register_buffer("num_batches_tracked", scalar_tensor(0));
  }
}

// As PyTorch: batch statistics in training, and always when no running stats are tracked; the
// running stats are updated only in training.
Tensor BatchNorm2d::forward(const Tensor& x) {
  TS_CHECK(x.dim() == 4 && x.shape()[1] == num_features, "BatchNorm2d: expected input [N, {}, H, W], got {}",
           num_features, x.shape());
  const bool tracking = options.track_running_stats, update = is_training() && tracking;
  double momentum = options.momentum.value_or(0);
  if (update && !options.momentum) momentum = 1 / (num_batches_tracked.item() + 1);  // cumulative average
  Tensor y = batch_norm(x, tracking ? running_mean : Tensor(), tracking ? running_var : Tensor(), weight, bias,
                        is_training() || !tracking, momentum, options.eps);
  if (update) num_batches_tracked.data()[0] += 1;
  return y;
}

std::string BatchNorm2d::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", num_features, options.eps,
                     options.momentum ? fmt::format("{}", *options.momentum) : "None", options.affine,
                     options.track_running_stats);
}

}  // namespace tessera::nn
