// tests/test_fused_attention.cpp — nn/fused_attention.h against the composed reference.
//
// The fused kernel must give the reference's output and all three gradients over a grid of
// shapes (Lq ≠ Lk, lengths that are not multiples of the block size, L = 1, d from 1 to 128) and
// every mask kind, causal, window, bias, custom scale, dropout (the same seed draws the same
// mask in both paths) and rows with no allowed key; its gradients pass gradcheck in the double
// build; scaled_dot_product_attention picks it exactly when the weights are not needed; and its
// extra memory at L = 8192 is O(L), not O(L²).
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/parallel.h"
#include "engine/random.h"
#include "nn/attention.h"
#include "nn/fused_attention.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;
using nn::SdpaOptions;

namespace {

struct Case {
  int64_t b, h, lq, lk, d, dv;
};

// Largest |a − b| relative to the largest |b|, or absolute when |b| stays below 1 (the inputs are
// O(1), so a gradient that is zero in exact arithmetic may come out as rounding noise).
double max_rel_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<scalar_t> x = a.to_vector(), y = b.to_vector();
  double diff = 0, scale = 1;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(x[i]) - static_cast<double>(y[i])));
    scale = std::max(scale, std::abs(static_cast<double>(y[i])));
  }
  return diff / scale;
}

// Runs both paths on the same inputs with the same upstream gradient and compares the output
// and dq, dk, dv. `make` sets the options (generators are made fresh for each path).
void compare(const Case& c, uint64_t seed, const std::function<void(SdpaOptions&, Generator&)>& make,
             const std::string& what) {
  CAPTURE(what);
  const std::string shape = fmt::format("B{} H{} Lq{} Lk{} d{} dv{}", c.b, c.h, c.lq, c.lk, c.d, c.dv);
  CAPTURE(shape);
  const double tol = kDouble ? 1e-10 : 2e-5;
  Tensor q = param({c.b, c.h, c.lq, c.d}, seed), k = param({c.b, c.h, c.lk, c.d}, seed + 1),
         v = param({c.b, c.h, c.lk, c.dv}, seed + 2), g = param({c.b, c.h, c.lq, c.dv}, seed + 3);
  std::vector<Tensor> outs, grads;
  for (int path = 0; path < 2; ++path) {
    Tensor qi = q.detach().clone().requires_grad_(), ki = k.detach().clone().requires_grad_(),
           vi = v.detach().clone().requires_grad_();
    Generator gen(seed + 99);
    SdpaOptions o;
    make(o, gen);
    const Tensor out = path == 0 ? nn::fused_attention(qi, ki, vi, o)
                                 : nn::scaled_dot_product_attention_reference(qi, ki, vi, o).output;
    out.backward(g);
    outs.push_back(out);
    grads.push_back(qi.grad()), grads.push_back(ki.grad()), grads.push_back(vi.grad());
  }
  CHECK(max_rel_diff(outs[0], outs[1]) <= tol);
  CHECK(max_rel_diff(grads[0], grads[3]) <= tol);
  CHECK(max_rel_diff(grads[1], grads[4]) <= tol);
  CHECK(max_rel_diff(grads[2], grads[5]) <= tol);
}

// A random keep-mask broadcastable to the scores ([Lq, Lk]), with every row keeping at least one
// key unless `empty_rows`.
Tensor random_mask(const Shape& shape, uint64_t seed, double keep = 0.7) {
  Generator gen(seed);
  Tensor m = rand(shape, &gen);
  for (int64_t i = 0; i < m.numel(); ++i) m.data()[i] = m.data()[i] < keep ? 1 : 0;
  return m;
}

const std::vector<Case> kGrid = {
    {1, 1, 1, 1, 1, 1},    {2, 3, 5, 7, 4, 3},     {1, 2, 64, 64, 8, 8},   {1, 1, 65, 130, 16, 5},
    {2, 1, 130, 65, 32, 32}, {1, 1, 3, 200, 128, 128}, {1, 2, 129, 129, 64, 64}, {1, 1, 200, 3, 2, 7},
};

}  // namespace

