// tessera/nn/attention.cpp — masks, scaled dot-product attention, scores, multi-head attention.
// Everything here is composed of engine ops, so every backward comes from theirs; the math of
// each piece is in docs/attention.md.
#include "nn/attention.h"

#include <cmath>

#include "nn/dropout.h"
#include "nn/approx_attention.h"
#include "nn/fused_attention.h"
#include "nn/init.h"

namespace tessera::nn {

// ---------------- masks ----------------
Tensor local_mask(int64_t lq, int64_t lk, int64_t window) {
  TS_CHECK(window >= 0, "local_mask: window {} must be non-negative", window);
  Tensor m = empty({lq, lk});
  for (int64_t i = 0; i < lq; ++i)
    for (int64_t j = 0; j < lk; ++j) m.data()[i * lk + j] = std::abs(i - j) <= window ? 1 : 0;
  return m;
}

Tensor causal_mask(int64_t lq, int64_t lk) {
  Tensor m = empty({lq, lk});
  for (int64_t i = 0; i < lq; ++i)
    for (int64_t j = 0; j < lk; ++j) m.data()[i * lk + j] = j <= i ? 1 : 0;
  return m;
}

Tensor causal_mask(int64_t length) { return causal_mask(length, length); }

Tensor padding_mask(const std::vector<int64_t>& lengths, int64_t max_length) {
  const int64_t b = static_cast<int64_t>(lengths.size());
  Tensor m = empty({b, max_length});
  for (int64_t i = 0; i < b; ++i) {
    TS_CHECK(lengths[i] >= 0 && lengths[i] <= max_length,
             "padding_mask: length {} of sequence {} is outside [0, {}]", lengths[i], i, max_length);
    for (int64_t j = 0; j < max_length; ++j) m.data()[i * max_length + j] = j < lengths[i] ? 1 : 0;
  }
  return m;
}

Tensor key_padding_to_attention(const Tensor& mask) {
  TS_CHECK(mask.dim() == 2, "key_padding_mask: expected shape [batch, key_length], got {}", mask.shape());
  return mask.reshape({mask.shape()[0], 1, 1, mask.shape()[1]});
}

namespace {
// Combines two keep-masks (either may be undefined): allowed only where both allow.
Tensor both(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  NoGradGuard no_grad;
  return mul(a, b);
}
}  // namespace

// ---------------- scaled dot-product attention ----------------
//   scores  = (q · scale) kᵀ + bias          [..., Lq, Lk]
//   weights = softmax(scores) over allowed keys
//   output  = dropout(weights) v             [..., Lq, Dv]
Shape attention_scores_shape(const Tensor& q, const Tensor& k, const Tensor& v, const SdpaOptions& o) {
  TS_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2,
           "scaled_dot_product_attention: q, k, v need shape [..., length, dim], got {}, {}, {}", q.shape(),
           k.shape(), v.shape());
  TS_CHECK(q.shape().back() == k.shape().back(),
           "scaled_dot_product_attention: query dim {} and key dim {} differ (shapes {} and {})", q.shape().back(),
           k.shape().back(), q.shape(), k.shape());
  TS_CHECK(k.shape()[k.dim() - 2] == v.shape()[v.dim() - 2],
           "scaled_dot_product_attention: {} keys but {} values (shapes {} and {})", k.shape()[k.dim() - 2],
           v.shape()[v.dim() - 2], k.shape(), v.shape());
  TS_CHECK(o.window >= -1, "scaled_dot_product_attention: window {} must be non-negative (or -1 for none)",
           o.window);
  const int64_t lq = q.shape()[q.dim() - 2], lk = k.shape()[k.dim() - 2];
  // the masks must broadcast to the scores' shape [..., Lq, Lk]; say which one does not
  const auto batch_of = [](const Tensor& t) { return Shape(std::vector<int64_t>(t.shape().begin(), t.shape().end() - 2)); };
  Shape score_shape = broadcast_shapes(broadcast_shapes(batch_of(q), batch_of(k), "scaled_dot_product_attention (batch dims)"),
                                       batch_of(v), "scaled_dot_product_attention (batch dims of v)");
  score_shape.push_back(lq);
  score_shape.push_back(lk);
  for (const auto& [mask, name] : {std::pair{&o.attn_mask, "attn_mask"}, std::pair{&o.attn_bias, "attn_bias"}}) {
    if (!mask->defined()) continue;
    bool fits = mask->dim() <= score_shape.rank();
    for (int i = 1; fits && i <= mask->dim(); ++i) {
      const int64_t m = mask->shape()[mask->dim() - i], s = score_shape[score_shape.rank() - i];
      fits = m == s || m == 1;
    }
    TS_CHECK(fits, "scaled_dot_product_attention: {} of shape {} does not broadcast to the scores' shape {} "
             "([..., query_length, key_length])", name, mask->shape(), score_shape);
  }
  return score_shape;
}

