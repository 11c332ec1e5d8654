// tests/test_attention.cpp — nn/attention.cpp: masks, scaled dot-product attention, the five
// scores through the Attention layer, and multi-head attention.
//
// Gradient checks of every piece (inputs and parameters, masked and not); known answers worked
// out by hand (the docs/internals.md example through MultiHeadAttention, each score on one 2×2
// example); the mask contract (blocked keys get weight exactly 0 and gradient exactly 0, a fully
// blocked row gives zeros and no NaN, padding changes nothing for real tokens); multi-head
// attention against a head-by-head reference; weights per head and averaged; parameter names;
// error messages.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "nn/attention.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::nn;
using namespace tessera::testing;

namespace {

const double kTol = kDouble ? 1e-12 : 1e-5;

// Writes hand-picked values into a parameter in place (no graph; handles stay valid).
void assign(Tensor t, const std::vector<double>& values) {
  NoGradGuard no_grad;
  t.copy_(from_vector(std::vector<scalar_t>(values.begin(), values.end()), t.shape()));
}

// The inputs of a gradient check followed by every parameter of a module.
std::vector<Tensor> with_parameters(std::vector<Tensor> inputs, const Module& module) {
  for (const Tensor& p : module.parameters()) inputs.push_back(p);
  return inputs;
}

bool any_nan(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (std::isnan(t.data()[i])) return true;
  return false;
}

// Elements [.., position, ..] of a [B, L, F] tensor's dim 1, as a flat list, all exactly zero?
bool position_is_zero(const Tensor& t, int64_t position) {
  const Tensor row = narrow(t.detach(), 1, position, 1);
  for (int64_t i = 0; i < row.numel(); ++i)
    if (row.data()[i] != 0) return false;
  return true;
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(static_cast<double>(a.data()[i] - b.data()[i])));
  return m;
}

std::vector<std::string> names_of(const Module& m) {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : m.named_parameters()) names.push_back(name);
  return names;
}

// Multi-head attention written head by head with explicit slices, for comparison with
// MultiHeadAttention's one-reshape version. keep: [B, Lq, Lk] (or undefined).
Tensor reference_mha(const MultiHeadAttention& m, const Tensor& query, const Tensor& key, const Tensor& value,
                     const Tensor& keep, std::vector<Tensor>* head_weights = nullptr) {
  const int64_t e = m.embed_dim, d = m.head_dim;
  auto part = [](const Tensor& t, int64_t start, int64_t length) {
    return t.defined() ? narrow(t, 0, start, length) : Tensor();
  };
  const Tensor wq = m.in_proj_weight.defined() ? part(m.in_proj_weight, 0, e) : m.q_proj_weight;
  const Tensor wk = m.in_proj_weight.defined() ? part(m.in_proj_weight, e, e) : m.k_proj_weight;
  const Tensor wv = m.in_proj_weight.defined() ? part(m.in_proj_weight, 2 * e, e) : m.v_proj_weight;
  const Tensor q = linear(query, wq, part(m.in_proj_bias, 0, e));  // [B, Lq, E]
  const Tensor k = linear(key, wk, part(m.in_proj_bias, e, e));    // [B, Lk, E]
  const Tensor v = linear(value, wv, part(m.in_proj_bias, 2 * e, e));
  std::vector<Tensor> heads;
  for (int64_t h = 0; h < m.num_heads; ++h) {
    // head h sees features h·D .. (h+1)·D − 1 of each projection
    const Tensor scores = matmul(narrow(q, 2, h * d, d), narrow(k, 2, h * d, d), false, true) /
                          static_cast<scalar_t>(std::sqrt(static_cast<double>(d)));  // [B, Lq, Lk]
    const Tensor w = keep.defined() ? softmax(scores, -1, keep) : softmax(scores, -1);
    if (head_weights) head_weights->push_back(w);
    heads.push_back(matmul(w, narrow(v, 2, h * d, d)));  // [B, Lq, D]
  }
  return m.out_proj->forward(cat(heads, 2));
}

}  // namespace

// ======================= masks =======================

TEST_CASE("attention masks: causal, padding, local, key padding reshaped") {
  CHECK(causal_mask(3).shape() == Shape({3, 3}));
  CHECK(all_close(causal_mask(3), {1, 0, 0,  //
                                   1, 1, 0,  //
                                   1, 1, 1}));
  // top-left aligned when Lq != Lk: query i sees keys 0..i
  CHECK(all_close(causal_mask(2, 4), {1, 0, 0, 0,  //
                                      1, 1, 0, 0}));
  CHECK(all_close(padding_mask({3, 1, 0}, 3), {1, 1, 1,  //
                                               1, 0, 0,  //
                                               0, 0, 0}));
  // |i − j| ≤ 1
  CHECK(local_mask(4, 6, 1).shape() == Shape({4, 6}));
  CHECK(all_close(local_mask(4, 6, 1), {1, 1, 0, 0, 0, 0,  //
                                        1, 1, 1, 0, 0, 0,  //
                                        0, 1, 1, 1, 0, 0,  //
                                        0, 0, 1, 1, 1, 0}));
  // window 0 is the diagonal; a window as long as the sequence is global attention
  CHECK(all_close(local_mask(3, 3, 0), {1, 0, 0, 0, 1, 0, 0, 0, 1}));
  CHECK(all_close(local_mask(3, 3, 2), std::vector<double>(9, 1)));
  const Tensor kp = key_padding_to_attention(padding_mask({2, 1}, 3));
  CHECK(kp.shape() == Shape({2, 1, 1, 3}));
  CHECK(all_close(kp, {1, 1, 0, 1, 0, 0}));
}

// ======================= scaled dot-product attention =======================