TEST_CASE("fused attention: equals the reference, output and gradients, over a grid of shapes") {
  uint64_t seed = 100;
  for (const Case& c : kGrid) {
    compare(c, seed += 10, [](SdpaOptions&, Generator&) {}, "plain");
    compare(c, seed += 10, [](SdpaOptions& o, Generator&) { o.scale = 0.3; }, "custom scale");
  }
}

TEST_CASE("fused attention: causal and window masks (structural: blocks outside are skipped)") {
  uint64_t seed = 200;
  for (const Case& c : kGrid) {
    compare(c, seed += 10, [](SdpaOptions& o, Generator&) { o.is_causal = true; }, "causal");
    compare(c, seed += 10, [](SdpaOptions& o, Generator&) { o.window = 3; }, "window 3");
    compare(c, seed += 10, [](SdpaOptions& o, Generator&) { o.window = 70; }, "window 70");
    compare(c, seed += 10, [](SdpaOptions& o, Generator&) { o.is_causal = true, o.window = 5; }, "causal + window");
  }
}

TEST_CASE("fused attention: boolean masks and additive biases broadcast over batch and heads") {
  uint64_t seed = 300;
  for (const Case& c : kGrid) {
    const Tensor full = random_mask({c.lq, c.lk}, seed);                 // [Lq, Lk]
    const Tensor padding = random_mask({c.b, 1, 1, c.lk}, seed + 1, 0.8);  // key padding [B, 1, 1, Lk]
    const Tensor per_head = param({c.h, c.lq, c.lk}, seed + 2, -2, 2).detach();  // a bias per head
    const Tensor per_key = param({c.lk}, seed + 3, -1, 1).detach();              // a bias per key
    compare(c, seed += 10, [&](SdpaOptions& o, Generator&) { o.attn_mask = full; }, "mask [Lq, Lk]");
    compare(c, seed += 10, [&](SdpaOptions& o, Generator&) { o.attn_mask = padding; }, "padding mask");
    compare(c, seed += 10, [&](SdpaOptions& o, Generator&) { o.attn_bias = per_head; }, "bias [H, Lq, Lk]");
    compare(c, seed += 10, [&](SdpaOptions& o, Generator&) { o.attn_bias = per_key, o.is_causal = true; },
            "bias [Lk] + causal");
    compare(c, seed += 10,
            [&](SdpaOptions& o, Generator&) { o.attn_mask = padding, o.attn_bias = per_head, o.window = 4; },
            "padding + bias + window");
  }
}

TEST_CASE("fused attention: dropout draws the reference's mask for the same seed") {
  uint64_t seed = 400;
  for (const Case& c : kGrid) {
    compare(c, seed += 10, [](SdpaOptions& o, Generator& g) { o.dropout_p = 0.3, o.generator = &g; }, "dropout");
    compare(c, seed += 10,
            [](SdpaOptions& o, Generator& g) { o.dropout_p = 0.5, o.generator = &g, o.is_causal = true; },
            "dropout + causal");
  }
}

TEST_CASE("fused attention: a row with no allowed key gives zeros and a zero gradient") {
  // rows 0 and 2 of the mask block everything; the others keep some keys
  const Case c{1, 2, 4, 70, 3, 2};
  Tensor mask = random_mask({c.lq, c.lk}, 5);
  for (int64_t j = 0; j < c.lk; ++j) mask.data()[0 * c.lk + j] = 0, mask.data()[2 * c.lk + j] = 0;
  compare(c, 500, [&](SdpaOptions& o, Generator&) { o.attn_mask = mask; }, "two empty rows");
  Tensor q = param({1, 2, 4, 3}, 1).requires_grad_(), k = param({1, 2, 70, 3}, 2), v = param({1, 2, 70, 2}, 3);
  SdpaOptions o;
  o.attn_mask = mask;
  const Tensor out = nn::fused_attention(q, k, v, o);
  out.backward(ones(out.shape()));
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i : {0, 2}) {
      for (int64_t c2 = 0; c2 < 2; ++c2) CHECK(out.at({0, h, i, c2}) == 0);
      for (int64_t c2 = 0; c2 < 3; ++c2) CHECK(q.grad().at({0, h, i, c2}) == 0);
    }
  // every key blocked (a whole [Lq, Lk] of zeros, and Lk = 0)
  compare(c, 510, [&](SdpaOptions& o2, Generator&) { o2.attn_mask = zeros({c.lq, c.lk}); }, "all blocked");
  compare({1, 1, 3, 0, 2, 2}, 520, [](SdpaOptions&, Generator&) {}, "no keys");
}

