// tests/test_approx_attention.cpp — nn/approx_attention.h: Performer's random features, the causal
// linear-attention op, and Linformer inside MultiHeadAttention.
//
// The Performer's error against exact softmax attention falls as the features grow (about as
// 1/√m, averaged over seeds); the causal op equals its O(L²) definition and passes gradcheck;
// Linformer with k = L and identity projections is exact attention; both plug into
// MultiHeadAttention and the Transformer, and refuse what they cannot do with a clear error.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <string>
#include <vector>

#include "nn/approx_attention.h"
#include "nn/attention.h"
#include "nn/transformer.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

double rel_error(const Tensor& a, const Tensor& b) {  // ‖a − b‖ / ‖b‖
  const std::vector<scalar_t> x = a.to_vector(), y = b.to_vector();
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    den += static_cast<double>(y[i]) * y[i];
  }
  return std::sqrt(num / den);
}

}  // namespace

TEST_CASE("orthogonal_random_features: orthogonal within each block of d rows, reproducible from the seed") {
  const int64_t m = 20, d = 8;
  const Tensor w = nn::orthogonal_random_features(m, d, 3);
  CHECK(w.shape() == Shape{m, d});
  const std::vector<scalar_t> v = w.to_vector();
  auto dot = [&](int64_t a, int64_t b) {
    double s = 0;
    for (int64_t c = 0; c < d; ++c) s += static_cast<double>(v[a * d + c]) * v[b * d + c];
    return s;
  };
  for (int64_t block = 0; block < m; block += d)
    for (int64_t a = block; a < std::min(m, block + d); ++a)
      for (int64_t b = block; b < a; ++b) CHECK(std::abs(dot(a, b)) <= 1e-5 * std::sqrt(dot(a, a) * dot(b, b)));
  CHECK(all_close(nn::orthogonal_random_features(m, d, 3), w, 0, 0));
  CHECK_FALSE(all_close(nn::orthogonal_random_features(m, d, 4), w, 1e-3, 0));
  // row lengths are chi_d draws: mean about √d
  double mean_length = 0;
  for (int64_t a = 0; a < m; ++a) mean_length += std::sqrt(dot(a, a)) / m;
  CHECK(mean_length == doctest::Approx(std::sqrt(static_cast<double>(d))).epsilon(0.3));
}

TEST_CASE("causal_linear_attention: equals Σ_{j≤i} (a_i·b_j) v_j, and gradcheck") {
  const Tensor a = param({2, 6, 3}, 1), b = param({2, 6, 3}, 2), v = param({2, 6, 4}, 3);
  const Tensor out = nn::causal_linear_attention(a, b, v);
  const double tol = kDouble ? 1e-12 : 1e-5;
  for (int64_t t = 0; t < 2; ++t)
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t c = 0; c < 4; ++c) {
        double expected = 0;
        for (int64_t j = 0; j <= i; ++j) {
          double ab = 0;
          for (int64_t p = 0; p < 3; ++p) ab += static_cast<double>(a.at({t, i, p})) * b.at({t, j, p});
          expected += ab * v.at({t, j, c});
        }
        CHECK(out.at({t, i, c}) == doctest::Approx(expected).epsilon(tol).scale(1));
      }
  CHECK_GRAD([](auto& in) { return nn::causal_linear_attention(in[0], in[1], in[2]); },
             {param({2, 5, 3}, 4), param({2, 5, 3}, 5), param({2, 5, 2}, 6)});
  CHECK(throws_with([&] { nn::causal_linear_attention(a, param({2, 5, 3}, 7), v); }, "need the same shape"));
}