TEST_CASE("scaled_dot_product_attention: gradcheck plain, masked, biased, causal, custom scale") {
  const Tensor q = param({2, 3, 4}, 1), k = param({2, 5, 4}, 2), v = param({2, 5, 3}, 3);
  auto sdpa = [](const SdpaOptions& o) {
    return [o](const std::vector<Tensor>& in) { return scaled_dot_product_attention(in[0], in[1], in[2], o).output; };
  };
  CHECK_GRAD(sdpa({}), {q, k, v});

  SdpaOptions masked;  // [Lq, Lk], broadcast over the batch; row 1 keeps one key
  masked.attn_mask = from_vector({1, 0, 1, 1, 0,  //
                                  0, 0, 0, 1, 0,  //
                                  1, 1, 1, 1, 1},
                                 {3, 5});
  CHECK_GRAD(sdpa(masked), {q, k, v});

  SdpaOptions padded;  // [B, 1, Lk]: batch 1 has 2 real keys
  padded.attn_mask = from_vector({1, 1, 1, 1, 1, 1, 1, 0, 0, 0}, {2, 1, 5});
  CHECK_GRAD(sdpa(padded), {q, k, v});

  SdpaOptions causal;
  causal.is_causal = true;
  CHECK_GRAD(sdpa(causal), {q, k, v});

  SdpaOptions scaled;
  scaled.scale = 0.3;
  CHECK_GRAD(sdpa(scaled), {q, k, v});

  // all at once, with the bias as a differentiable input (a learned relative-position bias)
  auto everything = [](const std::vector<Tensor>& in) {
    SdpaOptions o;
    o.attn_mask = from_vector({1, 1, 0, 1, 1, 1, 1, 1, 1, 0}, {2, 1, 5});
    o.attn_bias = in[3];
    o.is_causal = true;
    o.scale = 0.7;
    return scaled_dot_product_attention(in[0], in[1], in[2], o).output;
  };
  CHECK_GRAD(everything, {q, k, v, param({3, 5}, 4)});

  // the weights are differentiable too
  auto weights = [](const std::vector<Tensor>& in) {
    SdpaOptions o;
    o.attn_bias = in[2];
    o.need_weights = true;
    return scaled_dot_product_attention(in[0], in[1], in[1], o).weights;
  };
  CHECK_GRAD(weights, {param({2, 3, 4}, 5), param({2, 4, 4}, 6), param({1, 3, 4}, 7)});

  // 4-D [B, H, L, D], as multi-head attention calls it, with a key padding mask [B, 1, 1, Lk]
  auto four_d = [](const std::vector<Tensor>& in) {
    SdpaOptions o;
    o.attn_mask = key_padding_to_attention(padding_mask({3, 2}, 3));
    o.is_causal = true;
    return scaled_dot_product_attention(in[0], in[1], in[2], o).output;
  };
  CHECK_GRAD(four_d, {param({2, 2, 3, 2}, 8), param({2, 2, 3, 2}, 9), param({2, 2, 3, 2}, 10)});
}

TEST_CASE("scaled_dot_product_attention: the docs/internals.md example") {
  // Q = [1, 0], K = [[1, 2], [0, 1]], V = [[2], [3]]: scores [1/√2, 0], weights [0.6698, 0.3302],
  // output 0.6698·2 + 0.3302·3 = 2.3302
  SdpaOptions o;
  o.need_weights = true;
  const AttentionOutput a = scaled_dot_product_attention(from_vector({1, 0}, {1, 2}), from_vector({1, 2, 0, 1}, {2, 2}),
                                                         from_vector({2, 3}, {2, 1}), o);
  const double w0 = std::exp(1 / std::sqrt(2.0)) / (std::exp(1 / std::sqrt(2.0)) + 1);
  CHECK(all_close(a.weights, {w0, 1 - w0}, kTol));
  CHECK(all_close(a.output, {2 * w0 + 3 * (1 - w0)}, kTol));
  CHECK(a.weights.data()[0] == doctest::Approx(0.6698).epsilon(1e-4));
  CHECK(a.output.item() == doctest::Approx(2.3302).epsilon(1e-4));
  // a custom scale replaces 1/√d: scale 1 gives scores [1, 0], weights [e/(e+1), 1/(e+1)]
  o.scale = 1;
  const AttentionOutput b = scaled_dot_product_attention(from_vector({1, 0}, {1, 2}), from_vector({1, 2, 0, 1}, {2, 2}),
                                                         from_vector({2, 3}, {2, 1}), o);
  CHECK(all_close(b.weights, {std::exp(1.0) / (std::exp(1.0) + 1), 1 / (std::exp(1.0) + 1)}, kTol));
  // a bias is added after the scale: bias [0, 1/√2] makes the scores equal, weights [1/2, 1/2]
  o.scale.reset();
  o.attn_bias = from_vector({0, static_cast<scalar_t>(1 / std::sqrt(2.0))}, {1, 2});
  const AttentionOutput c = scaled_dot_product_attention(from_vector({1, 0}, {1, 2}), from_vector({1, 2, 0, 1}, {2, 2}),
                                                         from_vector({2, 3}, {2, 1}), o);
  CHECK(all_close(c.weights, {0.5, 0.5}, kTol));
  CHECK(all_close(c.output, {2.5}, kTol));
}