TEST_CASE("fused attention: leading dims broadcast like matmul's (shared keys for every head)") {
  const double tol = kDouble ? 1e-10 : 2e-5;
  Tensor q = param({2, 3, 9, 4}, 1).requires_grad_(), k = param({9, 4}, 2).requires_grad_(),
         v = param({1, 3, 9, 5}, 3).requires_grad_();
  const Tensor fused = nn::fused_attention(q, k, v);
  const Tensor reference = nn::scaled_dot_product_attention_reference(q, k, v).output;
  CHECK(fused.shape() == Shape{2, 3, 9, 5});
  CHECK(max_rel_diff(fused, reference) <= tol);
  fused.sum().backward();
  const Tensor dk = k.grad();
  k.zero_grad();
  reference.sum().backward();
  CHECK(max_rel_diff(dk, k.grad()) <= tol);
}

TEST_CASE("fused attention: gradcheck on q, k and v (masks, causal, window, bias, dropout)") {
  Tensor mask = random_mask({5, 7}, 9);
  const Tensor bias = param({2, 5, 7}, 10).detach();  // a constant bias
  CHECK_GRAD([](auto& in) { return nn::fused_attention(in[0], in[1], in[2]); },
             {param({2, 5, 3}, 11), param({2, 7, 3}, 12), param({2, 7, 4}, 13)});
  CHECK_GRAD(
      [&](auto& in) {
        SdpaOptions o;
        o.attn_mask = mask, o.attn_bias = bias, o.is_causal = true, o.scale = 0.7;
        return nn::fused_attention(in[0], in[1], in[2], o);
      },
      {param({2, 5, 3}, 14), param({2, 7, 3}, 15), param({2, 7, 4}, 16)});
  CHECK_GRAD(
      [](auto& in) {
        Generator gen(17);  // a fresh generator each call: the same dropout mask every evaluation
        SdpaOptions o;
        o.dropout_p = 0.4, o.generator = &gen, o.window = 2;
        return nn::fused_attention(in[0], in[1], in[2], o);
      },
      {param({1, 70, 2}, 18), param({1, 66, 2}, 19), param({1, 66, 3}, 20)});
}

