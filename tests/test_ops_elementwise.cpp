// tests/test_ops_elementwise.cpp — engine/ops_elementwise.cpp: add sub mul div neg pow exp log
// sqrt abs clamp tanh sigmoid relu gelu where masked_fill, and the operator overloads.
//
// Every op gets a gradient check (tight in the double build); broadcasting is checked in both
// directions (the forward's values against a naive loop, the backward's reduction to each
// input's shape by gradcheck); known values come from the math, not from the engine.
#include <cmath>
#include <limits>
#include <vector>

#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

// Value tolerance: a few ulps of the build's scalar type.
const double kTol = kDouble ? 1e-12 : 1e-6;

// Positive values in [0.5, 2]: the domain of log, sqrt, fractional and negative powers.
Tensor positive(const Shape& shape, uint64_t seed) { return param(shape, seed, 0.5, 2); }

// A 0/1 tensor with a fixed pattern (1 where (i * 7 + 3) % 5 < 2).
Tensor pattern_mask(const Shape& shape) {
  std::vector<scalar_t> values(shape.numel());
  for (size_t i = 0; i < values.size(); ++i) values[i] = (i * 7 + 3) % 5 < 2 ? 1 : 0;
  return from_vector(values, shape);
}

}  // namespace

// ---------------- gradient checks ----------------

TEST_CASE("elementwise: unary ops pass gradcheck") {
  CHECK_GRAD([](auto& in) { return neg(in[0]); }, {param({3, 4}, 1)});
  CHECK_GRAD([](auto& in) { return exp(in[0]); }, {param({3, 4}, 2, -2, 2)});
  CHECK_GRAD([](auto& in) { return log(in[0]); }, {positive({3, 4}, 3)});
  CHECK_GRAD([](auto& in) { return sqrt(in[0]); }, {positive({3, 4}, 4)});
  CHECK_GRAD([](auto& in) { return abs(in[0]); }, {spaced({3, 4}, 5)});
  CHECK_GRAD([](auto& in) { return tanh(in[0]); }, {param({3, 4}, 6, -3, 3)});
  CHECK_GRAD([](auto& in) { return sigmoid(in[0]); }, {param({3, 4}, 7, -4, 4)});
  CHECK_GRAD([](auto& in) { return relu(in[0]); }, {spaced({3, 4}, 8)});
  CHECK_GRAD([](auto& in) { return gelu(in[0]); }, {param({3, 4}, 9, -3, 3)});
  // spaced values are ±0.1, ±0.3, ...: bounds -0.4 and 0.6 clip some and keep others, 0.1 away
  CHECK_GRAD([](auto& in) { return clamp(in[0], -0.4, 0.6); }, {spaced({3, 4}, 10)});
  // a rank-0 input and an empty one
  CHECK_GRAD([](auto& in) { return tanh(in[0]); }, {param({}, 11)});
  CHECK_GRAD([](auto& in) { return exp(in[0]) + sum(in[1]); }, {param({2}, 12), param({0, 3}, 13)});
}

TEST_CASE("elementwise: pow passes gradcheck for several exponents") {
  for (const double p : {2.0, 0.5, -1.0, 3.0, 1.0, 1.5, -2.5, 0.0}) {
    CAPTURE(p);
    CHECK_GRAD([p](auto& in) { return pow(in[0], static_cast<scalar_t>(p)); }, {positive({3, 4}, 20)});
  }
  // integer exponents on mixed-sign inputs
  for (const double p : {2.0, 3.0, -1.0}) {
    CAPTURE(p);
    CHECK_GRAD([p](auto& in) { return pow(in[0], static_cast<scalar_t>(p)); }, {spaced({3, 4}, 21)});
  }
}