TEST_CASE("scaled_dot_product_attention: weights sum to 1 over allowed keys, exactly 0 on blocked ones") {
  // batch 0: row 2 fully blocked; batch 1: a random-looking pattern
  const Tensor mask = from_vector({1, 0, 1, 1, 0,  //
                                   0, 1, 0, 0, 0,  //
                                   0, 0, 0, 0, 0,  //
                                   1, 1, 0, 1, 1,  //
                                   0, 0, 1, 1, 0,  //
                                   1, 0, 0, 0, 1},
                                  {2, 3, 5});
  SdpaOptions o;
  o.attn_mask = mask;
  o.need_weights = true;
  const Tensor q = param({2, 3, 4}, 11, -3, 3), k = param({2, 5, 4}, 12, -3, 3), v = param({2, 5, 3}, 13);
  const AttentionOutput a = scaled_dot_product_attention(q, k, v, o);
  REQUIRE(a.weights.shape() == Shape({2, 3, 5}));
  for (int64_t row = 0; row < 6; ++row) {
    double allowed_sum = 0;
    bool any_allowed = false;
    for (int64_t j = 0; j < 5; ++j) {
      const scalar_t w = a.weights.data()[row * 5 + j];
      if (mask.data()[row * 5 + j] != 0) {
        allowed_sum += w;
        any_allowed = true;
        CHECK(w > 0);
      } else {
        CHECK(w == 0);  // exactly
      }
    }
    if (any_allowed) CHECK(allowed_sum == doctest::Approx(1).epsilon(kDouble ? 1e-14 : 1e-6));
  }
  // the fully blocked row (batch 0, query 2): zero weights, zero output, no NaN anywhere
  CHECK(all_close(narrow(narrow(a.weights, 0, 0, 1), 1, 2, 1), std::vector<double>(5, 0), 0));
  CHECK(all_close(narrow(narrow(a.output, 0, 0, 1), 1, 2, 1), std::vector<double>(3, 0), 0));
  CHECK_FALSE(any_nan(a.output));
  CHECK_FALSE(any_nan(a.weights));
  // and backward through it stays finite; the blocked query gets no gradient
  sum(a.output * a.output).backward();
  CHECK_FALSE(any_nan(q.grad()));
  CHECK_FALSE(any_nan(k.grad()));
  CHECK_FALSE(any_nan(v.grad()));
  CHECK(position_is_zero(narrow(q.grad(), 0, 0, 1), 2));
  // a key no query may see (batch 0, key 4) gets no gradient either
  CHECK(position_is_zero(narrow(k.grad(), 0, 0, 1), 4));
  CHECK(position_is_zero(narrow(v.grad(), 0, 0, 1), 4));

  // an all-zero mask on a single query: zeros, not NaN
  SdpaOptions none;
  none.attn_mask = zeros({1, 2});
  none.need_weights = true;
  const AttentionOutput b = scaled_dot_product_attention(param({1, 2}, 14), param({2, 2}, 15), param({2, 3}, 16), none);
  CHECK(all_close(b.weights, {0, 0}, 0));
  CHECK(all_close(b.output, {0, 0, 0}, 0));
}

TEST_CASE("scaled_dot_product_attention: local_mask restricts each query to its window") {
  SdpaOptions o;
  o.attn_mask = local_mask(5, 5, 1);
  o.need_weights = true;
  const AttentionOutput a = scaled_dot_product_attention(param({5, 3}, 20), param({5, 3}, 21), param({5, 2}, 22), o);
  for (int64_t i = 0; i < 5; ++i) {
    double total = 0;
    for (int64_t j = 0; j < 5; ++j) {
      const scalar_t w = a.weights.at({i, j});
      if (std::abs(i - j) > 1) CHECK(w == 0);
      else CHECK(w > 0);
      total += w;
    }
    CHECK(total == doctest::Approx(1).epsilon(1e-6));
  }
  // a window covering everything is global attention (no mask)
  SdpaOptions wide = o;
  wide.attn_mask = local_mask(5, 5, 4);
  SdpaOptions global;
  global.need_weights = true;
  const Tensor q = param({5, 3}, 23), k = param({5, 3}, 24), v = param({5, 2}, 25);
  CHECK(all_close(scaled_dot_product_attention(q, k, v, wide).weights,
                  scaled_dot_product_attention(q, k, v, global).weights, kTol));
  // gradcheck through the window
  auto local = [](const std::vector<Tensor>& in) {
    SdpaOptions w;
    w.attn_mask = local_mask(4, 6, 1);
    return scaled_dot_product_attention(in[0], in[1], in[2], w).output;
  };
  CHECK_GRAD(local, {param({2, 4, 3}, 26), param({2, 6, 3}, 27), param({2, 6, 2}, 28)});
}

TEST_CASE("scaled_dot_product_attention: causal is proven by gradients") {
  // output at t depends on q_t and on k_j, v_j for j ≤ t only: backward from output t must
  // leave exactly zero gradient at every later position of q, k and v
  const int64_t l = 4;
  const Tensor q = param({1, l, 3}, 30), k = param({1, l, 3}, 31), v = param({1, l, 2}, 32);
  SdpaOptions o;
  o.is_causal = true;
  for (int64_t t = 0; t < l; ++t) {
    for (const Tensor* x : {&q, &k, &v}) x->zero_grad();
    sum(narrow(scaled_dot_product_attention(q, k, v, o).output, 1, t, 1)).backward();
    for (int64_t j = t + 1; j < l; ++j) {
      CHECK(position_is_zero(q.grad(), j));
      CHECK(position_is_zero(k.grad(), j));
      CHECK(position_is_zero(v.grad(), j));
    }
    for (int64_t j = 0; j <= t; ++j) CHECK_FALSE(position_is_zero(v.grad(), j));  // w_tj > 0
    if (t > 0) CHECK_FALSE(position_is_zero(q.grad(), t));  // (query 0 has one key: weight 1 whatever q is)
  }
}

// ======================= scores through the Attention layer =======================

TEST_CASE("Attention: gradcheck of each score on inputs and parameters") {
  manual_seed(40);
  // dq = dk = 4 for dot, scaled dot and cosine; dq = 3, dk = 5 for additive and bilinear
  const Tensor mask = from_vector({1, 1, 0, 1,  //
                                   0, 1, 1, 1,  //
                                   1, 0, 0, 0},
                                  {3, 4});
  auto check_score = [&](std::shared_ptr<AttentionScore> score, int64_t dq, int64_t dk, uint64_t seed) {
    auto attention = std::make_shared<Attention>(score);
    auto plain = [attention](const std::vector<Tensor>& in) { return attention->forward(in[0], in[1], in[2]).output; };
    auto masked = [attention, mask](const std::vector<Tensor>& in) {
      return attention->forward(in[0], in[1], in[2], mask).output;
    };
    auto weights = [attention, mask](const std::vector<Tensor>& in) {
      return attention->forward(in[0], in[1], in[1], mask).weights;
    };
    const std::vector<Tensor> inputs =
        with_parameters({param({2, 3, dq}, seed), param({2, 4, dk}, seed + 1), param({2, 4, 2}, seed + 2)}, *score);
    INFO(score->type_name());
    CHECK_GRAD(plain, inputs);
    CHECK_GRAD(masked, inputs);
    if (dq == dk)
      CHECK_GRAD(weights, with_parameters({param({2, 3, dq}, seed + 3), param({2, 4, dk}, seed + 4)}, *score));
  };
  check_score(std::make_shared<DotScore>(), 4, 4, 41);
  check_score(std::make_shared<ScaledDotScore>(), 4, 4, 45);
  check_score(std::make_shared<AdditiveScore>(3, 5, 6), 3, 5, 49);
  check_score(std::make_shared<BilinearScore>(3, 5), 3, 5, 53);
  check_score(std::make_shared<CosineScore>(0.5), 4, 4, 57);
}

