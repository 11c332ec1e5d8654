// tests/test_init.cpp — nn/init.cpp: gains, fans, the uniform/normal/Xavier/Kaiming fills, and
// Linear's default initialisation.
//
// Bounds are exact (every value inside, the extreme values close to the bound); standard
// deviations of large samples are compared with theory at tolerances several standard errors
// wide; a seed must reproduce every value.
#include <algorithm>
#include <cmath>
#include <vector>

#include "nn/init.h"
#include "nn/linear.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;
namespace init = tessera::nn::init;

namespace {

struct Stats {
  double mean, stddev, max_abs, min, max;
};

Stats stats(const Tensor& t) {
  const int64_t n = t.numel();
  const scalar_t* d = t.data();
  double sum = 0, max_abs = 0, lo = d[0], hi = d[0];
  for (int64_t i = 0; i < n; ++i) {
    sum += d[i];
    max_abs = std::max(max_abs, std::abs(static_cast<double>(d[i])));
    lo = std::min(lo, static_cast<double>(d[i]));
    hi = std::max(hi, static_cast<double>(d[i]));
  }
  const double mean = sum / static_cast<double>(n);
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) sq += (d[i] - mean) * (d[i] - mean);
  return {mean, std::sqrt(sq / static_cast<double>(n)), max_abs, lo, hi};
}

// Every value in [-bound, bound), the extremes within 1% of ±bound, the spread that of
// U(-bound, bound) (std = bound / √3) within 2%, the mean near 0.
void check_uniform(const Tensor& t, double bound) {
  const Stats s = stats(t);
  INFO("bound " << bound << ", min " << s.min << ", max " << s.max << ", std " << s.stddev);
  CHECK(s.min >= -bound);
  CHECK(s.max < bound);
  CHECK(s.min < -0.99 * bound);
  CHECK(s.max > 0.99 * bound);
  CHECK(std::abs(s.stddev - bound / std::sqrt(3.0)) < 0.02 * bound / std::sqrt(3.0));
  CHECK(std::abs(s.mean) < 0.02 * bound);
}

// Mean near 0 and std within 3% of `stddev` (several standard errors for the sizes used).
void check_normal(const Tensor& t, double stddev) {
  const Stats s = stats(t);
  INFO("expected std " << stddev << ", got " << s.stddev << ", mean " << s.mean);
  CHECK(std::abs(s.stddev - stddev) < 0.03 * stddev);
  CHECK(std::abs(s.mean) < 0.05 * stddev);
  CHECK(s.max_abs > 3 * stddev);  // a normal, not a uniform: tails beyond 3σ in a large sample
}

}  // namespace

TEST_CASE("init: calculate_gain gives the recommended gains") {
  CHECK(init::calculate_gain("linear") == 1);
  CHECK(init::calculate_gain("sigmoid") == 1);
  CHECK(init::calculate_gain("conv2d") == 1);
  CHECK(init::calculate_gain("tanh") == doctest::Approx(5.0 / 3).epsilon(1e-15));
  CHECK(init::calculate_gain("relu") == doctest::Approx(1.4142135623730951).epsilon(1e-15));
  CHECK(init::calculate_gain("selu") == 0.75);
  // leaky_relu: √(2 / (1 + a²)); a = 0.01 by default
  CHECK(init::calculate_gain("leaky_relu") == doctest::Approx(std::sqrt(2 / 1.0001)).epsilon(1e-15));
  CHECK(init::calculate_gain("leaky_relu", 0.2) == doctest::Approx(std::sqrt(2 / 1.04)).epsilon(1e-15));
  CHECK(init::calculate_gain("leaky_relu", 0) == doctest::Approx(std::sqrt(2.0)).epsilon(1e-15));
  // a = √5 (PyTorch's Linear default): √(2 / 6) = 1/√3
  CHECK(init::calculate_gain("leaky_relu", std::sqrt(5.0)) == doctest::Approx(1 / std::sqrt(3.0)).epsilon(1e-14));
  CHECK(throws_with([] { init::calculate_gain("swish"); }, "'swish'"));
}

