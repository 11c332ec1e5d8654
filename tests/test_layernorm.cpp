// tests/test_layernorm.cpp — nn/layernorm.cpp: layer normalisation over the last dims.
//
// Known answers worked out by hand (biased variance), multi-dim normalized_shape, the affine
// weight and bias, a naive double reference and a composition of engine ops (mean, var, sqrt)
// for values and gradients, gradcheck on x, weight and bias (rows of very different scales
// included), and shape errors.
#include <cmath>
#include <vector>

#include "nn/dropout.h"
#include "nn/layernorm.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

const double kTol = kDouble ? 1e-12 : 1e-5;

// y = (x − μ) / √(σ² + eps) · w + b per row of n = numel(normalized_shape) values, in double.
std::vector<double> naive_layer_norm(const Tensor& x, int64_t n, const Tensor& w, const Tensor& b, double eps) {
  const int64_t rows = x.numel() / n;
  std::vector<double> y(x.numel());
  for (int64_t r = 0; r < rows; ++r) {
    const scalar_t* row = x.data() + r * n;
    double mu = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mu += row[i];
    mu /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) var += (row[i] - mu) * (row[i] - mu);
    var /= static_cast<double>(n);  // biased, as PyTorch
    for (int64_t i = 0; i < n; ++i)
      y[r * n + i] = (row[i] - mu) / std::sqrt(var + eps) * (w.defined() ? w.data()[i] : 1.0) +
                     (b.defined() ? b.data()[i] : 0.0);
  }
  return y;
}

// Rows of very different scales and offsets: row r is scale_r · u + offset_r, u ~ U(-1, 1).
// The smallest scale is still well above gradcheck's eps in the float build.
Tensor multiscale(int64_t n, uint64_t seed) {
  const std::vector<double> scales = {kDouble ? 1e-2 : 1e-1, 1, 30, kDouble ? 1e3 : 10};
  const std::vector<double> offsets = {0.5, -2, 100, -7};
  Generator gen(seed);
  const Tensor u = uniform({static_cast<int64_t>(scales.size()), n}, -1, 1, &gen);
  std::vector<scalar_t> values;
  for (size_t r = 0; r < scales.size(); ++r)
    for (int64_t i = 0; i < n; ++i)
      values.push_back(static_cast<scalar_t>(scales[r] * u.data()[r * n + i] + offsets[r]));
  return from_vector(values, {static_cast<int64_t>(scales.size()), n}).requires_grad_();
}

}  // namespace

// ---------------- known answers ----------------

TEST_CASE("layer_norm: known answer worked out by hand (eps 0, biased variance)") {
  const Tensor x = from_vector({1, 2, 3, 10, 10, 13}, {2, 3});
  // row [1, 2, 3]: μ 2, σ² = (1 + 0 + 1) / 3 = 2/3, so x̂ = [-1, 0, 1] / √(2/3) = [-√1.5, 0, √1.5]
  // row [10, 10, 13]: μ 11, σ² = (1 + 1 + 4) / 3 = 2, so x̂ = [-1, -1, 2] / √2
  const double a = std::sqrt(1.5), h = 1 / std::sqrt(2.0);
  const Tensor y = nn::layer_norm(x, {3}, Tensor(), Tensor(), 0);
  CHECK(y.shape() == Shape{2, 3});
  CHECK(all_close(y, {-a, 0, a, -h, -h, 2 * h}, kTol, kTol));
  CHECK(all_close(y, {-1.2247449, 0, 1.2247449, -0.7071068, -0.7071068, 1.4142136}, 1e-6, 0));
  // the unbiased variance would give [-1, 0, 1] for the first row: make sure it is not used
  CHECK(std::abs(y.at({0, 0}) + 1) > 0.2);

  // with the default eps 1e-5: x̂ = [-1, 0, 1] / √(2/3 + 1e-5)
  const double r = 1 / std::sqrt(2.0 / 3 + 1e-5);
  CHECK(all_close(nn::layer_norm(from_vector({1, 2, 3}), {3}), {-r, 0, r}, kTol, kTol));
}

