#include "nn/self_attention2d.h"

#include <algorithm>

namespace tessera::nn {

SelfAttention2d::SelfAttention2d(int64_t c, int64_t reduction)
    : UnaryModule("SelfAttention2d"), channels(c), query_channels(0) {
  TS_CHECK(c > 0 && reduction > 0, "SelfAttention2d: channels ({}) and reduction ({}) must be positive", c, reduction);
  query_channels = std::max<int64_t>(1, c / reduction);
  query_conv = register_module("query_conv", std::make_shared<Conv2d>(c, query_channels, 1));
  key_conv = register_module("key_conv", std::make_shared<Conv2d>(c, query_channels, 1));
  value_conv = register_module("value_conv", std::make_shared<Conv2d>(c, c, 1));
  gamma = register_parameter("gamma", zeros({1}));
}

// No backward to write: 1×1 convs, matmuls (transpose flags, no copies), softmax, and the
// scaled residual are engine ops whose backwards autograd chains.
AttentionOutput SelfAttention2d::attend(const Tensor& x) {
  TS_CHECK(x.dim() == 4 && x.shape()[1] == channels, "SelfAttention2d: expected input [N, {}, H, W], got {}",
           channels, x.shape());
  const int64_t batch = x.shape()[0], positions = x.shape()[2] * x.shape()[3];
  const Tensor q = reshape(query_conv->forward(x), {batch, query_channels, positions});  // [B, C', N]
  const Tensor k = reshape(key_conv->forward(x), {batch, query_channels, positions});    // [B, C', N]
  const Tensor v = reshape(value_conv->forward(x), {batch, channels, positions});        // [B, C, N]
  const Tensor attention = softmax(matmul(q, k, /*transpose_a=*/true), -1);              // qᵀk: [B, N, N]
  const Tensor o = matmul(v, attention, false, /*transpose_b=*/true);                    // v Aᵀ: [B, C, N]
  if (keep_weights) last_weights = attention.detach();
  return {gamma * reshape(o, x.shape()) + x, attention};
}

std::string SelfAttention2d::extra_repr() const {
  return fmt::format("channels={}, query_channels={}", channels, query_channels);
}

}  // namespace tessera::nn
