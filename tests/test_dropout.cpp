// tests/test_dropout.cpp — nn/dropout.cpp: inverted dropout.
//
// Eval and p = 0 return the input itself; training zeroes a fraction close to p and scales the
// rest by exactly 1 / (1 − p); a seed fixes the mask; the gradient is the same mask (checked by
// hand and by gradcheck with a generator re-seeded on every evaluation); p = 1; bad p.
#include <cmath>
#include <limits>
#include <vector>

#include "nn/dropout.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

// Values in [1, 2): never zero, so a zero in the output can only come from the mask.
Tensor nonzero_input(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return uniform(shape, 1, 2, &gen);
}

int64_t count_zeros(const Tensor& t) {
  int64_t n = 0;
  for (int64_t i = 0; i < t.numel(); ++i) n += t.data()[i] == 0;
  return n;
}

}  // namespace

TEST_CASE("dropout: eval and p = 0 return the input itself") {
  const Tensor x = param({3, 4}, 141);
  CHECK(nn::dropout(x, 0.5, false).same(x));
  CHECK(nn::dropout(x, 0.9, false).same(x));
  CHECK(nn::dropout(x, 1, false).same(x));
  CHECK(nn::dropout(x, 0, true).same(x));
  nn::Dropout drop(0.5);
  drop.eval();
  CHECK(drop(x).same(x));
  drop.train();
  CHECK_FALSE(drop(x).same(x));
  nn::Dropout none(0);
  CHECK(none(x).same(x));  // training, p = 0
}

TEST_CASE("dropout: training zeroes a fraction close to p and scales the kept values by exactly 1/(1-p)") {
  for (double p : {0.1, 0.3, 0.5, 0.8}) {
    INFO("p = " << p);
    const Tensor x = nonzero_input({100, 1000}, 142);
    Generator gen(143);
    const Tensor y = nn::dropout(x, p, true, &gen);
    CHECK(y.shape() == x.shape());
    // 100,000 draws: the standard error of the fraction is at most 0.0016
    const double fraction = static_cast<double>(count_zeros(y)) / static_cast<double>(y.numel());
    CHECK(std::abs(fraction - p) < 0.01);
    const scalar_t scale = static_cast<scalar_t>(1 / (1 - p));
    int64_t wrong = 0;
    for (int64_t i = 0; i < y.numel(); ++i)
      if (y.data()[i] != 0 && y.data()[i] != x.data()[i] * scale) ++wrong;
    CHECK(wrong == 0);
    // the mean is kept in expectation: E[y] = E[x] = 1.5
    double sum = 0;
    for (int64_t i = 0; i < y.numel(); ++i) sum += y.data()[i];
    CHECK(sum / static_cast<double>(y.numel()) == doctest::Approx(1.5).epsilon(0.03));
  }
  // p = 0.5 scales by exactly 2: 1.25 -> 2.5 when kept
  const Tensor x = full({64}, 1.25);
  const Tensor y = nn::dropout(x, 0.5, true);
  for (scalar_t v : y.to_vector()) CHECK((v == 0 || v == scalar_t(2.5)));
  CHECK(count_zeros(y) > 0);
  CHECK(count_zeros(y) < 64);
}

TEST_CASE("dropout: the same seed gives the same mask; another seed or the next call does not") {
  const Tensor x = nonzero_input({2000}, 144);
  Generator a(7), b(7), c(8);
  const Tensor ya = nn::dropout(x, 0.4, true, &a), yb = nn::dropout(x, 0.4, true, &b);
  CHECK(ya.to_vector() == yb.to_vector());
  CHECK(ya.to_vector() != nn::dropout(x, 0.4, true, &c).to_vector());
  CHECK(ya.to_vector() != nn::dropout(x, 0.4, true, &a).to_vector());  // a has moved on
  // the module draws from the global generator, so manual_seed fixes its masks
  nn::Dropout drop(0.4);
  manual_seed(9);
  const std::vector<scalar_t> first = drop(x).to_vector();
  manual_seed(9);
  CHECK(drop(x).to_vector() == first);
  CHECK(drop(x).to_vector() != first);
}