TEST_CASE("Attention: each score by hand on one 2×2 example") {
  // Q = [[1, 0], [1, 1]], K = [[1, 2], [0, 1]], V = [[2], [3]]. With two keys the weights are
  // w = [σ(s0 − s1), 1 − σ(s0 − s1)] and the output is 2 w0 + 3 w1 = 3 − w0.
  const Tensor q = from_vector({1, 0, 1, 1}, {2, 2});
  const Tensor k = from_vector({1, 2, 0, 1}, {2, 2});
  const Tensor v = from_vector({2, 3}, {2, 1});
  auto check = [&](std::shared_ptr<AttentionScore> score, const std::vector<double>& scores) {
    INFO(score->type_name());
    CHECK(all_close(score->score(q, k), scores, kTol));
    Attention attention(score);
    const AttentionOutput a = attention.forward(q, k, v);
    std::vector<double> w, out;
    for (int row = 0; row < 2; ++row) {
      const double w0 = 1 / (1 + std::exp(scores[2 * row + 1] - scores[2 * row]));
      w.insert(w.end(), {w0, 1 - w0});
      out.push_back(2 * w0 + 3 * (1 - w0));
    }
    CHECK(all_close(a.weights, w, kTol));
    CHECK(all_close(a.output, out, kTol));
    return a;
  };

  // dot: s = Q Kᵀ = [[1·1 + 0·2, 1·0 + 0·1], [1·1 + 1·2, 1·0 + 1·1]] = [[1, 0], [3, 1]]
  //   weights [[0.7311, 0.2689], [0.8808, 0.1192]], output [2.2689, 2.1192]
  const AttentionOutput dot = check(std::make_shared<DotScore>(), {1, 0, 3, 1});
  CHECK(all_close(dot.output, {2.2689, 2.1192}, 1e-4));

  // scaled dot: s = Q Kᵀ / √2 = [[0.7071, 0], [2.1213, 0.7071]]
  //   weights [[0.6698, 0.3302], [0.8044, 0.1956]], output [2.3302, 2.1956] (row 0 is internals.md's)
  const double r = 1 / std::sqrt(2.0);
  const AttentionOutput scaled = check(std::make_shared<ScaledDotScore>(), {r, 0, 3 * r, r});
  CHECK(all_close(scaled.output, {2.3302, 2.1956}, 1e-4));

  // additive with W_q = I, W_k = −I, v = [1, 1]: s_ij = tanh(q_i0 − k_j0) + tanh(q_i1 − k_j1)
  //   s_00 = tanh(1 − 1) + tanh(0 − 2) = −0.9640   s_01 = tanh(1 − 0) + tanh(0 − 1) = 0
  //   s_10 = tanh(1 − 1) + tanh(1 − 2) = −0.7616   s_11 = tanh(1 − 0) + tanh(1 − 1) = 0.7616
  //   weights [[0.2761, 0.7239], [0.1790, 0.8210]], output [2.7239, 2.8210]
  auto additive = std::make_shared<AdditiveScore>(2, 2, 2);
  assign(additive->query_proj->weight, {1, 0, 0, 1});
  assign(additive->key_proj->weight, {-1, 0, 0, -1});
  assign(additive->v, {1, 1});
  const AttentionOutput add =
      check(additive, {std::tanh(-2.0), 0, std::tanh(-1.0), std::tanh(1.0)});
  CHECK(all_close(add.output, {2.7239, 2.8210}, 1e-4));

  // bilinear with W = [[0, 1], [−1, 0]]: Q W = [[0, 1], [−1, 1]], s = (Q W) Kᵀ
  //   s_00 = 0·1 + 1·2 = 2   s_01 = 0·0 + 1·1 = 1   s_10 = −1·1 + 1·2 = 1   s_11 = −1·0 + 1·1 = 1
  //   weights [[0.7311, 0.2689], [0.5, 0.5]], output [2.2689, 2.5]
  auto bilinear = std::make_shared<BilinearScore>(2, 2);
  assign(bilinear->weight, {0, 1, -1, 0});
  const AttentionOutput bil = check(bilinear, {2, 1, 1, 1});
  CHECK(all_close(bil.output, {2.2689, 2.5}, 1e-4));

  // cosine with τ = 0.5: s_ij = cos(q_i, k_j) / 0.5
  //   s_00 = (1·1 + 0·2) / (1·√5) / 0.5 = 0.8944   s_01 = 0 (orthogonal)
  //   s_10 = 3 / (√2·√5) / 0.5 = 1.8974            s_11 = 1 / (√2·1) / 0.5 = 1.4142
  //   weights [[0.7098, 0.2902], [0.6185, 0.3815]], output [2.2902, 2.3815]
  // (the eps 1e-8 inside the norm moves these by ~1e-8, so the float tolerance is kept)
  const AttentionOutput cosine = [&] {
    INFO("CosineScore");
    auto score = std::make_shared<CosineScore>(0.5);
    const std::vector<double> s = {2 / std::sqrt(5.0), 0, 6 / std::sqrt(10.0), 2 / std::sqrt(2.0)};
    CHECK(all_close(score->score(q, k), s, 1e-7));
    return Attention(score).forward(q, k, v);
  }();
  CHECK(all_close(cosine.weights, {0.7098, 0.2902, 0.6185, 0.3815}, 1e-4));
  CHECK(all_close(cosine.output, {2.2902, 2.3815}, 1e-4));

  // dq != dk: additive with W_q [1, 3] = [[1, 1, 1]], W_k [1, 2] = [[1, −1]], v = [2]:
  //   s_ij = 2 tanh(Σ q_i + k_j0 − k_j1);  q = [[1, 0, 0], [0, 0, 0]], K as above
  //   s_00 = 2 tanh(1 + 1 − 2) = 0   s_01 = 2 tanh(1 + 0 − 1) = 0   (row 0: uniform, output 2.5)
  //   s_10 = 2 tanh(0 − 1) = −1.5232 s_11 = 2 tanh(0 − 1) = −1.5232 (row 1: uniform, output 2.5)
  auto mixed = std::make_shared<AdditiveScore>(3, 2, 1);
  assign(mixed->query_proj->weight, {1, 1, 1});
  assign(mixed->key_proj->weight, {1, -1});
  assign(mixed->v, {2});
  const Tensor q3 = from_vector({1, 0, 0, 0, 0, 0}, {2, 3});
  CHECK(all_close(mixed->score(q3, k), {0, 0, 2 * std::tanh(-1.0), 2 * std::tanh(-1.0)}, kTol));
  CHECK(all_close(Attention(mixed).forward(q3, k, v).output, {2.5, 2.5}, kTol));
  // bilinear with dq = 3, dk = 2: W = [[1, 0], [0, 1], [1, 1]], q = [1, 0, 1]: q W = [2, 1],
  //   s = [2·1 + 1·2, 2·0 + 1·1] = [4, 1]
  auto bilinear32 = std::make_shared<BilinearScore>(3, 2);
  assign(bilinear32->weight, {1, 0, 0, 1, 1, 1});
  CHECK(all_close(bilinear32->score(from_vector({1, 0, 1}, {1, 3}), k), {4, 1}, kTol));
}

