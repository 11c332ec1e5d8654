// tessera/nn/layernorm.h — layer normalisation over the last dims, like torch.nn.LayerNorm.
#pragma once

#include "nn/module.h"

namespace tessera::nn {

// Normalises each row of the last `normalized_shape.rank()` dims to mean 0 and variance 1 (the
// biased variance, as PyTorch), then scales by weight and shifts by bias (either may be undefined).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

// layer_norm(x + dropout(y, p, training)) in one pass over the rows, forward and backward: the
// post-norm residual of a Transformer layer (TransformerEncoderLayer/DecoderLayer with
// norm_first = false). The same bits as the composed ops, and the same draws from the generator.
Tensor add_dropout_layer_norm(const Tensor& x, const Tensor& y, double p, bool training, const Shape& normalized_shape,
                              const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), double eps = 1e-5,
                              Generator* gen = nullptr);

class LayerNorm : public UnaryModule {
 public:
  LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  explicit LayerNorm(int64_t size, double eps = 1e-5) : LayerNorm(Shape{size}, eps) {}
  Tensor forward(const Tensor& x) override { return layer_norm(x, normalized_shape, weight, bias, eps); }

  Shape normalized_shape;
  double eps;
  Tensor weight, bias;  // ones and zeros of normalized_shape

 protected:
  std::string extra_repr() const override;
};

}  // namespace tessera::nn
