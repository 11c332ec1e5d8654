// tessera/nn/attention.h — the attention family: masks, scaled dot-product attention, scoring
// functions, and multi-head attention (docs/attention.md has the math and worked examples).
//
// Layout is batch-first throughout: [batch, length, features], heads as [batch, heads, length,
// head_dim] — PyTorch's batch_first=True.
//
// ONE MASK CONVENTION: a mask marks where attention is ALLOWED. Non-zero = may attend, 0 = blocked.
// That holds for attn_mask, key_padding_mask (1 = real token, 0 = padding) and every helper
// below. (PyTorch mixes two conventions: scaled_dot_product_attention's boolean True = attend,
// nn.MultiheadAttention's True = blocked. Converting a PyTorch MHA mask: keep = 1 − mask.)
// A query row whose keys are all blocked gets zero weights and a zero output, not NaN.
// Additive masks (float biases added to the scores, e.g. −inf or ALiBi slopes) go in attn_bias.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "nn/linear.h"
#include "nn/module.h"

namespace tessera::nn {

// ---------------- masks ----------------
// [Lq, Lk]: query i may attend to keys j ≤ i (top-left aligned, as torch.tril / is_causal).
Tensor causal_mask(int64_t query_length, int64_t key_length);
Tensor causal_mask(int64_t length);
// [B, L]: 1 for positions < lengths[b], 0 for the padding after them.
Tensor padding_mask(const std::vector<int64_t>& lengths, int64_t max_length);
// [Lq, Lk]: query i may attend to keys with |i − j| ≤ window (local / sliding-window attention).
// Global attention is simply no mask; local attention is this mask.
Tensor local_mask(int64_t query_length, int64_t key_length, int64_t window);
// key_padding_mask [B, Lk] reshaped to [B, 1, 1, Lk], so it broadcasts over heads and queries.
Tensor key_padding_to_attention(const Tensor& key_padding_mask);

// ---------------- scaled dot-product attention ----------------
struct AttentionOutput {
  Tensor output;   // [..., Lq, Dv]
  Tensor weights;  // [..., Lq, Lk] when asked for, else undefined
};

struct SdpaOptions {
  Tensor attn_mask;               // broadcastable to [..., Lq, Lk]; non-zero = may attend
  Tensor attn_bias;               // broadcastable to [..., Lq, Lk]; added to the scores
  bool is_causal = false;         // also apply causal_mask(Lq, Lk)
  int64_t window = -1;            // ≥ 0: also apply local_mask(Lq, Lk, window) (the fused path
                                  // then skips the blocks outside the band: O(L·window) work)
  double dropout_p = 0;           // dropout on the weights (pass 0 in eval)
  std::optional<double> scale;    // default 1/√d
  bool need_weights = false;
  Generator* generator = nullptr;  // for dropout; the global one by default
};

// softmax(q kᵀ · scale + bias, masked) v.  q: [..., Lq, d], k: [..., Lk, d], v: [..., Lk, Dv];
// leading dims broadcast like matmul's.
// Without need_weights this runs the fused, blocked kernel (nn/fused_attention.h: memory O(L),
// not O(L²)); with need_weights, when attn_bias requires grad, or when the scores are at most
// one 64 × 64 tile per batch entry (where the composed ops are faster), the reference below.
AttentionOutput scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const SdpaOptions& options = {});
// The same, composed of engine ops (scores and weights materialised): the reference the fused
// kernel is tested against, and the path that can return the weights.
AttentionOutput scaled_dot_product_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                                                       const SdpaOptions& options = {});
// The scores' shape [batch..., Lq, Lk] for these inputs; throws an error naming the argument when
// q, k, v or a mask do not fit. (Shared by both paths.)
Shape attention_scores_shape(const Tensor& q, const Tensor& k, const Tensor& v, const SdpaOptions& options);

// ---------------- scoring functions ----------------
// A score maps queries [..., Lq, dq] and keys [..., Lk, dk] to scores [..., Lq, Lk]; the
// Attention layer turns scores into weights with a masked softmax. Each one is a Module so its
// parameters (if any) are trained and saved like any other.
class AttentionScore : public Module {
 public:
  using Module::Module;
  virtual Tensor score(const Tensor& queries, const Tensor& keys) = 0;
};

// q · k   (needs dq = dk)
class DotScore : public AttentionScore {
 public:
  DotScore() : AttentionScore("DotScore") {}
  Tensor score(const Tensor& q, const Tensor& k) override;
};

// q · k / √d   (Vaswani et al., 2017)
class ScaledDotScore : public AttentionScore {
 public:
  ScaledDotScore() : AttentionScore("ScaledDotScore") {}
  Tensor score(const Tensor& q, const Tensor& k) override;
};

// vᵀ tanh(W_q q + W_k k)   (Bahdanau et al., 2015: "additive" / "concat"); dq and dk may differ.
class AdditiveScore : public AttentionScore {
 public:
  AdditiveScore(int64_t query_dim, int64_t key_dim, int64_t hidden_dim);
  Tensor score(const Tensor& q, const Tensor& k) override;
  std::shared_ptr<Linear> query_proj, key_proj;  // W_q: dq -> hidden, W_k: dk -> hidden (no bias)
  Tensor v;                                      // [hidden]
};

// qᵀ W k   (Luong et al., 2015: "general"); dq and dk may differ. W: [dq, dk].
class BilinearScore : public AttentionScore {
 public:
  BilinearScore(int64_t query_dim, int64_t key_dim);
  Tensor score(const Tensor& q, const Tensor& k) override;
  Tensor weight;
};