TEST_CASE("Attention: a mask blocks keys for every score") {
  manual_seed(60);
  const Tensor mask = from_vector({1, 0, 1, 0, 0, 0}, {2, 3});  // query 1 fully blocked
  for (const std::shared_ptr<AttentionScore>& score :
       std::vector<std::shared_ptr<AttentionScore>>{std::make_shared<DotScore>(), std::make_shared<ScaledDotScore>(),
                                                    std::make_shared<AdditiveScore>(4, 4, 3),
                                                    std::make_shared<BilinearScore>(4, 4),
                                                    std::make_shared<CosineScore>()}) {
    INFO(score->type_name());
    const AttentionOutput a = Attention(score).forward(param({2, 4}, 61), param({3, 4}, 62), param({3, 2}, 63), mask);
    CHECK(a.weights.at({0, 1}) == 0);
    CHECK(a.weights.at({0, 0}) + a.weights.at({0, 2}) == doctest::Approx(1));
    CHECK(all_close(narrow(a.weights, 0, 1, 1), {0, 0, 0}, 0));
    CHECK(all_close(narrow(a.output, 0, 1, 1), {0, 0}, 0));
    CHECK_FALSE(any_nan(a.output));
  }
}

// ======================= multi-head attention =======================

TEST_CASE("MultiHeadAttention: the docs/internals.md example with identity projections") {
  // num_heads = 1, embed_dim = 2, in_proj_weight = [I; I; I], out_proj = I, all biases 0: the layer
  // is plain scaled dot-product attention on the raw inputs. V = [[2], [3]] padded with a zero
  // column: output [2.3302, 0], weights [0.6698, 0.3302].
  MultiHeadAttention mha(2, 1);
  assign(mha.in_proj_weight, {1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1});
  assign(mha.in_proj_bias, {0, 0, 0, 0, 0, 0});
  assign(mha.out_proj->weight, {1, 0, 0, 1});
  assign(mha.out_proj->bias, {0, 0});
  const Tensor query = from_vector({1, 0}, {1, 1, 2});
  const Tensor key = from_vector({1, 2, 0, 1}, {1, 2, 2});
  const Tensor value = from_vector({2, 0, 3, 0}, {1, 2, 2});
  MhaCall call;
  call.need_weights = true;
  const AttentionOutput a = mha.forward(query, key, value, call);
  const double w0 = std::exp(1 / std::sqrt(2.0)) / (std::exp(1 / std::sqrt(2.0)) + 1);
  REQUIRE(a.output.shape() == Shape({1, 1, 2}));
  REQUIRE(a.weights.shape() == Shape({1, 1, 2}));
  CHECK(all_close(a.weights, {w0, 1 - w0}, kTol));
  CHECK(all_close(a.output, {2 * w0 + 3 * (1 - w0), 0}, kTol));
  CHECK(a.output.data()[0] == doctest::Approx(2.3302).epsilon(1e-4));
  CHECK(a.weights.data()[0] == doctest::Approx(0.6698).epsilon(1e-4));

  // the same through the key = value path: value rows [2, 0], [3, 0] as keys too
  // scores [1·2 + 0·0, 1·3 + 0·0] / √2 = [1.4142, 2.1213]; w0 = σ(−0.7071) = 0.3302
  const AttentionOutput b = mha.forward(query, value, value, call);
  const double u0 = 1 / (1 + std::exp(1 / std::sqrt(2.0)));
  CHECK(all_close(b.weights, {u0, 1 - u0}, kTol));
  CHECK(all_close(b.output, {2 * u0 + 3 * (1 - u0), 0}, kTol));

  // a non-zero bias and out_proj: in_proj_bias shifts q by [0, 1] (q' = [1, 1]: scores
  // [3, 1] / √2), out_proj doubles and adds [1, −1]
  assign(mha.in_proj_bias, {0, 1, 0, 0, 0, 0});
  assign(mha.out_proj->weight, {2, 0, 0, 2});
  assign(mha.out_proj->bias, {1, -1});
  const AttentionOutput c = mha.forward(query, key, value, call);
  const double z0 = 1 / (1 + std::exp(-2 / std::sqrt(2.0)));
  CHECK(all_close(c.weights, {z0, 1 - z0}, kTol));
  CHECK(all_close(c.output, {2 * (2 * z0 + 3 * (1 - z0)) + 1, -1}, kTol));
}