TEST_CASE("layer_norm: weight scales and bias shifts each position") {
  const Tensor x = from_vector({1, 2, 3, 10, 10, 13}, {2, 3});
  const Tensor w = from_vector({2, 1, -1}), b = from_vector({0.5, 0, 1});
  const double a = std::sqrt(1.5), h = 1 / std::sqrt(2.0);
  // y = x̂ ⊙ [2, 1, -1] + [0.5, 0, 1]
  CHECK(all_close(nn::layer_norm(x, {3}, w, b, 0),
                  {-2 * a + 0.5, 0, -a + 1, -2 * h + 0.5, -h, -2 * h + 1}, kTol, kTol));
  // weight only, bias only
  CHECK(all_close(nn::layer_norm(x, {3}, w, Tensor(), 0), {-2 * a, 0, -a, -2 * h, -h, -2 * h}, kTol, kTol));
  CHECK(all_close(nn::layer_norm(x, {3}, Tensor(), b, 0), {-a + 0.5, 0, a + 1, -h + 0.5, -h, 2 * h + 1}, kTol, kTol));

  // the module with its parameters set the same way
  nn::LayerNorm norm(3, 0);
  {
    NoGradGuard no_grad;
    norm.weight.copy_(w);
    norm.bias.copy_(b);
  }
  CHECK(all_close(norm(x), {-2 * a + 0.5, 0, -a + 1, -2 * h + 0.5, -h, -2 * h + 1}, kTol, kTol));
}

TEST_CASE("layer_norm: a multi-dim normalized_shape normalises over all its dims together") {
  // x [2, 2, 3], normalized over the last [2, 3]: each group of 6 is one row
  const Tensor x = from_vector({1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 6}, {2, 2, 3});
  // group 1..6: μ 3.5, σ² = 2 (2.5² + 1.5² + 0.5²) / 6 = 35/12
  // group [0, 0, 0, 0, 0, 6]: μ 1, σ² = (5 · 1 + 25) / 6 = 5
  const double s1 = std::sqrt(35.0 / 12), s2 = std::sqrt(5.0);
  const std::vector<double> expected = {-2.5 / s1, -1.5 / s1, -0.5 / s1, 0.5 / s1, 1.5 / s1, 2.5 / s1,
                                        -1 / s2,   -1 / s2,   -1 / s2,   -1 / s2,  -1 / s2,  5 / s2};
  const Tensor y = nn::layer_norm(x, {2, 3}, Tensor(), Tensor(), 0);
  CHECK(y.shape() == Shape{2, 2, 3});
  CHECK(all_close(y, expected, kTol, kTol));
  // normalising over the last dim only is different: [1, 2, 3] -> -√1.5 first
  CHECK(nn::layer_norm(x, {3}, Tensor(), Tensor(), 0).at({0, 0, 0}) == doctest::Approx(-std::sqrt(1.5)));
  CHECK(std::abs(expected[0] + std::sqrt(1.5)) > 0.2);

  // the module over [2, 3], with a weight of that shape
  nn::LayerNorm norm(Shape{2, 3}, 0);
  CHECK(norm.weight.shape() == Shape{2, 3});
  CHECK(norm.bias.shape() == Shape{2, 3});
  {
    NoGradGuard no_grad;
    norm.weight.copy_(from_vector({1, 2, 3, 4, 5, 6}, {2, 3}));
    norm.bias.fill_(1);
  }
  std::vector<double> scaled = expected;
  for (size_t i = 0; i < scaled.size(); ++i) scaled[i] = scaled[i] * static_cast<double>(i % 6 + 1) + 1;
  CHECK(all_close(norm(x), scaled, kTol, kTol));
}

TEST_CASE("layer_norm: large inputs (several threads) match a naive double loop") {
  Generator gen(71);
  const Tensor x = uniform({7, 150, 64}, -3, 3, &gen);
  const Tensor w = uniform({64}, 0.5, 1.5, &gen), b = uniform({64}, -1, 1, &gen);
  CHECK(all_close(nn::layer_norm(x, {64}, w, b), naive_layer_norm(x, 64, w, b, 1e-5), kTol * 10, kTol * 10));
  const Tensor w2 = uniform({150, 64}, 0.5, 1.5, &gen), b2 = uniform({150, 64}, -1, 1, &gen);
  CHECK(all_close(nn::layer_norm(x, {150, 64}, w2, b2, 1e-3), naive_layer_norm(x, 150 * 64, w2, b2, 1e-3),
                  kTol * 10, kTol * 10));
}

