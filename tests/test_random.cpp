// tests/test_random.cpp — seeded, reproducible, thread-count independent random numbers.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

TEST_CASE("same seed gives bit-identical tensors; another seed does not") {
  Generator a(42), b(42), c(43);
  Tensor x = randn({1000}, &a), y = randn({1000}, &b), z = randn({1000}, &c);
  CHECK(x.to_vector() == y.to_vector());
  CHECK(x.to_vector() != z.to_vector());
  // successive draws differ
  CHECK(randn({1000}, &a).to_vector() != x.to_vector());
  manual_seed(7);
  Tensor g1 = rand({10});
  manual_seed(7);
  CHECK(rand({10}).to_vector() == g1.to_vector());
}

TEST_CASE("set_state(seed(), offset()) continues the draws exactly where they stopped") {
  Generator a(9);
  (void)randn({37}, &a);
  Generator b(0);
  b.set_state(a.seed(), a.offset());
  CHECK(randn({100}, &a).to_vector() == randn({100}, &b).to_vector());
  CHECK(a.next_u32() == b.next_u32());
}

TEST_CASE("the numbers do not depend on the thread count") {
  const int before = get_num_threads();
  Generator a(5), b(5);
  set_num_threads(1);
  Tensor x = randn({1 << 20}, &a);
  set_num_threads(2);
  Tensor y = randn({1 << 20}, &b);
  set_num_threads(before);
  CHECK(x.to_vector() == y.to_vector());
}

TEST_CASE("distributions have the right moments and ranges") {
  Generator gen(1);
  const int64_t n = 200000;
  Tensor x = randn({n}, &gen);
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    s += x.data()[i];
    s2 += x.data()[i] * x.data()[i];
  }
  const double m = s / n, v = s2 / n - m * m;
  CHECK(std::abs(m) < 0.01);        // standard error 0.0022
  CHECK(std::abs(v - 1) < 0.02);
  Tensor u = uniform({n}, -2, 3, &gen);
  const auto uv = u.to_vector();
  CHECK(*std::min_element(uv.begin(), uv.end()) >= -2);
  CHECK(*std::max_element(uv.begin(), uv.end()) < 3);
  CHECK(std::abs(std::accumulate(uv.begin(), uv.end(), 0.0) / n - 0.5) < 0.02);
  std::vector<scalar_t> bern(n);
  gen.fill_bernoulli(bern.data(), n, 0.3);
  const double ones_frac = std::accumulate(bern.begin(), bern.end(), 0.0) / n;
  CHECK(std::abs(ones_frac - 0.3) < 0.01);
  CHECK(std::all_of(bern.begin(), bern.end(), [](scalar_t b) { return b == 0 || b == 1; }));
  CHECK(throws_with([&] { gen.fill_bernoulli(bern.data(), 1, 1.5); }, "outside [0, 1]"));
}

TEST_CASE("permutation is a permutation, reproducible from the seed") {
  Generator a(9), b(9);
  auto p = a.permutation(1000);
  CHECK(p == b.permutation(1000));
  auto sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 1000; ++i) CHECK(sorted[i] == i);
  CHECK(p != sorted);
  CHECK(randperm(5).size() == 5);
}