TEST_CASE("MultiHeadAttention: matches a head-by-head reference on all projection paths") {
  manual_seed(70);
  MultiHeadAttention mha(6, 3);
  {
    NoGradGuard no_grad;  // non-zero biases, so a misplaced bias slice would show
    mha.in_proj_bias.copy_(uniform({18}, -1, 1));
    mha.out_proj->bias.copy_(uniform({6}, -1, 1));
  }
  const Tensor x = param({2, 4, 6}, 71), memory = param({2, 5, 6}, 72), other = param({2, 5, 6}, 73);
  const Tensor keep = mul(expand(unsqueeze(padding_mask({5, 3}, 5), 1), {2, 4, 5}), local_mask(4, 5, 2));
  MhaCall call;
  call.key_padding_mask = padding_mask({5, 3}, 5);
  call.attn_mask = local_mask(4, 5, 2);
  call.need_weights = true;
  call.average_attn_weights = false;
  // cross-attention with key = value (one GEMM for both), and key != value (three GEMMs)
  for (const auto& [q, k, v] :
       std::vector<std::tuple<Tensor, Tensor, Tensor>>{{x, memory, memory}, {x, memory, other}}) {
    std::vector<Tensor> heads;
    const Tensor expected = reference_mha(mha, q, k, v, keep, &heads);
    const AttentionOutput got = mha.forward(q, k, v, call);
    CHECK(all_close(got.output, expected, kTol));
    REQUIRE(got.weights.shape() == Shape({2, 3, 4, 5}));
    CHECK(all_close(got.weights, stack(heads, 1), kTol));
  }
  // self-attention (query, key and value the same tensor: one packed GEMM)
  call.key_padding_mask = padding_mask({4, 3}, 4);
  call.attn_mask = causal_mask(4);
  const Tensor self_keep = mul(expand(unsqueeze(padding_mask({4, 3}, 4), 1), {2, 4, 4}), causal_mask(4));
  CHECK(all_close(mha.forward(x, x, x, call).output, reference_mha(mha, x, x, x, self_keep), kTol));
  // is_causal is the same as passing causal_mask
  MhaCall flagged = call;
  flagged.attn_mask = Tensor();
  flagged.is_causal = true;
  CHECK(all_close(mha.forward(x, x, x, flagged).output, mha.forward(x, x, x, call).output, kTol));

  // separate projections (kdim, vdim != embed_dim)
  MultiHeadAttention separate(MultiHeadAttentionOptions{6, 2, 0, true, 3, 5});
  const Tensor k3 = param({2, 5, 3}, 74), v5 = param({2, 5, 5}, 75);
  call.key_padding_mask = padding_mask({5, 2}, 5);
  call.attn_mask = Tensor();
  const Tensor pad_keep = expand(unsqueeze(padding_mask({5, 2}, 5), 1), {2, 4, 5});
  CHECK(all_close(separate.forward(x, k3, v5, call).output, reference_mha(separate, x, k3, v5, pad_keep), kTol));
}

TEST_CASE("MultiHeadAttention: gradcheck, self and cross, masks, kdim/vdim, no bias") {
  manual_seed(80);
  // self-attention with a key padding mask (sequence 1 has 2 real tokens) and a causal attn_mask
  auto self = std::make_shared<MultiHeadAttention>(4, 2);
  auto self_fn = [self](const std::vector<Tensor>& in) {
    MhaCall c;
    c.key_padding_mask = padding_mask({3, 2}, 3);
    c.attn_mask = causal_mask(3);
    return self->forward(in[0], in[0], in[0], c).output;
  };
  CHECK_GRAD(self_fn, with_parameters({param({2, 3, 4}, 81)}, *self));

  // cross-attention: queries [2, 2, 4] over a memory [2, 3, 4] (key = value), padded memory and
  // a local attn_mask; the memory gets its gradient through both the key and value projections
  auto cross = std::make_shared<MultiHeadAttention>(4, 2);
  auto cross_fn = [cross](const std::vector<Tensor>& in) {
    MhaCall c;
    c.key_padding_mask = padding_mask({3, 1}, 3);
    c.attn_mask = local_mask(2, 3, 1);
    return cross->forward(in[0], in[1], in[1], c).output;
  };
  CHECK_GRAD(cross_fn, with_parameters({param({2, 2, 4}, 82), param({2, 3, 4}, 83)}, *cross));
  // key != value through the packed weight
  auto kv_fn = [cross](const std::vector<Tensor>& in) {
    MhaCall c;
    c.key_padding_mask = padding_mask({2, 3}, 3);
    return cross->forward(in[0], in[1], in[2], c).output;
  };
  CHECK_GRAD(kv_fn, with_parameters({param({2, 2, 4}, 84), param({2, 3, 4}, 85), param({2, 3, 4}, 86)}, *cross));

  // kdim = 3, vdim = 5: separate q/k/v projection weights
  auto sized = std::make_shared<MultiHeadAttention>(MultiHeadAttentionOptions{4, 2, 0, true, 3, 5});
  auto sized_fn = [sized](const std::vector<Tensor>& in) {
    MhaCall c;
    c.key_padding_mask = padding_mask({3, 2}, 3);
    c.attn_mask = from_vector({1, 1, 0, 0, 1, 1}, {2, 3});
    return sized->forward(in[0], in[1], in[2], c).output;
  };
  CHECK_GRAD(sized_fn, with_parameters({param({2, 2, 4}, 87), param({2, 3, 3}, 88), param({2, 3, 5}, 89)}, *sized));

  // no bias at all, with an additive attn_bias and per-head weights as the output
  auto plain = std::make_shared<MultiHeadAttention>(MultiHeadAttentionOptions{4, 2, 0, false, 0, 0});
  auto plain_fn = [plain](const std::vector<Tensor>& in) {
    MhaCall c;
    c.attn_bias = in[1];
    c.is_causal = true;
    return plain->forward(in[0], in[0], in[0], c).output;
  };
  CHECK_GRAD(plain_fn, with_parameters({param({2, 3, 4}, 90), param({2, 1, 3, 3}, 91)}, *plain));
  auto weights_fn = [plain](const std::vector<Tensor>& in) {
    MhaCall c;
    c.need_weights = true;
    c.average_attn_weights = false;
    return plain->forward(in[0], in[0], in[0], c).weights;
  };
  CHECK_GRAD(weights_fn, with_parameters({param({1, 3, 4}, 92)}, *plain));
}