TEST_CASE("dropout: the gradient is the mask: g / (1 - p) where kept, 0 where dropped") {
  const double p = 0.25;
  const Tensor x = nonzero_input({10, 20}, 145).requires_grad_();
  Generator gen(146);
  const Tensor y = nn::dropout(x, p, true, &gen);
  const Tensor g = nonzero_input({10, 20}, 147);
  y.backward(g);
  const Tensor dx = x.grad();
  const scalar_t scale = static_cast<scalar_t>(1 / (1 - p));  // 4/3
  int64_t dropped = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const bool kept = y.data()[i] != 0;
    dropped += !kept;
    CHECK(dx.data()[i] == (kept ? g.data()[i] * scale : scalar_t(0)));
  }
  CHECK(dropped > 0);
  CHECK(dropped < x.numel());
  // an input that does not require grad gives an output without a graph
  Generator gen2(146);
  CHECK_FALSE(nn::dropout(nonzero_input({4}, 148), p, true, &gen2).requires_grad());
}

TEST_CASE("dropout: gradcheck with the mask fixed by a generator re-seeded on every evaluation") {
  for (double p : {0.2, 0.5, 0.7}) {
    INFO("p = " << p);
    CHECK_GRAD([p](auto& in) {
      Generator gen(149);  // the same mask on every call
      return nn::dropout(in[0], p, true, &gen);
    }, {param({4, 5}, 150)});
    // inside a larger expression, with enough outputs for projections
    CHECK_GRAD([p](auto& in) {
      Generator gen(151);
      return tanh(nn::dropout(in[0] * in[1], p, true, &gen));
    }, {param({8, 12}, 152), param({12}, 153)});
  }
}

TEST_CASE("dropout: a NaN stays NaN even where it is dropped (x times the mask, as PyTorch)") {
  const int64_t n = 1000;
  Tensor x = full({n}, std::numeric_limits<scalar_t>::quiet_NaN());
  Generator gen(4);
  const Tensor y = nn::dropout(x, 0.5, true, &gen);
  int64_t nans = 0;
  for (int64_t i = 0; i < n; ++i) nans += std::isnan(y.data()[i]) ? 1 : 0;
  CHECK(nans == n);  // training must not hide a NaN that reached this layer
}

TEST_CASE("dropout: p = 1 drops everything and passes no gradient") {
  const Tensor x = nonzero_input({5, 6}, 154).requires_grad_();
  const Tensor y = nn::dropout(x, 1, true);
  CHECK(y.shape() == x.shape());
  CHECK(count_zeros(y) == 30);
  y.backward(ones({5, 6}));
  CHECK(x.grad().to_vector() == std::vector<scalar_t>(30, 0));
  nn::Dropout all(1);
  CHECK(count_zeros(all(x)) == 30);
}

TEST_CASE("dropout: a probability outside [0, 1] is an error") {
  const Tensor x = ones({3});
  CHECK(throws_with([&] { nn::dropout(x, 1.5, true); }, "1.5"));
  CHECK(throws_with([&] { nn::dropout(x, -0.1, true); }, "-0.1"));
  CHECK(throws_with([&] { nn::dropout(x, 1.5, false); }, "outside [0, 1]"));  // checked in eval too
  CHECK(throws_with([&] { nn::dropout(x, std::nan(""), true); }, "outside [0, 1]"));
  CHECK(throws_with([] { nn::Dropout(2); }, "Dropout: probability 2"));
  CHECK(throws_with([] { nn::Dropout(-1); }, "outside [0, 1]"));
}

TEST_CASE("dropout module: str shows p") {
  CHECK(nn::Dropout(0.1).str() == "Dropout(p=0.1)\n");
  CHECK(nn::Dropout().p == 0.5);
}