TEST_CASE("init: fans of a linear weight [out, in] and a conv weight [out, in, kh, kw]") {
  const init::Fans linear = init::fans({3, 5});
  CHECK(linear.fan_in == 5);
  CHECK(linear.fan_out == 3);
  const init::Fans conv = init::fans({4, 3, 2, 5});  // receptive field 2·5 = 10
  CHECK(conv.fan_in == 30);
  CHECK(conv.fan_out == 40);
  const init::Fans conv1d = init::fans({6, 2, 7});
  CHECK(conv1d.fan_in == 14);
  CHECK(conv1d.fan_out == 42);
  CHECK(throws_with([] { init::fans({7}); }, "[7]"));
  CHECK(throws_with([] { init::fans(Shape{}); }, "rank >= 2"));
  Tensor bias = zeros({4});
  CHECK(throws_with([&] { init::xavier_uniform_(bias); }, "rank >= 2"));
}

TEST_CASE("init: uniform_, normal_, constant_, zeros_, ones_") {
  Generator gen(1);
  Tensor u = empty({100000});
  init::uniform_(u, -0.5, 1.5, &gen);
  const Stats su = stats(u);
  CHECK(su.min >= -0.5);
  CHECK(su.max < 1.5);
  CHECK(su.min < -0.49);
  CHECK(su.max > 1.49);
  CHECK(su.mean == doctest::Approx(0.5).epsilon(0.01));
  CHECK(su.stddev == doctest::Approx(2 / std::sqrt(12.0)).epsilon(0.01));

  Tensor n = empty({100000});
  init::normal_(n, 3, 0.25, &gen);
  const Stats sn = stats(n);
  CHECK(sn.mean == doctest::Approx(3).epsilon(0.005));
  CHECK(sn.stddev == doctest::Approx(0.25).epsilon(0.02));

  Tensor c = empty({2, 3});
  init::constant_(c, -2.5);
  CHECK(c.to_vector() == std::vector<scalar_t>(6, scalar_t(-2.5)));
  init::zeros_(c);
  CHECK(c.to_vector() == std::vector<scalar_t>(6, scalar_t(0)));
  init::ones_(c);
  CHECK(c.to_vector() == std::vector<scalar_t>(6, scalar_t(1)));
}

TEST_CASE("init: xavier_uniform_ stays within gain·√(6 / (fan_in + fan_out))") {
  Generator gen(2);
  Tensor w = empty({200, 300});
  init::xavier_uniform_(w, 1, &gen);
  check_uniform(w, std::sqrt(6.0 / 500));
  // with a gain, on a conv weight: fan_in 32·9 = 288, fan_out 64·9 = 576
  Tensor conv = empty({64, 32, 3, 3});
  init::xavier_uniform_(conv, init::calculate_gain("tanh"), &gen);
  check_uniform(conv, 5.0 / 3 * std::sqrt(6.0 / 864));
}

TEST_CASE("init: xavier_normal_ has std gain·√(2 / (fan_in + fan_out))") {
  Generator gen(3);
  Tensor w = empty({200, 300});
  init::xavier_normal_(w, 1, &gen);
  check_normal(w, std::sqrt(2.0 / 500));
  Tensor conv = empty({64, 32, 3, 3});  // fan_in 288, fan_out 576
  init::xavier_normal_(conv, 2, &gen);
  check_normal(conv, 2 * std::sqrt(2.0 / 864));
}

TEST_CASE("init: kaiming_uniform_ stays within gain·√(3 / fan)") {
  Generator gen(4);
  Tensor w = empty({300, 200});
  // a = 0, leaky_relu: gain √2, fan_in 200 -> bound √(6 / 200)
  init::kaiming_uniform_(w, 0, true, "leaky_relu", &gen);
  check_uniform(w, std::sqrt(6.0 / 200));
  // fan_out mode, relu: bound √2 · √(3 / 300)
  init::kaiming_uniform_(w, 0, false, "relu", &gen);
  check_uniform(w, std::sqrt(6.0 / 300));
  // a = √5 (PyTorch's Linear default): bound 1/√fan_in
  init::kaiming_uniform_(w, std::sqrt(5.0), true, "leaky_relu", &gen);
  check_uniform(w, 1 / std::sqrt(200.0));
  // conv: fan_in 8·5·5 = 200
  Tensor conv = empty({64, 8, 5, 5});
  init::kaiming_uniform_(conv, 0, true, "relu", &gen);
  check_uniform(conv, std::sqrt(6.0 / 200));
}

