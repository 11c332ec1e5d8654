// tests/test_self_attention2d.cpp — nn/self_attention2d.cpp: the SAGAN self-attention block.
//
// A known answer worked out by hand (which way the attention map is read: row = query position),
// γ = 0 returns x exactly with rows of the map summing to 1, the same block written as plain
// loops, gradcheck with γ ≠ 0 on the input and every parameter, kept weights, names, errors.
#include <cmath>
#include <vector>

#include "nn/self_attention2d.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

const double kTol = kDouble ? 1e-12 : 1e-5;

void set(const Tensor& t, const std::vector<scalar_t>& values) {
  NoGradGuard no_grad;
  Tensor(t).copy_(from_vector(values, t.shape()));
}

// y = γ v Aᵀ + x with A = softmax(qᵀ k) over j, as loops over positions, in double.
std::vector<double> naive_block(nn::SelfAttention2d& block, const Tensor& x) {
  const Tensor q = block.query_conv->forward(x), k = block.key_conv->forward(x), v = block.value_conv->forward(x);
  const int64_t b_size = x.shape()[0], c_size = x.shape()[1], n = x.shape()[2] * x.shape()[3];
  const int64_t cq = block.query_channels;
  const double gamma = block.gamma.item();
  std::vector<double> y(x.numel());
  for (int64_t b = 0; b < b_size; ++b)
    for (int64_t i = 0; i < n; ++i) {
      std::vector<double> score(n);
      double top = -1e300, total = 0;
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t c = 0; c < cq; ++c)
          score[j] += static_cast<double>(q.data()[(b * cq + c) * n + i]) * k.data()[(b * cq + c) * n + j];
        top = std::max(top, score[j]);
      }
      for (int64_t j = 0; j < n; ++j) total += (score[j] = std::exp(score[j] - top));
      for (int64_t c = 0; c < c_size; ++c) {
        double o = 0;
        for (int64_t j = 0; j < n; ++j) o += v.data()[(b * c_size + c) * n + j] * score[j] / total;
        y[(b * c_size + c) * n + i] = gamma * o + x.data()[(b * c_size + c) * n + i];
      }
    }
  return y;
}

}  // namespace

TEST_CASE("SelfAttention2d: a known answer worked out by hand (row i of the map is query position i)") {
  // C = 2, one row of N = 2 positions: position 0 holds (1, 0), position 1 holds (0, 1).
  // query = channel 0 -> q = [1, 0];  key = 2 · channel 1 -> k = [0, 2];  value = identity -> v = x.
  // scores qᵢ kⱼ: row 0 = [0, 2], row 1 = [0, 0]
  //   A row 0 = [a, 1 − a] with a = 1 / (1 + e²);  A row 1 = [1/2, 1/2]
  // o[:, i] = Σⱼ v[:, j] A[i, j]:  o[:, 0] = (a, 1 − a),  o[:, 1] = (1/2, 1/2);   y = x + γ o, γ = 1/2
  nn::SelfAttention2d block(2);
  CHECK(block.query_channels == 1);  // max(1, 2 / 8)
  set(block.query_conv->weight, {1, 0});
  set(block.query_conv->bias, {0});
  set(block.key_conv->weight, {0, 2});
  set(block.key_conv->bias, {0});
  set(block.value_conv->weight, {1, 0, 0, 1});
  set(block.value_conv->bias, {0, 0});
  set(block.gamma, {0.5});
  const Tensor x = from_vector({1, 0, 0, 1}, {1, 2, 1, 2});  // [B, C, H, W]: channel 0 = [1, 0], channel 1 = [0, 1]
  const auto [y, attention] = block.attend(x);
  const double a = 1 / (1 + std::exp(2.0));
  CHECK(attention.shape() == Shape{1, 2, 2});
  CHECK(all_close(attention, {a, 1 - a, 0.5, 0.5}, kTol, kTol));
  CHECK(y.shape() == Shape{1, 2, 1, 2});
  CHECK(all_close(y, {1 + 0.5 * a, 0.25, 0.5 * (1 - a), 1.25}, kTol, kTol));
}