TEST_CASE("MultiHeadAttention: self-attention with is_causal, proven by gradients") {
  manual_seed(100);
  MultiHeadAttention mha(4, 2);
  const int64_t l = 5;
  const Tensor x = param({2, l, 4}, 101);
  MhaCall c;
  c.is_causal = true;
  for (int64_t t = 0; t < l; ++t) {
    x.zero_grad();
    sum(narrow(mha.forward(x, x, x, c).output, 1, t, 1)).backward();
    for (int64_t j = 0; j < l; ++j) {
      INFO("output ", t, ", input ", j);
      if (j > t) CHECK(position_is_zero(x.grad(), j));  // exactly zero
      else CHECK_FALSE(position_is_zero(x.grad(), j));
    }
  }
}

TEST_CASE("MultiHeadAttention: padding changes nothing for the real tokens") {
  manual_seed(110);
  MultiHeadAttention mha(4, 2);
  // sequence 0 has 4 tokens, sequence 1 has 2 followed by 2 positions of junk
  const Tensor x = param({2, 4, 4}, 111, -5, 5);
  MhaCall call;
  call.key_padding_mask = padding_mask({4, 2}, 4);
  call.need_weights = true;
  const AttentionOutput batch = mha.forward(x, x, x, call);
  const Tensor first = narrow(x.detach(), 0, 0, 1);                   // [1, 4, 4]
  const Tensor second = narrow(narrow(x.detach(), 0, 1, 1), 1, 0, 2);  // [1, 2, 4], no padding
  MhaCall plain;
  plain.need_weights = true;
  const double tol = kDouble ? 1e-12 : 1e-5;
  CHECK(all_close(narrow(batch.output, 0, 0, 1), mha.forward(first, first, first, plain).output, tol));
  const AttentionOutput alone = mha.forward(second, second, second, plain);
  CHECK(all_close(narrow(narrow(batch.output, 0, 1, 1), 1, 0, 2), alone.output, tol));
  // the padded keys get weight exactly 0; the real ones the same weights as alone
  const Tensor w1 = narrow(narrow(batch.weights, 0, 1, 1), 1, 0, 2);  // [1, 2, 4]
  CHECK(all_close(narrow(w1, 2, 0, 2), alone.weights, tol));
  CHECK(all_close(narrow(w1, 2, 2, 2), {0, 0, 0, 0}, 0));
  // changing the junk changes nothing at the real positions
  Tensor y = x.detach().clone();
  y.data()[1 * 16 + 2 * 4 + 1] = 1000;
  y.data()[1 * 16 + 3 * 4 + 3] = -1000;
  CHECK(all_close(narrow(narrow(mha.forward(y, y, y, call).output, 0, 1, 1), 1, 0, 2), alone.output, tol));
  // cross-attention over a padded memory likewise
  const Tensor queries = param({2, 3, 4}, 112);
  const Tensor q1 = narrow(queries.detach(), 0, 1, 1);
  const Tensor m1 = narrow(narrow(x.detach(), 0, 1, 1), 1, 0, 2);
  CHECK(all_close(narrow(mha.forward(queries, x, x, call).output, 0, 1, 1), mha.forward(q1, m1, m1, plain).output, tol));
}

TEST_CASE("MultiHeadAttention: weights averaged over heads or per head; keep_weights") {
  manual_seed(120);
  MultiHeadAttention mha(6, 3);
  const Tensor q = param({2, 3, 6}, 121), kv = param({2, 4, 6}, 122);
  MhaCall call;
  call.need_weights = true;
  call.key_padding_mask = padding_mask({4, 3}, 4);
  const AttentionOutput averaged = mha.forward(q, kv, kv, call);
  call.average_attn_weights = false;
  const AttentionOutput per_head = mha.forward(q, kv, kv, call);
  REQUIRE(averaged.weights.shape() == Shape({2, 3, 4}));
  REQUIRE(per_head.weights.shape() == Shape({2, 3, 3, 4}));
  CHECK(all_close(averaged.weights, mean(per_head.weights, {1}), kTol));
  CHECK(all_close(averaged.output, per_head.output, 0));
  // the heads really differ (else the average would hide a head-split bug)
  CHECK(max_abs_difference(narrow(per_head.weights, 1, 0, 1), narrow(per_head.weights, 1, 1, 1)) > 1e-3);
  // each head's rows sum to 1; sequence 1's padded key has weight 0 in every head
  const Tensor sums = sum(per_head.weights, {-1});
  CHECK(all_close(sums, std::vector<double>(18, 1), 1e-6));
  for (int64_t h = 0; h < 3; ++h)
    for (int64_t i = 0; i < 3; ++i) CHECK(per_head.weights.at({1, h, i, 3}) == 0);

  // no weights unless asked for
  CHECK_FALSE(mha.forward(q, kv, kv).weights.defined());
  // keep_weights: every forward stores the per-head weights, detached
  CHECK_FALSE(mha.last_weights.defined());
  mha.keep_weights = true;
  MhaCall quiet;
  quiet.key_padding_mask = padding_mask({4, 3}, 4);
  const AttentionOutput kept = mha.forward(q, kv, kv, quiet);
  CHECK_FALSE(kept.weights.defined());
  REQUIRE(mha.last_weights.defined());
  CHECK(mha.last_weights.shape() == Shape({2, 3, 3, 4}));
  CHECK_FALSE(mha.last_weights.requires_grad());
  CHECK(all_close(mha.last_weights, per_head.weights, kTol));
  // the next call replaces them
  mha.forward(q, q, q);
  CHECK(mha.last_weights.shape() == Shape({2, 3, 3, 3}));
}