TEST_CASE("init: kaiming_normal_ has std gain / √fan") {
  Generator gen(5);
  Tensor w = empty({300, 200});
  init::kaiming_normal_(w, 0, true, "relu", &gen);
  check_normal(w, std::sqrt(2.0 / 200));
  init::kaiming_normal_(w, 0, false, "relu", &gen);
  check_normal(w, std::sqrt(2.0 / 300));
  init::kaiming_normal_(w, 0, true, "tanh", &gen);
  check_normal(w, 5.0 / 3 / std::sqrt(200.0));
  init::kaiming_normal_(w, 0.2, true, "leaky_relu", &gen);
  check_normal(w, std::sqrt(2 / 1.04) / std::sqrt(200.0));
  CHECK(throws_with([&] { init::kaiming_normal_(w, 0, true, "softplus", &gen); }, "softplus"));
}

TEST_CASE("init: the same seed reproduces every initialiser; another seed does not") {
  auto fill_all = [](uint64_t seed) {
    Generator gen(seed);
    Tensor a = empty({20, 30}), b = empty({20, 30}), c = empty({20, 30}), d = empty({20, 30});
    init::xavier_uniform_(a, 1, &gen);
    init::xavier_normal_(b, 1, &gen);
    init::kaiming_uniform_(c, 0, true, "relu", &gen);
    init::kaiming_normal_(d, 0, true, "relu", &gen);
    return std::vector<std::vector<scalar_t>>{a.to_vector(), b.to_vector(), c.to_vector(), d.to_vector()};
  };
  const auto first = fill_all(9), again = fill_all(9), other = fill_all(10);
  CHECK(first == again);
  for (size_t i = 0; i < first.size(); ++i) CHECK(first[i] != other[i]);
  // successive fills from one generator differ
  CHECK(first[0] != first[2]);

  // without a generator the global one is used, so manual_seed fixes it
  Tensor x = empty({50}), y = empty({50});
  manual_seed(77);
  init::normal_(x, 0, 1);
  manual_seed(77);
  init::normal_(y, 0, 1);
  CHECK(x.to_vector() == y.to_vector());
}

TEST_CASE("init: Linear's default init is U(-1/√in, 1/√in) for weight and bias, fixed by the seed") {
  manual_seed(123);
  nn::Linear layer(256, 400);
  const double bound = 1 / 16.0;
  check_uniform(layer.weight, bound);  // 102,400 values
  // the bias: 400 values, so the extremes get within 5% of the bound (each misses with
  // probability 0.975^400 ≈ 4e-5)
  const Stats b = stats(layer.bias);
  CHECK(b.min >= -bound);
  CHECK(b.max < bound);
  CHECK(b.min < -0.95 * bound);
  CHECK(b.max > 0.95 * bound);

  // a small layer: every value inside 1/√3
  nn::Linear small(3, 1000);
  const double small_bound = 1 / std::sqrt(3.0);
  CHECK(stats(small.weight).max_abs < small_bound);
  CHECK(stats(small.weight).max_abs > 0.99 * small_bound);
  CHECK(stats(small.bias).max_abs < small_bound);
  CHECK(stats(small.bias).max_abs > 0.98 * small_bound);

  manual_seed(123);
  nn::Linear same(256, 400);
  CHECK(same.weight.to_vector() == layer.weight.to_vector());
  CHECK(same.bias.to_vector() == layer.bias.to_vector());
  nn::Linear next(256, 400);
  CHECK(next.weight.to_vector() != layer.weight.to_vector());
}