TEST_CASE("layer_norm: a constant row gives the bias, not NaN (eps > 0)") {
  const Tensor x = full({2, 4}, 3);
  const Tensor b = from_vector({1, 2, 3, 4});
  CHECK(all_close(nn::layer_norm(x, {4}, ones({4}), b), {1, 2, 3, 4, 1, 2, 3, 4}, 0, 0));
}

// ---------------- against a composition of engine ops ----------------

TEST_CASE("layer_norm: values and gradients equal (x − mean) / sqrt(var + eps) · w + b from engine ops") {
  const Tensor x = param({4, 3, 8}, 72, -2, 2), w = param({8}, 73), b = param({8}, 74);
  const double eps = 1e-5;
  auto composed = [eps](const Tensor& xs, const Tensor& ws, const Tensor& bs) {
    const Tensor mu = mean(xs, {-1}, true);
    const Tensor variance = var(xs, {-1}, true, /*correction=*/0);
    return (xs - mu) / sqrt(variance + static_cast<scalar_t>(eps)) * ws + bs;
  };
  const Tensor fused = nn::layer_norm(x, {8}, w, b, eps);
  const Tensor reference = composed(x, w, b);
  const double tol = kDouble ? 1e-12 : 1e-5;
  CHECK(all_close(fused, reference, tol, tol));

  // the same upstream gradient through both
  Generator gen(75);
  const Tensor g = uniform({4, 3, 8}, -1, 1, &gen);
  fused.backward(g);
  const std::vector<scalar_t> dx = x.grad().to_vector(), dw = w.grad().to_vector(), db = b.grad().to_vector();
  x.zero_grad();
  w.zero_grad();
  b.zero_grad();
  reference.backward(g);
  const double gtol = kDouble ? 1e-10 : 1e-4;
  CHECK(all_close(x.grad(), std::vector<double>(dx.begin(), dx.end()), gtol, gtol));
  CHECK(all_close(w.grad(), std::vector<double>(dw.begin(), dw.end()), gtol, gtol));
  CHECK(all_close(b.grad(), std::vector<double>(db.begin(), db.end()), gtol, gtol));
}

// ---------------- gradient checks ----------------

TEST_CASE("layer_norm: gradcheck on x, weight and bias together") {
  auto ln = [](const Shape& shape, double eps) {
    return [shape, eps](auto& in) { return nn::layer_norm(in[0], shape, in[1], in[2], eps); };
  };
  CHECK_GRAD(ln({5}, 1e-5), {param({3, 5}, 81), param({5}, 82), param({5}, 83)});
  CHECK_GRAD(ln({5}, 0.1), {param({3, 5}, 84), param({5}, 85), param({5}, 86)});
  // a single row; a rank-3 input
  CHECK_GRAD(ln({6}, 1e-5), {param({6}, 87), param({6}, 88), param({6}, 89)});
  CHECK_GRAD(ln({4}, 1e-5), {param({2, 3, 4}, 90), param({4}, 91), param({4}, 92)});
  // multi-dim normalized_shape
  CHECK_GRAD(ln({2, 3}, 1e-5), {param({2, 2, 3}, 93), param({2, 3}, 94), param({2, 3}, 95)});
  // many rows: checked through projections
  CHECK_GRAD(ln({16}, 1e-5), {param({8, 16}, 96), param({16}, 97), param({16}, 98)});
}

TEST_CASE("layer_norm: gradcheck with rows of very different scales and offsets") {
  auto ln = [](auto& in) { return nn::layer_norm(in[0], {6}, in[1], in[2], 1e-5); };
  CHECK_GRAD(ln, {multiscale(6, 101), param({6}, 102, 0.5, 2), param({6}, 103)});
  // without the affine part: the normalisation alone
  CHECK_GRAD([](auto& in) { return nn::layer_norm(in[0], {6}, Tensor(), Tensor(), 1e-5); },
             {multiscale(6, 104)});
}