AttentionOutput scaled_dot_product_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                                                       const SdpaOptions& o) {
  const Shape score_shape = attention_scores_shape(q, k, v, o);
  const int64_t lq = score_shape[score_shape.rank() - 2], lk = score_shape.back();
  const double scale = o.scale ? *o.scale : 1 / std::sqrt(static_cast<double>(q.shape().back()));
  Tensor scores = matmul(mul(q, static_cast<scalar_t>(scale)), k, false, /*transpose_b=*/true);
  if (o.attn_bias.defined()) scores = scores + o.attn_bias;
  Tensor mask = both(o.attn_mask, o.is_causal ? causal_mask(lq, lk) : Tensor());
  mask = both(mask, o.window >= 0 ? local_mask(lq, lk, o.window) : Tensor());
  Tensor weights = mask.defined() ? softmax(scores, -1, mask) : softmax(scores, -1);
  Tensor output = matmul(dropout(weights, o.dropout_p, o.dropout_p > 0, o.generator), v);
  return {output, o.need_weights ? weights : Tensor()};
}

AttentionOutput scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const SdpaOptions& o) {
  const bool bias_needs_grad = o.attn_bias.defined() && o.attn_bias.requires_grad() && grad_enabled();
  // Scores of at most one tile (64 × 64) per batch entry: the composed ops are faster (one
  // vectorised softmax over the whole batch, four products instead of seven per entry; measured:
  // translator training 10.3-11.4k target tokens/s vs 8.7-9.3k fused, bundled data, L ≈ 10), and
  // their [Lq, Lk] tensors are small. The fused kernel takes everything larger.
  const int64_t lq = q.dim() >= 2 ? q.shape()[q.dim() - 2] : 0, lk = k.dim() >= 2 ? k.shape()[k.dim() - 2] : 0;
  const bool small = lq * lk <= kAttentionBlockQ * kAttentionBlockK;
  if (o.need_weights || bias_needs_grad || small) return scaled_dot_product_attention_reference(q, k, v, o);
  return {fused_attention(q, k, v, o), Tensor()};
}

// ---------------- scores ----------------
namespace {
void check_same_dim(const Tensor& q, const Tensor& k, const char* name) {
  TS_CHECK(q.dim() >= 2 && k.dim() >= 2 && q.shape().back() == k.shape().back(),
           "{}: queries {} and keys {} need the same last dim (use AdditiveScore or BilinearScore for "
           "different sizes)",
           name, q.shape(), k.shape());
}
}  // namespace

// s_ij = q_i · k_j
Tensor DotScore::score(const Tensor& q, const Tensor& k) {
  check_same_dim(q, k, "DotScore");
  return matmul(q, k, false, true);
}

// s_ij = q_i · k_j / √d
Tensor ScaledDotScore::score(const Tensor& q, const Tensor& k) {
  check_same_dim(q, k, "ScaledDotScore");
  return matmul(mul(q, static_cast<scalar_t>(1 / std::sqrt(static_cast<double>(q.shape().back())))), k, false, true);
}

