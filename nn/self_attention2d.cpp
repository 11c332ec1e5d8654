#include "nn/self_attention2d.h"

#include <algorithm>

#include "nn/fused_attention.h"

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

// The same output through the fused kernel: with positions as the sequence, q' = qᵀ [B, N, C'],
// k' = kᵀ, v' = vᵀ [B, N, C] and scale 1, softmax(q' k'ᵀ) v' = (v Aᵀ)ᵀ.
Tensor SelfAttention2d::forward(const Tensor& x) {
  if (keep_weights) return attend(x).output;
  TS_CHECK(x.dim() == 4 && x.shape()[1] == channels, "SelfAttention2d: expected input [N, {}, H, W], got {}",
           channels, x.shape());
  const int64_t batch = x.shape()[0], positions = x.shape()[2] * x.shape()[3];
  const Tensor q = transpose(reshape(query_conv->forward(x), {batch, query_channels, positions}), 1, 2);  // [B, N, C']
  const Tensor k = transpose(reshape(key_conv->forward(x), {batch, query_channels, positions}), 1, 2);    // [B, N, C']
  const Tensor v = transpose(reshape(value_conv->forward(x), {batch, channels, positions}), 1, 2);        // [B, N, C]
  SdpaOptions o;
  o.scale = 1;
  const Tensor o_t = scaled_dot_product_attention(q, k, v, o).output;                                     // [B, N, C]
  return gamma * reshape(transpose(o_t, 1, 2), x.shape()) + x;
}

std::string SelfAttention2d::extra_repr() const {
  return fmt::format("channels={}, query_channels={}", channels, query_channels);
}

}  // namespace tessera::nn