TEST_CASE("performer: the error against exact attention falls about as 1/sqrt(m) with the features") {
  // inputs of moderate size, so exp(q·k/√d) stays in a range a few features can estimate
  const Tensor q = param({2, 2, 32, 16}, 10, -0.8, 0.8), k = param({2, 2, 32, 16}, 11, -0.8, 0.8),
               v = param({2, 2, 32, 8}, 12);
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    nn::SdpaOptions o;
    o.is_causal = causal;
    const Tensor exact = nn::scaled_dot_product_attention_reference(q, k, v, o).output;
    std::vector<double> errors;
    for (int64_t m : {16, 64, 256, 1024}) {
      double e = 0;
      for (uint64_t seed = 0; seed < 6; ++seed)
        e += rel_error(nn::performer_attention(q, k, v, nn::orthogonal_random_features(m, 16, seed), causal), exact) / 6;
      errors.push_back(e);
    }
    const std::string table = fmt::format("{}", fmt::join(errors, " "));
    CAPTURE(table);
    for (size_t i = 1; i < errors.size(); ++i) CHECK(errors[i] < errors[i - 1]);
    // 64× the features: 1/√m predicts 8× less error; accept anything from 4×
    CHECK(errors[3] * 4 < errors[0]);
    CHECK(errors[3] < 0.1);
  }
}

TEST_CASE("performer: gradcheck through the features, causal and not, with a key mask") {
  const Tensor omega = nn::orthogonal_random_features(6, 3, 1);
  const Tensor key_mask = from_vector({1, 1, 1, 0, 1, 1, 1, 1, 0, 0}, {2, 5});
  CHECK_GRAD([&](auto& in) { return nn::performer_attention(in[0], in[1], in[2], omega); },
             {param({2, 4, 3}, 1), param({2, 5, 3}, 2), param({2, 5, 2}, 3)});
  CHECK_GRAD([&](auto& in) { return nn::performer_attention(in[0], in[1], in[2], omega, true); },
             {param({2, 5, 3}, 4), param({2, 5, 3}, 5), param({2, 5, 2}, 6)});
  CHECK_GRAD([&](auto& in) { return nn::performer_attention(in[0], in[1], in[2], omega, false, 0.5, key_mask); },
             {param({2, 4, 3}, 7), param({2, 5, 3}, 8), param({2, 5, 2}, 9)});
}

TEST_CASE("performer: a masked key gets no weight") {
  // the output for keys {0, 1, 2} with key 3 masked equals the output with key 3 removed
  const Tensor omega = nn::orthogonal_random_features(32, 4, 2);
  const Tensor q = param({1, 3, 4}, 1), k = param({1, 4, 4}, 2), v = param({1, 4, 2}, 3);
  const Tensor masked = nn::performer_attention(q, k, v, omega, false, -1, from_vector({1, 1, 1, 0}, {1, 4}));
  const Tensor removed = nn::performer_attention(q, narrow(k, 1, 0, 3), narrow(v, 1, 0, 3), omega);
  CHECK(all_close(masked, removed, 1e-5, 1e-4));
}

TEST_CASE("MultiHeadAttention: use_performer estimates exact attention; use_exact restores it") {
  manual_seed(5);
  nn::MultiHeadAttention mha(16, 2);
  const Tensor x = param({2, 12, 16}, 6, -0.5, 0.5);
  const Tensor exact = mha.forward(x, x, x).output;
  mha.use_performer(2048, 7);
  const Tensor approx = mha.forward(x, x, x).output;
  CHECK(rel_error(approx, exact) < 0.05);
  CHECK(mha.str().find("performer_features=2048") != std::string::npos);
  nn::MhaCall weights;
  weights.need_weights = true;
  CHECK(throws_with([&] { mha.forward(x, x, x, weights); }, "approximate attention forms no weights"));
  mha.use_exact();
  CHECK(all_close(mha.forward(x, x, x).output, exact, 0, 0));
}

TEST_CASE("Linformer: with k = L and identity projections it is exact attention") {
  const int64_t l = 9, e = 12;
  manual_seed(8);
  nn::MultiHeadAttentionOptions o;
  o.embed_dim = e, o.num_heads = 3, o.linformer_k = l, o.max_length = l;
  nn::MultiHeadAttention lin(o);
  nn::MultiHeadAttention exact(e, 3);
  {
    NoGradGuard no_grad;
    exact.in_proj_weight.copy_(lin.in_proj_weight);
    exact.in_proj_bias.copy_(param({3 * e}, 9));
    lin.in_proj_bias.copy_(exact.in_proj_bias);
    exact.out_proj->weight.copy_(lin.out_proj->weight);
    Tensor eye = zeros({l, l});
    for (int64_t i = 0; i < l; ++i) eye.data()[i * l + i] = 1;
    lin.linformer_e.copy_(eye);
    lin.linformer_f.copy_(eye);
  }
  const Tensor x = param({2, l, e}, 10);
  const double tol = kDouble ? 1e-12 : 1e-5;
  CHECK(all_close(lin.forward(x, x, x).output, exact.forward(x, x, x).output, tol, tol));
}