AdditiveScore::AdditiveScore(int64_t dq, int64_t dk, int64_t hidden) : AttentionScore("AdditiveScore") {
  query_proj = register_module("query_proj", std::make_shared<Linear>(dq, hidden, /*bias=*/false));
  key_proj = register_module("key_proj", std::make_shared<Linear>(dk, hidden, /*bias=*/false));
  v = empty({hidden});
  const double bound = 1 / std::sqrt(static_cast<double>(hidden));
  init::uniform_(v, -bound, bound);
  v = register_parameter("v", v);
}

// s_ij = vᵀ tanh(W_q q_i + W_k k_j): project, broadcast to [..., Lq, Lk, hidden], tanh, dot with v
Tensor AdditiveScore::score(const Tensor& q, const Tensor& k) {
  Tensor hq = unsqueeze(query_proj->forward(q), -2);  // [..., Lq, 1, hidden]
  Tensor hk = unsqueeze(key_proj->forward(k), -3);    // [..., 1, Lk, hidden]
  return matmul(tanh(hq + hk), v);                    // [..., Lq, Lk]
}

BilinearScore::BilinearScore(int64_t dq, int64_t dk) : AttentionScore("BilinearScore") {
  weight = empty({dq, dk});
  init::xavier_uniform_(weight);
  weight = register_parameter("weight", weight);
}

// s_ij = q_iᵀ W k_j = (q W) kᵀ
Tensor BilinearScore::score(const Tensor& q, const Tensor& k) {
  TS_CHECK(q.shape().back() == weight.shape()[0] && k.shape().back() == weight.shape()[1],
           "BilinearScore: queries {} and keys {} do not fit W {}", q.shape(), k.shape(), weight.shape());
  return matmul(matmul(q, weight), k, false, true);
}

CosineScore::CosineScore(double t, double e) : AttentionScore("CosineScore"), temperature(t), eps(e) {
  TS_CHECK(t > 0, "CosineScore: temperature {} must be positive", t);
}

// s_ij = (q_i / |q_i|) · (k_j / |k_j|) / τ
Tensor CosineScore::score(const Tensor& q, const Tensor& k) {
  check_same_dim(q, k, "CosineScore");
  auto unit = [this](const Tensor& x) {
    return x / sqrt(sum(x * x, {-1}, /*keepdim=*/true) + static_cast<scalar_t>(eps));
  };
  return matmul(unit(q), unit(k), false, true) * static_cast<scalar_t>(1 / temperature);
}

Attention::Attention(std::shared_ptr<AttentionScore> s, double p) : Module("Attention"), dropout(p) {
  TS_CHECK(s != nullptr, "Attention: the score module is null");
  score = register_module("score", s);
}

AttentionOutput Attention::forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask) {
  TS_CHECK(k.dim() >= 2 && v.dim() >= 2 && k.shape()[k.dim() - 2] == v.shape()[v.dim() - 2],
           "Attention: keys {} and values {} need the same length", k.shape(), v.shape());
  Tensor s = score->score(q, k);
  Tensor w = mask.defined() ? softmax(s, -1, mask) : softmax(s, -1);
  return {matmul(nn::dropout(w, dropout, is_training()), v), w};
}

// ---------------- multi-head attention ----------------
MultiHeadAttention::MultiHeadAttention(int64_t e, int64_t h, double p)
    : MultiHeadAttention(MultiHeadAttentionOptions{e, h, p, true, 0, 0}) {}