TEST_CASE("elementwise: binary ops pass gradcheck on equal shapes") {
  CHECK_GRAD([](auto& in) { return add(in[0], in[1]); }, {param({3, 4}, 30), param({3, 4}, 31)});
  CHECK_GRAD([](auto& in) { return sub(in[0], in[1]); }, {param({3, 4}, 32), param({3, 4}, 33)});
  CHECK_GRAD([](auto& in) { return mul(in[0], in[1]); }, {param({3, 4}, 34), param({3, 4}, 35)});
  CHECK_GRAD([](auto& in) { return div(in[0], in[1]); }, {param({3, 4}, 36), positive({3, 4}, 37)});
  CHECK_GRAD([](auto& in) { return div(in[0], in[1]); }, {param({3, 4}, 38), param({3, 4}, 39, -2, -0.5)});
  // only one side requiring grad
  CHECK_GRAD([](auto& in) { return mul(in[0], in[1]); }, {param({3, 4}, 40), param({3, 4}, 41).detach()});
  CHECK_GRAD([](auto& in) { return div(in[0], in[1]); }, {param({3, 4}, 42).detach(), positive({3, 4}, 43)});
}

TEST_CASE("elementwise: binary ops sum broadcast gradients back to each input's shape") {
  struct Pair {
    Shape a, b;
  };
  const std::vector<Pair> pairs = {
      {{2, 3, 4}, {4}},       {{4}, {2, 3, 4}},       {{2, 1, 4}, {3, 1}},    {{3, 1}, {2, 1, 4}},
      {{3, 4}, {}},           {{}, {3, 4}},           {{3, 4}, {1}},          {{3, 1}, {1, 4}},
      {{2, 3, 4}, {2, 1, 1}}, {{1, 3, 1}, {2, 1, 4}}, {{2, 3, 1}, {2, 3, 1}}, {{1, 1}, {2, 3}},
  };
  uint64_t seed = 50;
  for (const Pair& p : pairs) {
    CAPTURE(p.a.str());
    CAPTURE(p.b.str());
    CHECK_GRAD([](auto& in) { return add(in[0], in[1]); }, {param(p.a, seed), param(p.b, seed + 1)});
    CHECK_GRAD([](auto& in) { return sub(in[0], in[1]); }, {param(p.a, seed + 2), param(p.b, seed + 3)});
    CHECK_GRAD([](auto& in) { return mul(in[0], in[1]); }, {param(p.a, seed + 4), param(p.b, seed + 5)});
    CHECK_GRAD([](auto& in) { return div(in[0], in[1]); }, {param(p.a, seed + 6), positive(p.b, seed + 7)});
    seed += 8;
  }
}

TEST_CASE("elementwise: scalar operands and operator overloads pass gradcheck") {
  const Shape s{3, 4};
  CHECK_GRAD([](auto& in) { return add(in[0], scalar_t(2.5)); }, {param(s, 60)});
  CHECK_GRAD([](auto& in) { return mul(in[0], scalar_t(-3)); }, {param(s, 61)});
  CHECK_GRAD([](auto& in) { return in[0] + in[1]; }, {param(s, 62), param({4}, 63)});
  CHECK_GRAD([](auto& in) { return in[0] - in[1]; }, {param(s, 64), param({3, 1}, 65)});
  CHECK_GRAD([](auto& in) { return in[0] * in[1]; }, {param(s, 66), param({}, 67)});
  CHECK_GRAD([](auto& in) { return in[0] / in[1]; }, {param(s, 68), positive({1, 4}, 69)});
  CHECK_GRAD([](auto& in) { return -in[0]; }, {param(s, 70)});
  CHECK_GRAD([](auto& in) { return in[0] + scalar_t(1.5); }, {param(s, 71)});
  CHECK_GRAD([](auto& in) { return scalar_t(1.5) + in[0]; }, {param(s, 72)});
  CHECK_GRAD([](auto& in) { return in[0] - scalar_t(1.5); }, {param(s, 73)});
  CHECK_GRAD([](auto& in) { return scalar_t(1.5) - in[0]; }, {param(s, 74)});
  CHECK_GRAD([](auto& in) { return in[0] * scalar_t(0.5); }, {param(s, 75)});
  CHECK_GRAD([](auto& in) { return scalar_t(0.5) * in[0]; }, {param(s, 76)});
  CHECK_GRAD([](auto& in) { return in[0] / scalar_t(4); }, {param(s, 77)});
  CHECK_GRAD([](auto& in) { return scalar_t(4) / in[0]; }, {positive(s, 78)});
}