TEST_CASE("SelfAttention2d: γ = 0 at first returns x exactly; attention rows sum to 1") {
  manual_seed(11);
  nn::SelfAttention2d block(16);
  CHECK(block.query_channels == 2);
  CHECK(block.gamma.to_vector() == std::vector<scalar_t>{0});
  const Tensor x = uniform({2, 16, 3, 5}, -2, 2);
  const auto [y, attention] = block.attend(x);
  CHECK(all_close(y, x, 0, 0));  // bit for bit
  CHECK(attention.shape() == Shape{2, 15, 15});
  const Tensor row_sums = sum(attention, {-1});
  CHECK(all_close(row_sums, std::vector<double>(30, 1), kTol, kTol));
  bool all_positive = true;
  for (scalar_t p : attention.to_vector()) all_positive = all_positive && p > 0;
  CHECK(all_positive);
}

TEST_CASE("SelfAttention2d: equals the block written as loops over positions") {
  manual_seed(12);
  nn::SelfAttention2d block(8, 4);  // C' = 2
  set(block.gamma, {0.7});
  const Tensor x = uniform({2, 8, 3, 4}, -1, 1);
  CHECK(all_close(block(x), naive_block(block, x), kTol * 10, kTol * 10));
  // forward runs the fused kernel, attend() the composed ops that return the map: the same output
  CHECK(all_close(block(x), block.attend(x).output, kTol * 10, kTol * 10));
  // a reduction larger than the channels still leaves one query channel
  nn::SelfAttention2d narrow_block(3, 8);
  CHECK(narrow_block.query_channels == 1);
  set(narrow_block.gamma, {-1.5});
  const Tensor z = uniform({1, 3, 2, 3}, -1, 1);
  CHECK(all_close(narrow_block(z), naive_block(narrow_block, z), kTol * 10, kTol * 10));
}

TEST_CASE("SelfAttention2d: gradcheck with γ ≠ 0 on the input and every parameter") {
  manual_seed(13);
  nn::SelfAttention2d block(4, 2);
  set(block.gamma, {0.8});
  std::vector<Tensor> inputs{param({2, 4, 2, 3}, 601)};
  for (const Tensor& p : block.parameters()) inputs.push_back(p);
  REQUIRE(inputs.size() == 8);  // x, 3 × (weight, bias), gamma
  CHECK_GRAD([&block](auto& in) { return block(in[0]); }, inputs);
  // the attention map itself is differentiable
  CHECK_GRAD([&block](auto& in) { return block.attend(in[0]).weights; }, {param({1, 4, 2, 2}, 602)});
}

TEST_CASE("SelfAttention2d: keep_weights keeps the map detached; names as PyTorch SAGAN code") {
  nn::SelfAttention2d block(8);
  block(uniform({1, 8, 2, 2}, -1, 1));
  CHECK_FALSE(block.last_weights.defined());
  block.keep_weights = true;
  const Tensor x = uniform({3, 8, 2, 3}, -1, 1).requires_grad_();
  block(x);
  CHECK(block.last_weights.shape() == Shape{3, 6, 6});
  CHECK_FALSE(block.last_weights.requires_grad());
  std::vector<std::string> names;
  for (const auto& [name, t] : block.named_parameters()) names.push_back(name);
  // a module's own parameters come before its children's, in PyTorch as here
  CHECK(names == std::vector<std::string>{"gamma", "query_conv.weight", "query_conv.bias", "key_conv.weight",
                                          "key_conv.bias", "value_conv.weight", "value_conv.bias"});
  CHECK(block.query_conv->weight.shape() == Shape{1, 8, 1, 1});
  CHECK(block.value_conv->weight.shape() == Shape{8, 8, 1, 1});
  CHECK(block.gamma.shape() == Shape{1});
  CHECK(block.str().rfind("SelfAttention2d(channels=8, query_channels=1)  # 91 parameters\n", 0) == 0);
}

TEST_CASE("SelfAttention2d: errors name the layer and the shapes") {
  nn::SelfAttention2d block(16);
  CHECK(throws_with([&] { block(zeros({2, 8, 4, 4})); }, "SelfAttention2d: expected input [N, 16, H, W], got [2, 8, 4, 4]"));
  CHECK(throws_with([&] { block(zeros({16, 4, 4})); }, "got [16, 4, 4]"));
  CHECK(throws_with([] { nn::SelfAttention2d(0); }, "SelfAttention2d: channels (0) and reduction (8) must be positive"));
  CHECK(throws_with([] { nn::SelfAttention2d(8, 0); }, "reduction (0)"));
}
