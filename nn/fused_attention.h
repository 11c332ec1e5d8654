// tessera/nn/fused_attention.h — exact scaled dot-product attention in blocks, with memory O(L)
// instead of O(L²): the FlashAttention-2 algorithm (Dao, 2023) on the CPU.
//
// scaled_dot_product_attention (nn/attention.h) runs this kernel whenever the attention weights
// are not asked for (need_weights = false, the default). The composed path it replaces —
// softmax(q kᵀ · scale + bias, masked) v as separate ops — stays as
// scaled_dot_product_attention_reference: it runs when the weights are wanted (heatmaps,
// analysis) or when attn_bias itself needs a gradient, and the tests compare the two.
//
// How it works (docs/long_attention.md has the derivation and a picture of the tiling):
//   forward   queries are cut into blocks of kBlockQ rows and keys into blocks of kBlockK. For
//             one query block, the key blocks are visited in order, keeping per row a running
//             maximum m and a running sum l of exp(s − m) (the online softmax): when a new block
//             raises the maximum from m to m', the sum and the output accumulated so far are
//             rescaled by exp(m − m'). At the end out = acc / l, and only the log-sum-exp
//             lse = m + log l of each row is kept for the backward: O(L) numbers, not O(L²).
//   backward  the scores are recomputed block by block from q, k and lse (p = exp(s − lse));
//             with dO the output's gradient and D_i = dO_i · O_i:
//               dV += Pᵀ dO,   dP = dO Vᵀ,   dS = P ∘ (dP − D),   dQ += dS K · scale,
//               dK += dSᵀ Q · scale.
//   masks     a boolean mask and an additive bias broadcast over batch and heads as in the
//             reference. is_causal and window are structural: key blocks that no query of a
//             block may see are skipped, so causal costs about half and a window of w keys
//             O(L·w). A row with no allowed key gives zeros and a zero gradient.
//   dropout   the keep bits come from the Philox counter (Generator::reserve / bernoulli_at), so
//             the backward draws the same mask again instead of storing it, and for the same
//             seed the mask is the one the reference path would draw.
//   threads   forward: one task per (batch·head, query block); backward: one task per
//             batch·head (its key blocks in order, so dQ is summed in the same order at any
//             thread count). Block products go through the engine's gemm.
#pragma once

#include "nn/attention.h"

namespace tessera::nn {

// The block sizes: rows of q and of k per tile.
inline constexpr int64_t kAttentionBlockQ = 64;
inline constexpr int64_t kAttentionBlockK = 64;

// The fused kernel itself: the same contract as scaled_dot_product_attention with need_weights
// = false (options.need_weights is ignored), and options.attn_bias must not require grad.
Tensor fused_attention(const Tensor& q, const Tensor& k, const Tensor& v, const SdpaOptions& options = {});

}  // namespace tessera::nn