TEST_CASE("elementwise: a tensor used twice gets both gradients") {
  CHECK_GRAD([](auto& in) { return mul(in[0], in[0]); }, {param({3, 4}, 80)});
  CHECK_GRAD([](auto& in) { return add(in[0], in[0]); }, {param({3, 4}, 81)});
  CHECK_GRAD([](auto& in) { return sub(in[0], in[0] * in[0]); }, {param({3, 4}, 82)});
  CHECK_GRAD([](auto& in) { return div(exp(in[0]), add(in[0] * in[0], scalar_t(1))); }, {param({3, 4}, 83)});
  // a broadcast operand used twice at two different broadcasts
  CHECK_GRAD([](auto& in) { return mul(in[0], in[1]) + in[1]; }, {param({2, 3}, 84), param({3}, 85)});
}

TEST_CASE("elementwise: where and masked_fill pass gradcheck, with broadcasting") {
  const Tensor cond = pattern_mask({3, 4});
  CHECK_GRAD([cond](auto& in) { return where(cond, in[0], in[1]); }, {param({3, 4}, 90), param({3, 4}, 91)});
  // a, b and the condition all broadcast: [3, 1] ? [4] : [2, 1, 1] -> [2, 3, 4]
  const Tensor cond_column = from_vector({1, 0, 1}, {3, 1});
  CHECK_GRAD([cond_column](auto& in) { return where(cond_column, in[0], in[1]); },
             {param({4}, 92), param({2, 1, 1}, 93)});
  const Tensor cond_big = pattern_mask({2, 3, 4});
  CHECK_GRAD([cond_big](auto& in) { return where(cond_big, in[0], in[1]); }, {param({3, 1}, 94), param({}, 95)});
  // one branch constant
  CHECK_GRAD([cond](auto& in) { return where(cond, in[0], zeros({3, 4})); }, {param({3, 4}, 96)});

  const Tensor mask = pattern_mask({3, 4});
  CHECK_GRAD([mask](auto& in) { return masked_fill(in[0], mask, -7); }, {param({3, 4}, 97)});
  const Tensor mask_row = from_vector({0, 1, 1, 0}, {4});
  CHECK_GRAD([mask_row](auto& in) { return masked_fill(in[0], mask_row, 0); }, {param({2, 3, 4}, 98)});
  const Tensor mask_column = from_vector({1, 0}, {2, 1, 1});
  CHECK_GRAD([mask_column](auto& in) { return masked_fill(in[0], mask_column, 1); }, {param({2, 3, 4}, 99)});
}

// ---------------- known values ----------------