TEST_CASE("layer_norm: gradcheck with only some of x, weight and bias present or requiring grad") {
  // weight only / bias only (the other undefined)
  CHECK_GRAD([](auto& in) { return nn::layer_norm(in[0], {4}, in[1], Tensor()); }, {param({3, 4}, 111), param({4}, 112)});
  CHECK_GRAD([](auto& in) { return nn::layer_norm(in[0], {4}, Tensor(), in[1]); }, {param({3, 4}, 113), param({4}, 114)});
  // the same with a multi-dim normalized_shape
  CHECK_GRAD([](auto& in) { return nn::layer_norm(in[0], {2, 3}, in[1], Tensor()); },
             {param({2, 2, 3}, 115), param({2, 3}, 116)});
  CHECK_GRAD([](auto& in) { return nn::layer_norm(in[0], {2, 3}, Tensor(), in[1]); },
             {param({2, 2, 3}, 117), param({2, 3}, 118)});
  // x constant, only the parameters checked
  const Tensor x = uniform({3, 4}, -1, 1);
  CHECK_GRAD([x](auto& in) { return nn::layer_norm(x, {4}, in[0], in[1]); }, {param({4}, 119), param({4}, 120)});
  // parameters constant, only x checked
  const Tensor w = uniform({4}, 0.5, 1.5), b = uniform({4}, -1, 1);
  CHECK_GRAD([w, b](auto& in) { return nn::layer_norm(in[0], {4}, w, b); }, {param({3, 4}, 121)});
  // through the module: its parameters nudged in place
  nn::LayerNorm norm(Shape{2, 3});
  {
    NoGradGuard no_grad;
    norm.weight.copy_(uniform({2, 3}, 0.5, 1.5));
    norm.bias.copy_(uniform({2, 3}, -1, 1));
  }
  CHECK_GRAD([&norm](auto& in) { return norm(in[0]); }, {param({2, 2, 3}, 122), norm.weight, norm.bias});
}

TEST_CASE("layer_norm: a loss that uses the output twice gets both gradient contributions") {
  const Tensor x = param({2, 5}, 131), w = param({5}, 132), b = param({5}, 133);
  CHECK_GRAD([](auto& in) {
    const Tensor y = nn::layer_norm(in[0], {5}, in[1], in[2]);
    return y * y + y;
  }, {x, w, b});
}

// ---------------- the module ----------------

TEST_CASE("layernorm module: ones and zeros, names, no affine variant, str") {
  nn::LayerNorm norm(4);
  CHECK(norm.weight.to_vector() == std::vector<scalar_t>(4, 1));
  CHECK(norm.bias.to_vector() == std::vector<scalar_t>(4, 0));
  REQUIRE(norm.named_parameters().size() == 2);
  CHECK(norm.named_parameters()[0].first == "weight");
  CHECK(norm.named_parameters()[1].first == "bias");
  CHECK(norm.eps == 1e-5);
  CHECK(norm.str() == "LayerNorm([4], eps=1e-05, elementwise_affine=true)  # 8 parameters\n");
  nn::LayerNorm plain(Shape{2, 3}, 1e-6, false);
  CHECK(plain.num_parameters() == 0);
  CHECK_FALSE(plain.weight.defined());
  const Tensor x = uniform({4, 2, 3}, -1, 1);
  CHECK(all_close(plain(x), naive_layer_norm(x, 6, Tensor(), Tensor(), 1e-6), kTol * 10, kTol * 10));
  CHECK(plain.str() == "LayerNorm([2, 3], eps=1e-06, elementwise_affine=false)\n");
}

// ---------------- errors ----------------

TEST_CASE("layer_norm: shape errors name the shapes") {
  nn::LayerNorm norm(3);
  CHECK(throws_with([&] { norm(zeros({2, 4})); }, "layer_norm: input of shape [2, 4] does not end in normalized_shape [3]"));
  CHECK(throws_with([&] { norm(zeros({3, 2})); }, "[3, 2]"));
  CHECK(throws_with([] { nn::layer_norm(zeros({3}), {2, 3}); }, "normalized_shape [2, 3]"));
  CHECK(throws_with([] { nn::layer_norm(zeros({2, 3}), {2, 4}); }, "[2, 4]"));
  CHECK(throws_with([] { nn::layer_norm(zeros({2, 3}), Shape{}); }, "normalized_shape []"));
  CHECK(throws_with([] { nn::layer_norm(zeros({2, 3}), {3}, zeros({4})); }, "weight shape [4]"));
  CHECK(throws_with([] { nn::layer_norm(zeros({2, 3}), {3}, ones({3}), zeros({1, 3})); }, "bias shape [1, 3]"));
  CHECK(throws_with([] { nn::layer_norm(zeros({2, 2, 3}), {2, 3}, zeros({6})); }, "weight shape [6]"));
  CHECK(throws_with([] { nn::LayerNorm(Shape{}); }, "must be non-empty"));
  CHECK(throws_with([] { nn::LayerNorm(Shape{0}); }, "must be non-empty"));
}