MultiHeadAttention::MultiHeadAttention(const MultiHeadAttentionOptions& o)
    : Module("MultiHeadAttention"),
      embed_dim(o.embed_dim),
      num_heads(o.num_heads),
      head_dim(o.num_heads > 0 ? o.embed_dim / o.num_heads : 0),
      kdim(o.kdim ? o.kdim : o.embed_dim),
      vdim(o.vdim ? o.vdim : o.embed_dim),
      dropout(o.dropout) {
  TS_CHECK(embed_dim > 0 && num_heads > 0 && embed_dim % num_heads == 0,
           "MultiHeadAttention: embed_dim {} must be a positive multiple of num_heads {}", embed_dim, num_heads);
  TS_CHECK(dropout >= 0 && dropout < 1, "MultiHeadAttention: dropout {} must be in [0, 1)", dropout);
  // PyTorch's _reset_parameters: xavier_uniform_ projections, zero biases, out_proj.weight as Linear
  if (kdim == embed_dim && vdim == embed_dim) {
    in_proj_weight = empty({3 * embed_dim, embed_dim});
    init::xavier_uniform_(in_proj_weight);
    in_proj_weight = register_parameter("in_proj_weight", in_proj_weight);
  } else {
    q_proj_weight = empty({embed_dim, embed_dim});
    k_proj_weight = empty({embed_dim, kdim});
    v_proj_weight = empty({embed_dim, vdim});
    for (Tensor* w : {&q_proj_weight, &k_proj_weight, &v_proj_weight}) init::xavier_uniform_(*w);
    q_proj_weight = register_parameter("q_proj_weight", q_proj_weight);
    k_proj_weight = register_parameter("k_proj_weight", k_proj_weight);
    v_proj_weight = register_parameter("v_proj_weight", v_proj_weight);
  }
  if (o.bias) in_proj_bias = register_parameter("in_proj_bias", zeros({3 * embed_dim}));
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, o.bias));
  if (o.bias) init::zeros_(out_proj->bias);
  if (o.linformer_k > 0) {
    TS_CHECK(o.max_length > 0, "MultiHeadAttention: linformer_k = {} needs max_length > 0 (the longest sequence)",
             o.linformer_k);
    linformer_k = o.linformer_k, max_length = o.max_length;
    linformer_e = empty({linformer_k, max_length});
    linformer_f = empty({linformer_k, max_length});
    init::xavier_uniform_(linformer_e);
    init::xavier_uniform_(linformer_f);
    linformer_e = register_parameter("linformer_e", linformer_e);
    linformer_f = register_parameter("linformer_f", linformer_f);
  }
}

void MultiHeadAttention::use_performer(int64_t features, uint64_t seed) {
  performer_omega = orthogonal_random_features(features, head_dim, seed);
}

namespace {
// [B, L, n·H·D] -> n tensors [B, H, L, D] with one permute (a copy) and views of it
std::vector<Tensor> split_heads(const Tensor& x, int64_t n, int64_t heads, int64_t head_dim) {
  const int64_t b = x.shape()[0], l = x.shape()[1];
  Tensor t = permute(reshape(x, Shape{b, l, n, heads, head_dim}), {2, 0, 3, 1, 4});  // [n, B, H, L, D]
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < n; ++i) parts.push_back(reshape(narrow(t, 0, i, 1), Shape{b, heads, l, head_dim}));
  return parts;
}
Tensor rows(const Tensor& t, int64_t start, int64_t length) {
  return t.defined() ? narrow(t, 0, start, length) : Tensor();
}
}  // namespace

