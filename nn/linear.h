// tessera/nn/linear.h — y = x Wᵀ + b, like torch.nn.Linear.
#pragma once

#include "nn/module.h"

namespace tessera::nn {

// x: [..., in_features] -> [..., out_features]. W is [out, in] (PyTorch's layout); the product
// x Wᵀ passes a transpose flag to BLAS instead of copying W.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

class Linear : public UnaryModule {
 public:
  // PyTorch's default init: W and b ~ U(−1/√in, 1/√in).
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override { return linear(x, weight, bias); }

  int64_t in_features, out_features;
  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features], or undefined

 protected:
  std::string extra_repr() const override;
};

}  // namespace tessera::nn
