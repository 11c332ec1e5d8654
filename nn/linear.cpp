#include "nn/linear.h"

#include <cmath>

#include "nn/init.h"

namespace tessera::nn {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  TS_CHECK(x.dim() >= 1 && weight.dim() == 2 && x.shape().back() == weight.shape()[1],
           "linear: input of shape {} does not fit weight {}: the input's last dim must be in_features = {}",
           x.shape(), weight.shape(), weight.dim() == 2 ? weight.shape()[1] : -1);
  Tensor y = matmul(x, weight, false, /*transpose_b=*/true);
  return bias.defined() ? y + bias : y;
}

Linear::Linear(int64_t in, int64_t out, bool with_bias)
    : UnaryModule("Linear"), in_features(in), out_features(out) {
  TS_CHECK(in > 0 && out > 0, "Linear: in_features ({}) and out_features ({}) must be positive", in, out);
  weight = empty({out, in});
  init::kaiming_uniform_(weight, std::sqrt(5.0));  // = U(−1/√in, 1/√in)
  weight = register_parameter("weight", weight);
  if (with_bias) {
    bias = empty({out});
    const double bound = 1 / std::sqrt(static_cast<double>(in));
    init::uniform_(bias, -bound, bound);
    bias = register_parameter("bias", bias);
  }
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features, out_features, bias.defined());
}

}  // namespace tessera::nn
