// tessera/nn/batchnorm.h — batch normalisation over the channels of [N, C, H, W] maps, like
// torch.nn.functional.batch_norm and torch.nn.BatchNorm2d.
//
// Per channel c, over its m = N·H·W values:
//   training:  μ = Σ x / m,  σ² = Σ (x − μ)² / m  (biased),  x̂ = (x − μ) / √(σ² + eps)
//              running_mean ← (1 − momentum) running_mean + momentum μ
//              running_var  ← (1 − momentum) running_var  + momentum σ² · m / (m − 1)  (unbiased)
//   eval:      x̂ = (x − running_mean) / √(running_var + eps)
//   both:      y = γ x̂ + β   (γ = weight, β = bias: the affine part)
// exactly as PyTorch (which also normalises with the biased variance but tracks the unbiased one).
// Forward and backward are fused in nn/batchnorm.cpp: one pass each way instead of a dozen ops.
#pragma once

#include <optional>

#include "nn/module.h"

namespace tessera::nn {

// x [N, C, *] (any number of trailing dims, C in dim 1). running_mean / running_var [C], or
// undefined when not tracked; in training they are updated in place (no graph) with the
// momentum rule above; out of training they are what x is normalised with, and must be given.
// weight and bias [C], or undefined.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), bool training = false,
                  double momentum = 0.1, double eps = 1e-5);

struct BatchNormOptions {
  double eps = 1e-5;
  // Weight of the new batch in the running averages; nullopt = the cumulative average over all
  // batches so far (momentum 1 / num_batches_tracked), as PyTorch's momentum=None.
  std::optional<double> momentum = 0.1;
  bool affine = true;               // learnable weight (ones) and bias (zeros)
  bool track_running_stats = true;  // false: no buffers, batch statistics in eval mode too
};

// Parameters weight, bias [C] and buffers running_mean [C] (zeros), running_var [C] (ones),
// num_batches_tracked — the names of torch.nn.BatchNorm2d, so state_dicts line up.
// num_batches_tracked is int64 of shape [] in PyTorch; here it is a scalar_t buffer of shape []
// (tensors hold one dtype), exact up to 2^24 batches in the float build.
//   nn::BatchNorm2d bn(64);                                  // PyTorch's defaults
//   nn::BatchNorm2d bn(64, {.momentum = 0.01, .affine = false});
class BatchNorm2d : public UnaryModule {
 public:
  explicit BatchNorm2d(int64_t num_features, const BatchNormOptions& options = {});
  Tensor forward(const Tensor& x) override;

  int64_t num_features;
  BatchNormOptions options;
  Tensor weight, bias;                    // [C], or undefined without affine
  Tensor running_mean, running_var;       // [C], or undefined without track_running_stats
  Tensor num_batches_tracked;             // [], or undefined without track_running_stats

 protected:
  std::string extra_repr() const override;
};

}  // namespace tessera::nn