// ---------------- the fused residual: layer_norm(x + dropout(y)) ----------------

namespace {
// x, y, weight, bias that require grad, and the fused or the composed op on them with a generator
// seeded alike: both must draw the same mask and compute the same bits.
struct ResidualCase {
  Tensor x = param({6, 8}, 161), y = param({6, 8}, 162), w = param({8}, 163, 0.5, 1.5), b = param({8}, 164);
  Tensor run(bool fused, double p, bool training) const {
    Generator gen(165);
    if (fused) return nn::add_dropout_layer_norm(x, y, p, training, {8}, w, b, 1e-5, &gen);
    return nn::layer_norm(x + nn::dropout(y, p, training, &gen), {8}, w, b, 1e-5);
  }
};
}  // namespace

TEST_CASE("add_dropout_layer_norm = layer_norm(x + dropout(y)) to the bit, values and gradients") {
  for (double p : {0.0, 0.1, 0.5}) {
    for (bool training : {true, false}) {
      INFO("p = " << p << ", training = " << training);
      ResidualCase c;
      const Tensor g = uniform({6, 8}, -1, 1);
      std::vector<std::vector<scalar_t>> grads[2];
      Tensor outs[2];
      for (int fused = 0; fused < 2; ++fused) {
        for (Tensor* t : {&c.x, &c.y, &c.w, &c.b}) t->zero_grad();
        outs[fused] = c.run(fused == 1, p, training);
        outs[fused].backward(g);
        for (Tensor* t : {&c.x, &c.y, &c.w, &c.b}) grads[fused].push_back(t->grad().to_vector());
      }
      CHECK(outs[0].to_vector() == outs[1].to_vector());
      for (size_t i = 0; i < grads[0].size(); ++i) CHECK(grads[0][i] == grads[1][i]);
    }
  }
}

TEST_CASE("add_dropout_layer_norm: known answer, dropout off (the sum normalised)") {
  // x + y = [1, 2, 3] → mean 2, variance 2/3: (s − 2)/√(2/3) = [−√1.5, 0, √1.5]
  const Tensor out = nn::add_dropout_layer_norm(from_vector({0.5, 3, -1}), from_vector({0.5, -1, 4}), 0.3, false, {3},
                                                Tensor(), Tensor(), 0);
  const double r = std::sqrt(1.5);
  CHECK(all_close(out, {-r, 0, r}, kTol, kTol));
}

TEST_CASE("add_dropout_layer_norm: gradcheck on x, y, weight and bias, with the mask fixed") {
  for (double p : {0.0, 0.3}) {
    INFO("p = " << p);
    CHECK_GRAD([p](auto& in) {
      Generator gen(166);  // the same mask on every call
      return nn::add_dropout_layer_norm(in[0], in[1], p, true, {5}, in[2], in[3], 1e-5, &gen);
    }, {param({4, 5}, 167), param({4, 5}, 168), param({5}, 169, 0.5, 1.5), param({5}, 170)});
  }
  // only the branch requires grad (the residual a constant), multi-dim normalized_shape
  const Tensor x = uniform({2, 2, 3}, -1, 1);
  CHECK_GRAD([x](auto& in) {
    Generator gen(171);
    return nn::add_dropout_layer_norm(x, in[0], 0.25, true, {2, 3}, Tensor(), Tensor(), 1e-5, &gen);
  }, {param({2, 2, 3}, 172)});
}

TEST_CASE("add_dropout_layer_norm: errors name the op and the shapes") {
  const Tensor a = zeros({2, 3}), b = zeros({3, 2});
  CHECK_THROWS_WITH_AS(nn::add_dropout_layer_norm(a, b, 0.1, true, {3}), doctest::Contains("must have one shape"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::add_dropout_layer_norm(a, a, 0.1, true, {4}),
                       doctest::Contains("add_dropout_layer_norm: input of shape"), Error);
  CHECK_THROWS_WITH_AS(nn::add_dropout_layer_norm(a, a, 1.5, true, {3}), doctest::Contains("outside [0, 1]"), Error);
}
