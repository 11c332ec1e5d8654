// tessera/nn/self_attention2d.h — self-attention over the positions of a feature map: the block
// of SAGAN (Zhang, Goodfellow, Metaxas & Odena, "Self-Attention Generative Adversarial Networks",
// 2019), with the parameter names of the common PyTorch implementations.
//
// For x: [B, C, H, W], N = H·W positions, C' = max(1, C / reduction):
//   q = query_conv(x), k = key_conv(x)   1×1 convs C -> C'      viewed [B, C', N]
//   v = value_conv(x)                    1×1 conv  C -> C       viewed [B, C, N]
//   A = softmax(qᵀ k) over the last dim                           [B, N, N]
//       A[b, i, j]: how much query position i attends to position j; each row sums to 1
//   o = v Aᵀ,  o[b, c, i] = Σ_j v[b, c, j] A[b, i, j]              [B, C, N] -> [B, C, H, W]
//   y = γ o + x                                                   γ: a learnable scalar, 0 at first
// γ = 0 makes the block the identity at initialisation; training grows γ as non-local evidence
// starts to help. As in SAGAN, the scores are not scaled by 1/√C'. Memory grows with N²: a 64×64
// map has 4096 positions and an attention map of 16.8M entries per image.
#pragma once

#include <memory>

#include "nn/attention.h"
#include "nn/conv.h"
#include "nn/module.h"

namespace tessera::nn {

class SelfAttention2d : public UnaryModule {
 public:
  // reduction: the query/key channels are max(1, channels / reduction).
  explicit SelfAttention2d(int64_t channels, int64_t reduction = 8);
  // The output alone, through scaled_dot_product_attention: the fused kernel (memory O(N), not
  // O(N²)) once N² exceeds one 64 × 64 tile; unless keep_weights asks for the map.
  Tensor forward(const Tensor& x) override;
  // The output [B, C, H, W] and the attention map A [B, N, N] (part of the graph).
  AttentionOutput attend(const Tensor& x);

  // When true, every forward keeps A [B, N, N] (detached) in last_weights, for plotting where
  // each position looked (as MultiHeadAttention::keep_weights).
  bool keep_weights = false;
  Tensor last_weights;

  int64_t channels, query_channels;
  std::shared_ptr<Conv2d> query_conv, key_conv, value_conv;
  Tensor gamma;  // [1], zeros

 protected:
  std::string extra_repr() const override;
};

}  // namespace tessera::nn