TEST_CASE("elementwise: unary ops give known values") {
  const Tensor x = from_vector({-2, -0.5, 0, 0.5, 2});
  CHECK(all_close(neg(x), {2, 0.5, 0, -0.5, -2}, kTol, kTol));
  CHECK(all_close(abs(x), {2, 0.5, 0, 0.5, 2}, kTol, kTol));
  CHECK(all_close(relu(x), {0, 0, 0, 0.5, 2}, kTol, kTol));
  CHECK(all_close(clamp(x, -1, 1), {-1, -0.5, 0, 0.5, 1}, kTol, kTol));
  CHECK(all_close(clamp(x, 0.25, 0.25), {0.25, 0.25, 0.25, 0.25, 0.25}, kTol, kTol));
  CHECK(all_close(pow(x, 2), {4, 0.25, 0, 0.25, 4}, kTol, kTol));
  CHECK(all_close(pow(x, 3), {-8, -0.125, 0, 0.125, 8}, kTol, kTol));
  CHECK(all_close(pow(x, 1), {-2, -0.5, 0, 0.5, 2}, kTol, kTol));

  const Tensor p = from_vector({0.25, 1, 4, 16});
  CHECK(all_close(sqrt(p), {0.5, 1, 2, 4}, kTol, kTol));
  CHECK(all_close(pow(p, 0.5), {0.5, 1, 2, 4}, kTol, kTol));
  CHECK(all_close(pow(p, -1), {4, 1, 0.25, 0.0625}, kTol, kTol));
  CHECK(all_close(pow(p, 1.5), {0.125, 1, 8, 64}, kTol, kTol));
  CHECK(all_close(pow(p, 0), {1, 1, 1, 1}, kTol, kTol));
  CHECK(all_close(log(p), {-2 * M_LN2, 0, 2 * M_LN2, 4 * M_LN2}, kTol, kTol));
  CHECK(all_close(exp(from_vector({0, 1, -1, M_LN2})), {1, M_E, 1 / M_E, 2}, kTol, kTol));

  // e^x = 1 / e^-x, tanh x = (e^2x − 1) / (e^2x + 1), σ(x) = (1 + tanh(x/2)) / 2
  CHECK(all_close(tanh(from_vector({0, 0.5, -0.5})), {0, 0.46211715726000974, -0.46211715726000974}, kTol, kTol));
  CHECK(all_close(sigmoid(from_vector({0, 1, -1})), {0.5, 0.7310585786300049, 0.2689414213699951}, kTol, kTol));
}

TEST_CASE("elementwise: gelu is x·Φ(x) with the exact erf") {
  // Φ(1) = 0.8413447460685429, Φ(2) = 0.9772498680518208, Φ(-x) = 1 − Φ(x)
  const Tensor x = from_vector({1, -1, 0, 2, -2}).requires_grad_();
  const Tensor y = gelu(x);
  CHECK(all_close(y, {0.8413447460685429, -0.15865525393145707, 0, 1.9544997361036416, -0.0455002638963584},
                  kTol, kTol));
  // gelu'(x) = Φ(x) + x·φ(x), φ(1) = e^(−1/2)/√(2π) = 0.24197072451914337, φ(2) = 0.05399096651318806
  y.sum().backward();
  CHECK(all_close(x.grad(),
                  {1.0833154705876864, -0.08331547058768629, 0.5, 0.9772498680518208 + 2 * 0.05399096651318806,
                   0.0227501319481792 - 2 * 0.05399096651318806},
                  kTol, kTol));
}