TEST_CASE("Linformer: E and F are trained and saved like any parameter; what it cannot do is an error") {
  nn::MultiHeadAttentionOptions o;
  o.embed_dim = 8, o.num_heads = 2, o.linformer_k = 3, o.max_length = 10;
  nn::MultiHeadAttention lin(o);
  bool found_e = false, found_f = false;
  for (const auto& [name, p] : lin.named_parameters()) {
    found_e |= name == "linformer_e" && p.shape() == Shape{3, 10};
    found_f |= name == "linformer_f";
  }
  CHECK(found_e);
  CHECK(found_f);
  const Tensor x = param({2, 7, 8}, 1);
  nn::MhaCall padded;
  padded.key_padding_mask = from_vector({1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1}, {2, 7});
  lin.forward(x, x, x, padded).output.sum().backward();
  CHECK(lin.linformer_e.grad().defined());
  CHECK(lin.linformer_f.grad().defined());
  CHECK(lin.str().find("linformer_k=3") != std::string::npos);
  // keep_weights (the translator's heatmaps) keeps nothing: there is no per-position map
  lin.keep_weights = true;
  CHECK(lin.forward(x, x, x).output.shape() == Shape{2, 7, 8});
  CHECK_FALSE(lin.last_weights.defined());
  lin.keep_weights = false;
  // gradcheck on the projections themselves (the rest of MHA is checked in test_attention)
  CHECK_GRAD(
      [&](auto& in) {
        const Tensor k = matmul(in[0], in[2]), v = matmul(in[1], in[2]);
        return nn::scaled_dot_product_attention(param({2, 4, 5}, 3).detach(), k, v).output;
      },
      {param({3, 6}, 4), param({3, 6}, 5), param({2, 6, 5}, 6)});
  nn::MhaCall causal;
  causal.is_causal = true;
  CHECK(throws_with([&] { lin.forward(x, x, x, causal); }, "causal attention cannot be applied"));
  const Tensor long_x = param({1, 11, 8}, 2);
  CHECK(throws_with([&] { lin.forward(long_x, long_x, long_x); }, "11 keys, but the projections were made for max_length = 10"));
  nn::MhaCall mask;
  mask.attn_mask = ones({7, 7});
  CHECK(throws_with([&] { lin.forward(x, x, x, mask); }, "only key_padding_mask"));
  nn::MultiHeadAttentionOptions bad = o;
  bad.max_length = 0;
  CHECK(throws_with([&] { nn::MultiHeadAttention m(bad); }, "needs max_length > 0"));
}

TEST_CASE("Transformer: encoder_linformer_k gives the encoder Linformer self-attention") {
  nn::TransformerOptions o;
  o.d_model = 16, o.nhead = 2, o.num_encoder_layers = 1, o.num_decoder_layers = 1, o.dim_feedforward = 32;
  o.dropout = 0, o.encoder_linformer_k = 4, o.max_length = 12;
  nn::Transformer model(o);
  int linformer_params = 0;
  for (const auto& [name, p] : model.named_parameters()) linformer_params += name.find("linformer_") != std::string::npos;
  CHECK(linformer_params == 2);  // the encoder's self-attention only
  const Tensor src = param({2, 10, 16}, 1), tgt = param({2, 6, 16}, 2);
  nn::DecoderCall dc;
  dc.tgt_is_causal = true;
  const Tensor out = model.forward(src, tgt, {}, dc);
  CHECK(out.shape() == Shape{2, 6, 16});
}