AttentionOutput MultiHeadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                            const MhaCall& call) {
  TS_CHECK(query.dim() == 3 && query.shape()[2] == embed_dim,
           "MultiHeadAttention: query must be [batch, length, {}] (batch first), got {}", embed_dim, query.shape());
  TS_CHECK(key.dim() == 3 && key.shape()[2] == kdim && key.shape()[0] == query.shape()[0],
           "MultiHeadAttention: key must be [{}, length, {}], got {}", query.shape()[0], kdim, key.shape());
  TS_CHECK(value.dim() == 3 && value.shape()[2] == vdim && value.shape()[0] == query.shape()[0] &&
               value.shape()[1] == key.shape()[1],
           "MultiHeadAttention: value must be [{}, {}, {}], got {}", query.shape()[0], key.shape()[1], vdim,
           value.shape());
  const int64_t b = query.shape()[0], lq = query.shape()[1], e = embed_dim;
  KeyValueCache* cache = call.cache;
  const bool reuse_static = cache && cache->static_kv && cache->keys.defined();
  TS_CHECK(!cache || !cache->keys.defined() || cache->keys.shape()[0] == b,
           "MultiHeadAttention: the key/value cache holds batch {} but the query has batch {} (reorder the cache "
           "when beams change)", cache && cache->keys.defined() ? cache->keys.shape()[0] : 0, b);

  // projections: one GEMM for self-attention, two for cross-attention with key = value
  Tensor q, k, v;
  if (reuse_static) {  // cross-attention while decoding: the memory was projected at the first step
    const Tensor wq = in_proj_weight.defined() ? rows(in_proj_weight, 0, e) : q_proj_weight;
    q = split_heads(linear(query, wq, rows(in_proj_bias, 0, e)), 1, num_heads, head_dim)[0];
    k = cache->keys, v = cache->values;
  } else if (in_proj_weight.defined() && query.same(key) && key.same(value)) {
    auto qkv = split_heads(linear(query, in_proj_weight, in_proj_bias), 3, num_heads, head_dim);
    q = qkv[0], k = qkv[1], v = qkv[2];
  } else if (in_proj_weight.defined() && key.same(value)) {
    q = split_heads(linear(query, rows(in_proj_weight, 0, e), rows(in_proj_bias, 0, e)), 1, num_heads, head_dim)[0];
    auto kv = split_heads(linear(key, rows(in_proj_weight, e, 2 * e), rows(in_proj_bias, e, 2 * e)), 2, num_heads,
                          head_dim);
    k = kv[0], v = kv[1];
  } else {
    const Tensor wq = in_proj_weight.defined() ? rows(in_proj_weight, 0, e) : q_proj_weight;
    const Tensor wk = in_proj_weight.defined() ? rows(in_proj_weight, e, e) : k_proj_weight;
    const Tensor wv = in_proj_weight.defined() ? rows(in_proj_weight, 2 * e, e) : v_proj_weight;
    q = split_heads(linear(query, wq, rows(in_proj_bias, 0, e)), 1, num_heads, head_dim)[0];
    k = split_heads(linear(key, wk, rows(in_proj_bias, e, e)), 1, num_heads, head_dim)[0];
    v = split_heads(linear(value, wv, rows(in_proj_bias, 2 * e, e)), 1, num_heads, head_dim)[0];
  }

  bool is_causal = call.is_causal;
  int64_t window = call.window;
  Tensor causal;
  if (cache && !cache->static_kv) {  // self-attention while decoding: append the new keys/values
    const int64_t cached = cache->length();
    if (cached > 0) k = cat({cache->keys, k}, 2), v = cat({cache->values, v}, 2);
    cache->keys = k.detach(), cache->values = v.detach();
    if (is_causal && cached > 0) {  // bottom-right aligned: query i is token cached + i
      causal = empty({lq, cached + lq});
      for (int64_t i = 0; i < lq; ++i)
        for (int64_t j = 0; j < cached + lq; ++j) causal.data()[i * (cached + lq) + j] = j <= cached + i ? 1 : 0;
      is_causal = false;
    }
    if (window >= 0 && cached > 0) {  // the band around absolute position cached + i
      Tensor band = empty({lq, cached + lq});
      for (int64_t i = 0; i < lq; ++i)
        for (int64_t j = 0; j < cached + lq; ++j)
          band.data()[i * (cached + lq) + j] = std::abs(cached + i - j) <= window ? 1 : 0;
      causal = both(causal, band);
      window = -1;
    }
  } else if (cache && !reuse_static) {
    cache->keys = k.detach(), cache->values = v.detach();
  }
  const int64_t lk = k.shape()[2];

  SdpaOptions o;
  if (call.key_padding_mask.defined()) {
    TS_CHECK(call.key_padding_mask.shape() == Shape({b, lk}),
             "MultiHeadAttention: key_padding_mask must be [batch, key_length] = [{}, {}], got {}", b, lk,
             call.key_padding_mask.shape());
    o.attn_mask = key_padding_to_attention(call.key_padding_mask);
  }
  o.attn_mask = both(both(o.attn_mask, call.attn_mask), causal);
  o.attn_bias = call.attn_bias;
  o.is_causal = is_causal;
  o.window = window;
  o.dropout_p = is_training() ? dropout : 0;
  o.need_weights = call.need_weights || keep_weights;
  AttentionOutput heads;
  if (linformer_k > 0 || performer_omega.defined()) {
    // approximate attention (nn/approx_attention.h): no weights are formed, and a mask can only
    // drop whole keys
    const char* which = linformer_k > 0 ? "Linformer" : "Performer";
    TS_CHECK(!call.need_weights, "MultiHeadAttention ({}): approximate attention forms no weights; "
             "call use_exact() (Performer) for need_weights", which);
    TS_CHECK(!call.attn_mask.defined() && !call.attn_bias.defined() && call.window < 0 && !cache,
             "MultiHeadAttention ({}): only key_padding_mask (and is_causal for the Performer) can be applied, "
             "not attn_mask, attn_bias, window or a decoding cache", which);
    Tensor kp = k, vp = v, key_mask;
    if (call.key_padding_mask.defined()) key_mask = reshape(call.key_padding_mask, Shape{b, 1, lk});
    if (linformer_k > 0) {
      TS_CHECK(!is_causal, "MultiHeadAttention (Linformer): the projections mix positions along the length, so "
               "causal attention cannot be applied after them; use exact or Performer attention for a decoder");
      TS_CHECK(lk <= max_length, "MultiHeadAttention (Linformer): {} keys, but the projections were made for "
               "max_length = {}", lk, max_length);
      if (key_mask.defined()) {  // padded keys and values are zeroed before they are mixed
        const Tensor m = unsqueeze(key_mask, -1);  // [B, 1, Lk, 1]
        kp = mul(kp, m), vp = mul(vp, m);
        key_mask = Tensor();
      }
      kp = matmul(narrow(linformer_e, 1, 0, lk), kp);  // E K: [B, H, k, D]
      vp = matmul(narrow(linformer_f, 1, 0, lk), vp);  // F V: [B, H, k, D]
    }
    if (performer_omega.defined()) {
      heads.output = performer_attention(q, kp, vp, performer_omega, is_causal, -1, key_mask);
    } else {
      SdpaOptions lo;
      lo.dropout_p = o.dropout_p;
      heads.output = scaled_dot_product_attention(q, kp, vp, lo).output;
    }
  } else {
    heads = scaled_dot_product_attention(q, k, v, o);  // [B, H, Lq, D]
  }
  Tensor merged = reshape(permute(heads.output, {0, 2, 1, 3}), Shape{b, lq, e});
  Tensor out = out_proj->forward(merged);

  // approximate attention forms no weights: nothing to keep (and no stale map from an earlier call)
  if (keep_weights) {
    last_weights = !heads.weights.defined() ? Tensor() : keep_weights_graph ? heads.weights : heads.weights.detach();
  }
  Tensor weights;
  if (call.need_weights) weights = call.average_attn_weights ? mean(heads.weights, {1}) : heads.weights;
  return {out, weights};
}

void KeyValueCache::reorder(const IndexTensor& batch_rows) {
  if (!keys.defined()) return;
  keys = index_select(keys, 0, batch_rows);
  values = index_select(values, 0, batch_rows);
}

std::string MultiHeadAttention::extra_repr() const {
  return fmt::format("embed_dim={}, num_heads={}, dropout={}{}{}{}", embed_dim, num_heads, dropout,
                     kdim != embed_dim || vdim != embed_dim ? fmt::format(", kdim={}, vdim={}", kdim, vdim) : "",
                     linformer_k > 0 ? fmt::format(", linformer_k={}, max_length={}", linformer_k, max_length) : "",
                     performer_omega.defined() ? fmt::format(", performer_features={}", performer_omega.shape()[0]) : "");
}

}  // namespace tessera::nn