TEST_CASE("elementwise: derivatives by hand, including at the kinks") {
  SUBCASE("sigmoid and tanh") {
    const Tensor x = from_vector({0, 1}).requires_grad_();
    sigmoid(x).sum().backward();
    // σ' = σ(1 − σ): 1/4 at 0, 0.7310585786300049 · 0.2689414213699951 at 1
    CHECK(all_close(x.grad(), {0.25, 0.19661193324148185}, kTol, kTol));
    const Tensor t = from_vector({0, 0.5}).requires_grad_();
    tanh(t).sum().backward();
    CHECK(all_close(t.grad(), {1, 0.7864477329659274}, kTol, kTol));
  }
  SUBCASE("relu, abs and clamp: the gradient is a mask (PyTorch's choice at the kink)") {
    const Tensor x = from_vector({-2, -0.5, 0, 0.5, 2}).requires_grad_();
    relu(x).sum().backward();
    CHECK(all_close(x.grad(), {0, 0, 0, 1, 1}, 0, 0));
    x.zero_grad();
    abs(x).sum().backward();
    CHECK(all_close(x.grad(), {-1, -1, 0, 1, 1}, 0, 0));
    x.zero_grad();
    clamp(x, -0.5, 1).sum().backward();  // the bounds themselves pass the gradient
    CHECK(all_close(x.grad(), {0, 1, 1, 1, 0}, 0, 0));
  }
  SUBCASE("pow, log, sqrt, exp, div") {
    const Tensor x = from_vector({0.5, 2, 4}).requires_grad_();
    pow(x, 3).sum().backward();  // 3x²
    CHECK(all_close(x.grad(), {0.75, 12, 48}, kTol, kTol));
    x.zero_grad();
    pow(x, -1).sum().backward();  // −1/x²
    CHECK(all_close(x.grad(), {-4, -0.25, -0.0625}, kTol, kTol));
    x.zero_grad();
    sqrt(x).sum().backward();  // 1/(2√x)
    CHECK(all_close(x.grad(), {1 / (2 * M_SQRT1_2 * 1), 1 / (2 * M_SQRT2), 0.25}, kTol, kTol));
    x.zero_grad();
    log(x).sum().backward();  // 1/x
    CHECK(all_close(x.grad(), {2, 0.5, 0.25}, kTol, kTol));
    x.zero_grad();
    exp(x).sum().backward();  // eˣ
    CHECK(all_close(x.grad(), {std::exp(0.5), std::exp(2.0), std::exp(4.0)}, kTol, kTol));
    const Tensor y = from_vector({1, 4, -2}).requires_grad_();
    x.zero_grad();
    div(x, y).sum().backward();  // d/dx = 1/y, d/dy = −x/y²
    CHECK(all_close(x.grad(), {1, 0.25, -0.5}, kTol, kTol));
    CHECK(all_close(y.grad(), {-0.5, -0.125, -1}, kTol, kTol));
  }
  SUBCASE("pow with exponent 0 has a zero gradient, also at 0") {
    const Tensor x = from_vector({0, 2}).requires_grad_();
    pow(x, 0).sum().backward();
    CHECK(all_close(x.grad(), {0, 0}, 0, 0));
  }
}

TEST_CASE("elementwise: broadcasting gives known values and gradients") {
  const Tensor a = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  const Tensor row = from_vector({10, 20, 30}).requires_grad_();
  const Tensor column = from_vector({100, 200}, {2, 1}).requires_grad_();
  CHECK(add(a, row).shape() == Shape{2, 3});
  CHECK(all_close(add(a, row), {11, 22, 33, 14, 25, 36}, 0, 0));
  CHECK(all_close(sub(a, column), {-99, -98, -97, -196, -195, -194}, 0, 0));
  CHECK(all_close(mul(row, column), {1000, 2000, 3000, 2000, 4000, 6000}, 0, 0));
  CHECK(all_close(div(column, a), {100, 50, 100.0 / 3, 50, 40, 200.0 / 6}, kTol, kTol));
  CHECK(add(row, column).shape() == Shape{2, 3});

  // out = a · row + column: d/d(row) sums a over rows, d/d(column) counts the columns
  (mul(a, row) + column).sum().backward();
  CHECK(all_close(a.grad(), {10, 20, 30, 10, 20, 30}, 0, 0));
  CHECK(all_close(row.grad(), {5, 7, 9}, 0, 0));
  CHECK(row.grad().shape() == Shape{3});
  CHECK(all_close(column.grad(), {3, 3}, 0, 0));
  CHECK(column.grad().shape() == Shape{2, 1});

  // a rank-0 operand gets a rank-0 gradient: the sum over everything
  const Tensor s = scalar_tensor(2).requires_grad_();
  mul(a.detach(), s).sum().backward();
  CHECK(s.grad().shape() == Shape{});
  CHECK(s.grad().item() == doctest::Approx(21));
}

