// tessera/nn/approx_attention.h — attention in O(L) by approximation: random features
// (Performer / FAVOR+) and low-rank projection along the length (Linformer).
//
// Both replace softmax(q kᵀ · scale) v, whose cost grows with Lq·Lk, by products whose inner size
// is a fixed m or k instead of L. They are approximations: docs/long_attention.md tabulates their
// error against exact attention; the exact O(L)-memory path is nn/fused_attention.h.
//
// Performer (Choromanski et al., "Rethinking Attention with Performers", 2021). The softmax
// kernel exp(q·k) is an expectation over ω ~ N(0, I): exp(q·k) = E[φ(q)·φ(k)] with the positive
// features φ(x)_r = exp(ω_r·x − |x|²/2) / √m. With m features drawn once (orthogonal within each
// block of d, which lowers the variance),
//     out_i ≈ Σ_j (φ(q_i)·φ(k_j)) v_j / Σ_j φ(q_i)·φ(k_j) = φ(q_i)ᵀ (φ(K)ᵀ V) / φ(q_i)ᵀ (φ(K)ᵀ 1),
// O(L·m·d) instead of O(L²·d). Causal: the sums run over j ≤ i, kept as running (prefix) sums
// (causal_linear_attention). The error falls like 1/√m. The features need no training, so they
// can be swapped into a trained model for inference (MultiHeadAttention::use_performer).
//
// Linformer (Wang et al., "Linformer: Self-Attention with Linear Complexity", 2020). Keys and
// values are projected along the length by learned E, F ∈ R^{k×L}: attention of the queries over
// the k rows E K and F V. O(L·k). The projections mix positions, so a causal or per-position mask
// cannot be applied after them; key padding is applied before (padded keys and values zeroed).
// An option of MultiHeadAttention (MultiHeadAttentionOptions::linformer_k), so Transformer layers
// take it too; E and F are parameters like any other (saved, loaded, trained).
#pragma once

#include <cstdint>

#include "engine/tessera.h"

namespace tessera::nn {

// m × d random feature directions: blocks of d orthonormal rows (Gram–Schmidt on Gaussian
// matrices), each row then scaled by the norm of an independent Gaussian d-vector so that rows
// are distributed like N(0, I) draws. The same seed gives the same features.
Tensor orthogonal_random_features(int64_t m, int64_t d, uint64_t seed);

// φ(x)_r = exp(ω_r·x − |x|²/2 − c) / √m for x [..., L, d] and omega [m, d] → [..., L, m]. The
// constant c (the maximum of ω_r·x over r, per row when per_row, else over the whole batch entry)
// keeps exp finite; it cancels in the ratio above.
Tensor performer_features(const Tensor& x, const Tensor& omega, bool per_row);

// Causal linear attention: out_i = Σ_{j≤i} (a_i·b_j) v_j  for a [..., L, m], b [..., L, m],
// v [..., L, dv] → [..., L, dv], with the running sums S_i = Σ_{j≤i} b_j v_jᵀ kept one at a time
// (memory O(m·dv) per batch entry, not O(L·m·dv)). Backward by the reverse running sums.
Tensor causal_linear_attention(const Tensor& a, const Tensor& b, const Tensor& v);

// Softmax attention estimated with random features. q, k [..., L, d], v [..., Lk, dv];
// scale as in scaled_dot_product_attention (default 1/√d); causal: query i sees keys j ≤ i
// (needs Lq = Lk). key_mask (optional, broadcastable to [..., Lk], e.g. [B, 1, Lk] for heads
// [B, H, Lk, d]; 1 = real key, 0 = padding) drops padded keys.
Tensor performer_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& omega,
                           bool causal = false, double scale = -1, const Tensor& key_mask = Tensor());

}  // namespace tessera::nn