TEST_CASE("MultiHeadAttention: parameter names and shapes are PyTorch's") {
  // torch.nn.MultiheadAttention(4, 2).state_dict() keys, and with kdim=3, vdim=5
  MultiHeadAttention packed(4, 2);
  CHECK(names_of(packed) ==
        std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"});
  CHECK(packed.in_proj_weight.shape() == Shape({12, 4}));
  CHECK(packed.in_proj_bias.shape() == Shape({12}));
  MultiHeadAttention separate(MultiHeadAttentionOptions{4, 2, 0, true, 3, 5});
  CHECK(names_of(separate) == std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight",
                                                       "in_proj_bias", "out_proj.weight", "out_proj.bias"});
  CHECK(separate.k_proj_weight.shape() == Shape({4, 3}));
  CHECK(separate.v_proj_weight.shape() == Shape({4, 5}));
  MultiHeadAttention no_bias(MultiHeadAttentionOptions{4, 2, 0, false, 0, 0});
  CHECK(names_of(no_bias) == std::vector<std::string>{"in_proj_weight", "out_proj.weight"});
  // PyTorch's init: zero biases
  CHECK(all_close(packed.in_proj_bias, std::vector<double>(12, 0), 0));
  CHECK(all_close(packed.out_proj->bias, std::vector<double>(4, 0), 0));
  // a module's own parameters come before its children's, as in PyTorch's named_parameters()
  CHECK(names_of(AdditiveScore(3, 4, 5)) == std::vector<std::string>{"v", "query_proj.weight", "key_proj.weight"});
  CHECK(names_of(Attention(std::make_shared<BilinearScore>(2, 3))) == std::vector<std::string>{"score.weight"});
}

TEST_CASE("attention: error messages name the shapes") {
  MultiHeadAttention mha(4, 2);
  const Tensor x = zeros({2, 3, 4});
  CHECK(throws_with([&] { mha.forward(zeros({2, 3, 5}), x, x); }, "query must be [batch, length, 4]"));
  CHECK(throws_with([&] { mha.forward(zeros({3, 4}), x, x); }, "query must be [batch, length, 4] (batch first), got [3, 4]"));
  CHECK(throws_with([&] { mha.forward(x, zeros({2, 3, 3}), x); }, "key must be [2, length, 4], got [2, 3, 3]"));
  CHECK(throws_with([&] { mha.forward(x, x, zeros({2, 5, 4})); }, "value must be [2, 3, 4], got [2, 5, 4]"));
  CHECK(throws_with([&] { MultiHeadAttention(6, 4); }, "embed_dim 6 must be a positive multiple of num_heads 4"));
  CHECK(throws_with([&] { MultiHeadAttention(4, 0); }, "num_heads 0"));
  MhaCall call;
  call.key_padding_mask = zeros({2, 4});
  CHECK(throws_with([&] { mha.forward(x, x, x, call); },
                    "key_padding_mask must be [batch, key_length] = [2, 3], got [2, 4]"));
  call.key_padding_mask = zeros({3});
  CHECK(throws_with([&] { mha.forward(x, x, x, call); }, "key_padding_mask must be [batch, key_length]"));

  CHECK(throws_with([] { scaled_dot_product_attention(zeros({2, 4}), zeros({3, 5}), zeros({3, 2})); },
                    "query dim 4 and key dim 5 differ"));
  CHECK(throws_with([] { scaled_dot_product_attention(zeros({2, 4}), zeros({3, 4}), zeros({2, 2})); },
                    "3 keys but 2 values"));
  CHECK(throws_with([] { scaled_dot_product_attention(zeros({4}), zeros({3, 4}), zeros({3, 2})); },
                    "q, k, v need shape [..., length, dim]"));
  SdpaOptions bad_mask;
  bad_mask.attn_mask = ones({3, 3});
  CHECK(throws_with([&] { scaled_dot_product_attention(zeros({2, 4}), zeros({3, 4}), zeros({3, 2}), bad_mask); },
                    "attn_mask of shape [3, 3] does not broadcast to the scores' shape [2, 3]"));

  CHECK(throws_with([] { DotScore().score(zeros({2, 3}), zeros({2, 4})); },
                    "DotScore: queries [2, 3] and keys [2, 4] need the same last dim"));
  CHECK(throws_with([] { CosineScore().score(zeros({2, 3}), zeros({2, 4})); }, "CosineScore"));
  CHECK(throws_with([] { BilinearScore(3, 4).score(zeros({2, 3}), zeros({2, 5})); },
                    "BilinearScore: queries [2, 3] and keys [2, 5] do not fit W [3, 4]"));
  CHECK(throws_with([] { CosineScore(0); }, "temperature 0 must be positive"));
  CHECK(throws_with([] { Attention(nullptr); }, "score module is null"));
  CHECK(throws_with([] { Attention(std::make_shared<DotScore>()).forward(zeros({2, 3}), zeros({4, 3}), zeros({5, 3})); },
                    "Attention: keys [4, 3] and values [5, 3] need the same length"));
  CHECK(throws_with([] { local_mask(3, 3, -1); }, "window -1 must be non-negative"));
  CHECK(throws_with([] { padding_mask({4}, 3); }, "length 4 of sequence 0 is outside [0, 3]"));
  CHECK(throws_with([] { key_padding_to_attention(zeros({2, 3, 4})); }, "expected shape [batch, key_length]"));
}

TEST_CASE("a mis-shaped attn_mask is named in the error") {
  nn::SdpaOptions o;
  o.attn_mask = ones({3, 3});
  CHECK(throws_with([&] { nn::scaled_dot_product_attention(randn({2, 4, 8}), randn({2, 5, 8}), randn({2, 5, 8}), o); },
                    "attn_mask of shape [3, 3] does not broadcast to the scores' shape [2, 4, 5]"));
  nn::MultiHeadAttention mha(8, 2);
  nn::MhaCall call;
  call.attn_mask = ones({4, 4});
  Tensor x = randn({2, 4, 8}), m = randn({2, 5, 8});
  CHECK(throws_with([&] { mha.forward(x, m, m, call); }, "attn_mask of shape [4, 4]"));
}