TEST_CASE("elementwise: broadcasting matches a naive loop on large (parallel) shapes") {
  // shapes large enough that every path of the broadcasting kernel runs on several threads
  Generator gen(7);
  const Tensor x = uniform({70, 30, 40}, -1, 1, &gen);
  const Tensor y_last = uniform({40}, -1, 1, &gen);            // inner stride 1 in both
  const Tensor y_column = uniform({30, 1}, -1, 1, &gen);       // inner stride 0 in y
  const Tensor x_row = uniform({70, 1, 40}, -1, 1, &gen);      // with y_column: both broadcast
  const Tensor x_thin = uniform({70, 30, 1}, -1, 1, &gen);     // inner size 1
  const Tensor s = scalar_tensor(static_cast<scalar_t>(0.75));

  auto check = [](const Tensor& got, const Shape& shape, auto expected) {
    REQUIRE(got.shape() == shape);
    int64_t bad = 0;
    for (int64_t i = 0; i < shape[0]; ++i)
      for (int64_t j = 0; j < shape[1]; ++j)
        for (int64_t k = 0; k < shape[2]; ++k)
          if (got.at({i, j, k}) != expected(i, j, k)) ++bad;
    CHECK(bad == 0);
  };
  check(add(x, y_last), {70, 30, 40}, [&](int64_t i, int64_t j, int64_t k) { return x.at({i, j, k}) + y_last.at({k}); });
  check(mul(x, y_column), {70, 30, 40},
        [&](int64_t i, int64_t j, int64_t k) { return x.at({i, j, k}) * y_column.at({j, 0}); });
  check(sub(y_column, x), {70, 30, 40},
        [&](int64_t i, int64_t j, int64_t k) { return y_column.at({j, 0}) - x.at({i, j, k}); });
  check(mul(x_row, y_column), {70, 30, 40},
        [&](int64_t i, int64_t j, int64_t k) { return x_row.at({i, 0, k}) * y_column.at({j, 0}); });
  check(div(y_column, x_row), {70, 30, 40},
        [&](int64_t i, int64_t j, int64_t k) { return y_column.at({j, 0}) / x_row.at({i, 0, k}); });
  check(add(x_thin, y_column), {70, 30, 1},
        [&](int64_t i, int64_t j, int64_t) { return x_thin.at({i, j, 0}) + y_column.at({j, 0}); });
  check(sub(s, x), {70, 30, 40}, [&](int64_t i, int64_t j, int64_t k) { return scalar_t(0.75) - x.at({i, j, k}); });
  check(mul(x, s), {70, 30, 40}, [&](int64_t i, int64_t j, int64_t k) { return x.at({i, j, k}) * scalar_t(0.75); });

  // and the backward of a large broadcast: d/dy Σ x·y = Σ over the broadcast dims of x
  const Tensor y = y_column.detach().requires_grad_();
  mul(x, y).sum().backward();
  std::vector<double> expected(30, 0.0);
  for (int64_t i = 0; i < 70; ++i)
    for (int64_t j = 0; j < 30; ++j)
      for (int64_t k = 0; k < 40; ++k) expected[j] += x.at({i, j, k});
  CHECK(all_close(y.grad(), expected, kDouble ? 1e-10 : 1e-3, kDouble ? 1e-10 : 1e-4));
}

TEST_CASE("elementwise: exp is accurate and saturates cleanly; sigmoid never gives NaN") {
  std::vector<scalar_t> xs;
  for (int i = -870; i <= 880; ++i) xs.push_back(static_cast<scalar_t>(i * 0.1));
  const Tensor y = exp(from_vector(xs));
  int64_t bad = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double want = std::exp(static_cast<double>(xs[i]));
    if (!(std::abs(y.data()[i] - want) <= (kDouble ? 1e-14 : 1e-6) * want)) ++bad;
  }
  CHECK(bad == 0);

  const scalar_t inf = std::numeric_limits<scalar_t>::infinity();
  const Tensor edges = exp(from_vector({-1000, 1000, -inf, inf, std::numeric_limits<scalar_t>::quiet_NaN()}));
  CHECK(edges.data()[0] == 0);
  CHECK(edges.data()[1] == inf);
  CHECK(edges.data()[2] == 0);
  CHECK(edges.data()[3] == inf);
  CHECK(std::isnan(edges.data()[4]));

  const Tensor s = sigmoid(from_vector({-1000, 1000, -50, 50}));
  CHECK(s.data()[0] == 0);
  CHECK(s.data()[1] == 1);
  CHECK(s.data()[2] >= 0);
  CHECK(s.data()[2] < 1e-20);
  CHECK(s.data()[3] == doctest::Approx(1));
}

