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
  Tensor out = empty(x.shape()), xhat = empty(x.shape()), rstd = empty({channels});
  const scalar_t* xs = x.data();
  const scalar_t* w = weight.defined() ? weight.data() : nullptr;
  const scalar_t* b = bias.defined() ? bias.data() : nullptr;
  scalar_t* rm = running_mean.defined() ? Tensor(running_mean).data() : nullptr;  // updated in place, no graph
  scalar_t* rv = running_var.defined() ? Tensor(running_var).data() : nullptr;
  scalar_t *ys = out.data(), *xh = xhat.data(), *rs = rstd.data();
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
        for (int64_t i = 0; i < n; ++i) {
          const scalar_t* run = xs + (i * channels + c) * s;
          const scalar_t mean = static_cast<scalar_t>(mu);
          scalar_t part = 0;
#pragma omp simd reduction(+ : part)
          for (int64_t k = 0; k < s; ++k) part += (run[k] - mean) * (run[k] - mean);
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
      const scalar_t mean = static_cast<scalar_t>(mu), gamma = w ? w[c] : scalar_t(1), beta = b ? b[c] : scalar_t(0);
      rs[c] = r;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t at = (i * channels + c) * s;
#pragma omp simd
        for (int64_t k = at; k < at + s; ++k) {
          xh[k] = (xs[k] - mean) * r;
          ys[k] = xh[k] * gamma + beta;
        }
      }
    }
  });

  // Backward, per channel, with g = dL/dy:
  //   y = x̂ γ + β  ⇒  dγ = Σ g x̂,  dβ = Σ g
  //   training (μ and σ² depend on x):  dx = γ r (g − dβ / m − x̂ · dγ / m)
  //     (the two terms are the paths through μ and σ², as in LayerNorm, over the channel's m values)
  //   eval (running stats are constants):  dx = γ r g
  record(out, "batch_norm", {&x, &weight, &bias},
         [xhat, rstd, w = weight.defined() ? weight.detach() : Tensor(), training, n, channels, s](const Tensor& g,
                                                                                                  GradSink& sink) {
           const int64_t m = n * s;
           Tensor dgamma = empty({channels}), dbeta = empty({channels});
           Tensor dx = sink.needs(0) ? empty(xhat.shape()) : Tensor();
           const scalar_t* gs = g.data();
           const scalar_t* xh = xhat.data();
           const scalar_t* rs = rstd.data();
           const scalar_t* ws = w.defined() ? w.data() : nullptr;
           scalar_t *dw = dgamma.data(), *db = dbeta.data();
           parallel_for(channels, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, m)),
                        [&](int64_t c0, int64_t c1) {
             for (int64_t c = c0; c < c1; ++c) {
               double sum_g = 0, sum_gx = 0;
               for (int64_t i = 0; i < n; ++i) {
                 const int64_t at = (i * channels + c) * s;
                 scalar_t part_g = 0, part_gx = 0;
#pragma omp simd reduction(+ : part_g, part_gx)
                 for (int64_t k = at; k < at + s; ++k) {
                   part_g += gs[k];
                   part_gx += gs[k] * xh[k];
                 }
                 sum_g += part_g;
                 sum_gx += part_gx;
               }
               db[c] = static_cast<scalar_t>(sum_g);
               dw[c] = static_cast<scalar_t>(sum_gx);
               if (!dx.defined()) continue;
               const scalar_t scale = rs[c] * (ws ? ws[c] : scalar_t(1));
               const scalar_t mean_g = training ? static_cast<scalar_t>(sum_g / m) : scalar_t(0);
               const scalar_t mean_gx = training ? static_cast<scalar_t>(sum_gx / m) : scalar_t(0);
               scalar_t* d = dx.data();
               for (int64_t i = 0; i < n; ++i) {
                 const int64_t at = (i * channels + c) * s;
#pragma omp simd
                 for (int64_t k = at; k < at + s; ++k) d[k] = scale * (gs[k] - mean_g - xh[k] * mean_gx);
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