TEST_CASE("scaled_dot_product_attention: fused unless the weights are needed, the bias needs a gradient, or the "
          "scores fit in one tile") {
  const Tensor q = param({1, 2, 70, 3}, 1).requires_grad_(), k = param({1, 2, 60, 3}, 2), v = param({1, 2, 60, 3}, 3);
  SdpaOptions o;
  CHECK(std::string(nn::scaled_dot_product_attention(q, k, v, o).output.grad_fn()->name()) == "fused_attention");
  // 64 × 64 scores or fewer per batch entry: the composed ops (faster there)
  const Tensor small = nn::scaled_dot_product_attention(narrow(q, 2, 0, 64), k, v).output;  // 64 × 60
  CHECK(std::string(small.grad_fn()->name()) != "fused_attention");
  o.need_weights = true;
  const nn::AttentionOutput with = nn::scaled_dot_product_attention(q, k, v, o);
  CHECK(with.weights.defined());
  CHECK(std::string(with.output.grad_fn()->name()) != "fused_attention");
  // a learnable bias (ALiBi-style slopes) takes the reference path, which differentiates it
  SdpaOptions b;
  b.attn_bias = param({70, 60}, 4).requires_grad_();
  const Tensor out = nn::scaled_dot_product_attention(q, k, v, b).output;
  CHECK(std::string(out.grad_fn()->name()) != "fused_attention");
  out.sum().backward();
  CHECK(b.attn_bias.grad().defined());
  CHECK(throws_with([&] { nn::fused_attention(q, k, v, b); }, "attn_bias of shape [70, 60] requires grad"));
  // bad input is caught before any work, with the reference's messages
  CHECK(throws_with([&] { nn::fused_attention(q, param({1, 2, 60, 4}, 5), v); }, "query dim 3 and key dim 4 differ"));
  SdpaOptions bad;
  bad.attn_mask = ones({5, 60});
  CHECK(throws_with([&] { nn::fused_attention(q, k, v, bad); }, "attn_mask of shape [5, 60] does not broadcast"));
  SdpaOptions neg;
  neg.window = -2;
  CHECK(throws_with([&] { nn::fused_attention(q, k, v, neg); }, "window -2"));
}

TEST_CASE("fused attention: extra memory at L = 8192 is O(L), where the reference's is O(L²)") {
  // the tensors the kernel allocates (inputs, outputs, gradients, log-sum-exp) are O(L·d); the
  // scores of one head alone would be L² · sizeof(scalar_t) = 256 MiB in float
  const int64_t l = 8192, d = 16;
  const Tensor q = param({1, 1, l, d}, 1).requires_grad_(), k = param({1, 1, l, d}, 2).requires_grad_(),
               v = param({1, 1, l, d}, 3).requires_grad_();
  const size_t before = memory_stats().in_use;
  reset_peak_memory();
  SdpaOptions o;
  o.is_causal = true;
  nn::fused_attention(q, k, v, o).sum().backward();
  const size_t extra = memory_stats().peak - before;
  const size_t one_head_scores = static_cast<size_t>(l) * l * sizeof(scalar_t);
  CHECK(extra <= static_cast<size_t>(12 * l * d) * sizeof(scalar_t));  // a few [L, d] tensors
  CHECK(extra * 50 < one_head_scores);
  // the measurement would see O(L²): the reference at L = 2048 holds scores and weights
  const int64_t ls = 2048;
  const Tensor qs = param({1, 1, ls, d}, 4).requires_grad_(), ks = param({1, 1, ls, d}, 5),
               vs = param({1, 1, ls, d}, 6);
  const size_t before_ref = memory_stats().in_use;
  reset_peak_memory();
  nn::scaled_dot_product_attention_reference(qs, ks, vs, o).output.sum().backward();
  CHECK(memory_stats().peak - before_ref >= static_cast<size_t>(ls) * ls * sizeof(scalar_t));
}

TEST_CASE("fused attention: the same bits at 1, 2 and 3 threads, forward and backward") {
  const int saved = get_num_threads();
  std::vector<std::vector<scalar_t>> runs;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    Tensor q = param({2, 3, 130, 16}, 1), k = param({2, 3, 100, 16}, 2), v = param({2, 3, 100, 8}, 3);
    Generator gen(4);
    SdpaOptions o;
    o.attn_mask = random_mask({2, 1, 1, 100}, 5, 0.9);
    o.is_causal = true;
    o.dropout_p = 0.2, o.generator = &gen;
    const Tensor out = nn::fused_attention(q, k, v, o);
    out.backward(param({2, 3, 130, 8}, 6).detach());
    std::vector<scalar_t> all = out.to_vector();
    for (const Tensor& g : {q.grad(), k.grad(), v.grad()}) {
      const std::vector<scalar_t> x = g.to_vector();
      all.insert(all.end(), x.begin(), x.end());
    }
    runs.push_back(all);
  }
  set_num_threads(saved);
  CHECK(runs[0] == runs[1]);
  CHECK(runs[0] == runs[2]);
}