TEST_CASE("elementwise: where and masked_fill give known values") {
  const Tensor cond = from_vector({1, 0, 0, 1}, {2, 2});
  const Tensor a = from_vector({1, 2, 3, 4}, {2, 2}).requires_grad_();
  const Tensor b = from_vector({-1, -2}, {2}).requires_grad_();
  const Tensor w = where(cond, a, b);
  CHECK(all_close(w, {1, -2, -1, 4}, 0, 0));
  w.sum().backward();
  CHECK(all_close(a.grad(), {1, 0, 0, 1}, 0, 0));
  CHECK(all_close(b.grad(), {1, 1}, 0, 0));  // b[0] chosen at (1, 0), b[1] at (0, 1)
  // a non-zero condition value other than 1 counts as true
  CHECK(all_close(where(from_vector({-3, 0, 0.5}), from_vector({1, 1, 1}), scalar_tensor(0)), {1, 0, 1}, 0, 0));

  const Tensor x = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  const Tensor filled = masked_fill(x, from_vector({0, 1, 0}), -1e9);
  CHECK(all_close(filled, {1, -1e9, 3, 4, -1e9, 6}, 0, 0));
  filled.sum().backward();
  CHECK(all_close(x.grad(), {1, 0, 1, 1, 0, 1}, 0, 0));
  const scalar_t inf = std::numeric_limits<scalar_t>::infinity();
  const Tensor with_inf = masked_fill(x.detach(), from_vector({1, 0}, {2, 1}), -inf);
  CHECK(with_inf.data()[0] == -inf);
  CHECK(with_inf.data()[2] == -inf);
  CHECK(with_inf.data()[3] == 4);
}

// ---------------- errors ----------------

TEST_CASE("elementwise: bad shapes and arguments throw errors that name the op and the shapes") {
  const Tensor a = zeros({2, 3}), b = zeros({4}), c = zeros({3, 2});
  CHECK(throws_with([&] { (void)add(a, b); },
                    "add: shapes [2, 3] and [4] cannot be broadcast: size 3 vs 4 at dim -1"));
  CHECK(throws_with([&] { (void)sub(a, c); }, "sub: shapes [2, 3] and [3, 2] cannot be broadcast"));
  CHECK(throws_with([&] { (void)mul(zeros({2, 3, 4}), zeros({3, 3, 4})); },
                    "mul: shapes [2, 3, 4] and [3, 3, 4] cannot be broadcast: size 2 vs 3 at dim -3"));
  CHECK(throws_with([&] { (void)div(a, b); }, "div: shapes [2, 3] and [4] cannot be broadcast"));
  CHECK(throws_with([&] { (void)(a + b); }, "add: shapes [2, 3] and [4]"));
  CHECK(throws_with([&] { (void)where(zeros({2, 3}), a, b); }, "where: shapes [2, 3] and [4] cannot be broadcast"));
  CHECK(throws_with([&] { (void)where(zeros({5}), a, a); }, "where: shapes [5] and [2, 3] cannot be broadcast"));
  // the mask may broadcast to the input, but the input never to the mask
  CHECK(throws_with([&] { (void)masked_fill(zeros({3}), zeros({2, 3}), 0); },
                    "masked_fill: mask of shape [2, 3] does not broadcast to the input's shape [3]"));
  CHECK(throws_with([&] { (void)masked_fill(a, zeros({2}), 0); }, "masked_fill: shapes [2, 3] and [2] cannot be broadcast"));
  CHECK(throws_with([&] { (void)clamp(a, 1, -1); }, "clamp: min 1 is greater than max -1"));
  CHECK(throws_with([&] { (void)neg(Tensor()); }, "this tensor is undefined"));
}