// cos(q, k) / temperature   (needs dq = dk)
class CosineScore : public AttentionScore {
 public:
  explicit CosineScore(double temperature = 0.1, double eps = 1e-8);
  Tensor score(const Tensor& q, const Tensor& k) override;
  double temperature, eps;
};

// weights = masked_softmax(score(q, k)), output = weights v. The same call for every score.
class Attention : public Module {
 public:
  explicit Attention(std::shared_ptr<AttentionScore> score, double dropout = 0);
  // mask: broadcastable to [..., Lq, Lk], non-zero = may attend
  AttentionOutput forward(const Tensor& queries, const Tensor& keys, const Tensor& values,
                          const Tensor& mask = Tensor());
  std::shared_ptr<AttentionScore> score;
  double dropout;
};

// ---------------- multi-head attention ----------------
struct MultiHeadAttentionOptions {
  int64_t embed_dim = 0;
  int64_t num_heads = 1;
  double dropout = 0;
  bool bias = true;
  int64_t kdim = 0, vdim = 0;  // 0 = embed_dim
  // Linformer (nn/approx_attention.h): k > 0 projects keys and values along the length to k rows
  // with learned linformer_e, linformer_f [k, max_length]; sequences up to max_length. Only for
  // attention without causal or attn_mask (key_padding_mask works).
  int64_t linformer_k = 0, max_length = 0;
};

// Keys and values already projected and split into heads, kept between calls for incremental
// (token-by-token) decoding, so step t costs O(t) instead of recomputing the whole prefix.
//   self-attention  (static_kv = false): each call appends the new tokens' keys and values;
//                   queries attend to everything cached so far plus themselves.
//   cross-attention (static_kv = true):  the first call projects the memory once; later calls
//                   reuse it and ignore the key/value arguments' contents.
// Beam search reorders the batch rows with reorder() when beams are pruned.
struct KeyValueCache {
  Tensor keys, values;     // [B, H, L_cached, head_dim]
  bool static_kv = false;
  int64_t length() const { return keys.defined() ? keys.shape()[2] : 0; }
  void reorder(const IndexTensor& rows);  // keys = keys[rows], values = values[rows] along batch
  void clear() { keys = Tensor(), values = Tensor(); }
};

struct MhaCall {
  Tensor key_padding_mask;         // [B, Lk], 1 = real token
  Tensor attn_mask;                // broadcastable to [B, H, Lq, Lk] ([Lq, Lk] is common)
  Tensor attn_bias;                // additive, broadcastable to [B, H, Lq, Lk]
  bool is_causal = false;
  int64_t window = -1;             // ≥ 0: local attention, query i sees keys |i − j| ≤ window
  bool need_weights = false;
  bool average_attn_weights = true;  // weights [B, Lq, Lk] averaged over heads, else [B, H, Lq, Lk]
  // Incremental decoding (see KeyValueCache). With a self-attention cache, key_padding_mask and
  // attn_mask cover all Lk = L_cached + Lq keys, and is_causal means query i (at absolute position
  // L_cached + i) sees keys j <= L_cached + i. Not for training: nothing flows back into the cache.
  KeyValueCache* cache = nullptr;
};

// Like torch.nn.MultiheadAttention(batch_first=True), with the same parameter names:
// in_proj_weight [3E, E] and in_proj_bias [3E] (or q_proj_weight/k_proj_weight/v_proj_weight
// when kdim/vdim differ from E), out_proj.weight [E, E], out_proj.bias [E].
// Self-attention is forward(x, x, x); cross-attention is forward(x, memory, memory).
class MultiHeadAttention : public Module {
 public:
  explicit MultiHeadAttention(const MultiHeadAttentionOptions& options);
  MultiHeadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0);
  // query [B, Lq, E], key [B, Lk, kdim], value [B, Lk, vdim] -> output [B, Lq, E]
  AttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value, const MhaCall& call = {});

  // When true, every forward keeps its per-head weights [B, H, Lq, Lk] (detached) in
  // last_weights — how tessera's Transformer exposes each layer's attention.
  bool keep_weights = false;
  Tensor last_weights;
  // With keep_weights: keep last_weights attached to the graph (not detached), so a scalar made
  // from a weight can be differentiated w.r.t. the inputs (nn/interpret.h). Costs the graph's
  // memory until the next forward; for interpretation, not training.
  bool keep_weights_graph = false;

  // Performer (nn/approx_attention.h): from now on estimate softmax attention with m orthogonal
  // random features drawn from `seed` (no training needed: swap it into a trained model for
  // inference); use_exact() goes back. The features are not parameters (not saved).
  void use_performer(int64_t features, uint64_t seed = 0);
  void use_exact() { performer_omega = Tensor(); }
  Tensor performer_omega;  // [m, head_dim] when the Performer is on

  int64_t embed_dim, num_heads, head_dim, kdim, vdim;
  double dropout;
  Tensor in_proj_weight, in_proj_bias;                    // packed projections (kdim = vdim = E)
  Tensor q_proj_weight, k_proj_weight, v_proj_weight;     // separate ones otherwise
  std::shared_ptr<Linear> out_proj;
  int64_t linformer_k = 0, max_length = 0;
  Tensor linformer_e, linformer_f;                        // [k, max_length] when linformer_k > 0

 protected:
  std::string extra_repr() const override;
};

}  // namespace tessera::nn
