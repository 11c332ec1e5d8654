// tests/test_ops_reduce.cpp — engine/ops_reduce.cpp: sum, mean, var, max, sum_to.
//
// Gradient checks over all / one / several dims with and without keepdim; known values worked
// out by hand; the multi-threaded kernels against a naive double-precision loop; errors.
#include <cmath>
#include <limits>
#include <vector>

#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

// Value tolerance: a few ulps of the build's scalar type.
const double kTol = kDouble ? 1e-12 : 1e-6;

// Naive reduction of x ([outer, n, inner] view of dim d) in double: sum or max.
std::vector<double> naive_reduce(const Tensor& x, int d, bool take_max) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= x.shape()[i];
  for (int i = d + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  const int64_t n = x.shape()[d];
  std::vector<double> out(outer * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double acc = take_max ? -std::numeric_limits<double>::infinity() : 0.0;
      for (int64_t r = 0; r < n; ++r) {
        const double v = x.data()[(o * n + r) * inner + i];
        acc = take_max ? std::max(acc, v) : acc + v;
      }
      out[o * inner + i] = acc;
    }
  return out;
}

}  // namespace

// ---------------- gradient checks ----------------

TEST_CASE("reduce: sum passes gradcheck over all, one and several dims, with and without keepdim") {
  CHECK_GRAD([](auto& in) { return sum(in[0]); }, {param({3, 4}, 1)});
  CHECK_GRAD([](auto& in) { return sum(in[0], {}); }, {param({3, 4}, 2)});
  CHECK_GRAD([](auto& in) { return sum(in[0], {}, true); }, {param({3, 4}, 3)});
  CHECK_GRAD([](auto& in) { return sum(in[0], {0}); }, {param({3, 4}, 4)});
  CHECK_GRAD([](auto& in) { return sum(in[0], {1}, true); }, {param({3, 4}, 5)});
  CHECK_GRAD([](auto& in) { return sum(in[0], {-1}); }, {param({2, 3, 4}, 6)});
  CHECK_GRAD([](auto& in) { return sum(in[0], {1}); }, {param({2, 3, 4}, 7)});
  CHECK_GRAD([](auto& in) { return sum(in[0], {0, 2}); }, {param({2, 3, 4}, 8)});
  CHECK_GRAD([](auto& in) { return sum(in[0], {2, 0}, true); }, {param({2, 3, 4}, 9)});
  CHECK_GRAD([](auto& in) { return sum(in[0], {0, 1, 2}, true); }, {param({2, 3, 4}, 10)});
  CHECK_GRAD([](auto& in) { return sum(in[0], {-3, -2, -1}); }, {param({2, 3, 4}, 11)});
  CHECK_GRAD([](auto& in) { return sum(in[0]); }, {param({}, 12)});
  CHECK_GRAD([](auto& in) { return in[0].sum({1}) * in[0].sum({0}, true); }, {param({3, 3}, 13)});
}

TEST_CASE("reduce: mean passes gradcheck over all, one and several dims, with and without keepdim") {
  CHECK_GRAD([](auto& in) { return mean(in[0]); }, {param({3, 4}, 20)});
  CHECK_GRAD([](auto& in) { return mean(in[0], {0}); }, {param({3, 4}, 21)});
  CHECK_GRAD([](auto& in) { return mean(in[0], {-1}, true); }, {param({3, 4}, 22)});
  CHECK_GRAD([](auto& in) { return mean(in[0], {0, 2}); }, {param({2, 3, 4}, 23)});
  CHECK_GRAD([](auto& in) { return mean(in[0], {1, 2}, true); }, {param({2, 3, 4}, 24)});
  CHECK_GRAD([](auto& in) { return mean(in[0], {}); }, {param({2, 3, 4}, 25)});
}

TEST_CASE("reduce: var passes gradcheck with correction 0 and 1") {
  for (const int correction : {0, 1}) {
    CAPTURE(correction);
    CHECK_GRAD([correction](auto& in) { return var(in[0], {}, false, correction); }, {param({3, 4}, 30)});
    CHECK_GRAD([correction](auto& in) { return var(in[0], std::vector<int>{0}, false, correction); },
               {param({3, 4}, 31)});
    CHECK_GRAD([correction](auto& in) { return var(in[0], std::vector<int>{-1}, true, correction); },
               {param({3, 4}, 32)});
    CHECK_GRAD([correction](auto& in) { return var(in[0], std::vector<int>{0, 2}, false, correction); },
               {param({2, 3, 4}, 33)});
    CHECK_GRAD([correction](auto& in) { return var(in[0], std::vector<int>{1, 2}, true, correction); },
               {param({2, 3, 4}, 34)});
    CHECK_GRAD([correction](auto& in) { return var(in[0], std::vector<int>{}, true, correction); },
               {param({2, 3, 4}, 35)});
  }
  // var inside a larger expression (layer-norm-like): the saved centred values must be right
  CHECK_GRAD([](auto& in) { return (in[0] - mean(in[0], {-1}, true)) / sqrt(var(in[0], std::vector<int>{-1}, true, 0) + 1e-5); },
             {param({3, 5}, 36)});
}

TEST_CASE("reduce: max values pass gradcheck") {
  CHECK_GRAD([](auto& in) { return max(in[0], 0).values; }, {spaced({3, 4}, 40)});
  CHECK_GRAD([](auto& in) { return max(in[0], 1).values; }, {spaced({3, 4}, 41)});
  CHECK_GRAD([](auto& in) { return max(in[0], -1, true).values; }, {spaced({3, 4}, 42)});
  CHECK_GRAD([](auto& in) { return max(in[0], 1).values; }, {spaced({2, 3, 4}, 43)});
  CHECK_GRAD([](auto& in) { return max(in[0], 0, true).values; }, {spaced({2, 3, 4}, 44)});
  CHECK_GRAD([](auto& in) { return max(in[0], 2).values; }, {spaced({2, 3, 4}, 45)});
  CHECK_GRAD([](auto& in) { return max(in[0]); }, {spaced({2, 3, 4}, 46)});
  CHECK_GRAD([](auto& in) { return max(in[0], 0).values; }, {spaced({5}, 47)});
  CHECK_GRAD([](auto& in) { return max(in[0], 0).values; }, {param({}, 48)});
}

TEST_CASE("reduce: sum_to passes gradcheck and gives known values") {
  CHECK_GRAD([](auto& in) { return sum_to(in[0], {4}); }, {param({2, 3, 4}, 50)});
  CHECK_GRAD([](auto& in) { return sum_to(in[0], {3, 1}); }, {param({2, 3, 4}, 51)});
  CHECK_GRAD([](auto& in) { return sum_to(in[0], {2, 1, 4}); }, {param({2, 3, 4}, 52)});
  CHECK_GRAD([](auto& in) { return sum_to(in[0], {}); }, {param({2, 3}, 53)});
  CHECK_GRAD([](auto& in) { return sum_to(in[0], {1, 1}); }, {param({2, 3}, 54)});

  const Tensor x = from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(all_close(sum_to(x, {3}), {5, 7, 9}, 0, 0));
  CHECK(all_close(sum_to(x, {2, 1}), {6, 15}, 0, 0));
  CHECK(sum_to(x, {2, 1}).shape() == Shape{2, 1});
  CHECK(all_close(sum_to(x, {}), {21}, 0, 0));
  CHECK(sum_to(x, {}).shape() == Shape{});
  CHECK(all_close(sum_to(x, {1, 3}), {5, 7, 9}, 0, 0));
  CHECK(sum_to(x, {2, 3}).same(x));  // nothing to reduce: the same tensor
}

// ---------------- known values ----------------

TEST_CASE("reduce: sum and mean give known values") {
  // x = [[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]], [[12, ...], ...]]: x[i][j][k] = 12i + 4j + k
  const Tensor x = reshape(arange(24), Shape{2, 3, 4});
  CHECK(sum(x).shape() == Shape{});
  CHECK(sum(x).item() == 276);  // 0 + ... + 23
  CHECK(all_close(sum(x, {0}), {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34}, 0, 0));
  CHECK(sum(x, {0}).shape() == Shape{3, 4});
  CHECK(all_close(sum(x, {1}), {12, 15, 18, 21, 48, 51, 54, 57}, 0, 0));
  CHECK(all_close(sum(x, {2}, true), {6, 22, 38, 54, 70, 86}, 0, 0));
  CHECK(sum(x, {2}, true).shape() == Shape{2, 3, 1});
  CHECK(all_close(sum(x, {0, 2}), {60, 92, 124}, 0, 0));
  CHECK(sum(x, {0, 2}, true).shape() == Shape{1, 3, 1});
  CHECK(all_close(sum(x, {-1, -3}), {60, 92, 124}, 0, 0));
  CHECK(sum(x, {0, 1, 2}).shape() == Shape{});
  CHECK(sum(x, {0, 1, 2}, true).shape() == Shape{1, 1, 1});
  CHECK(sum(x, {0, 1, 2}, true).item() == 276);
  CHECK(mean(x).item() == doctest::Approx(11.5));
  CHECK(all_close(mean(x, {1}), {4, 5, 6, 7, 16, 17, 18, 19}, kTol, kTol));
  CHECK(all_close(mean(x, {0, 1}), {10, 11, 12, 13}, kTol, kTol));
  CHECK(mean(x, {0, 1}, true).shape() == Shape{1, 1, 4});
  // Tensor methods forward to the same ops
  CHECK(x.sum({1}).shape() == Shape{2, 4});
  CHECK(x.mean().item() == doctest::Approx(11.5));
}

TEST_CASE("reduce: var of [1, 2, 3, 4] is 5/3 unbiased and 5/4 biased") {
  // mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5
  const Tensor x = from_vector({1, 2, 3, 4});
  CHECK(var(x).item() == doctest::Approx(5.0 / 3).epsilon(kTol));
  CHECK(var(x, {}, false, 1).item() == doctest::Approx(1.6666666666666667).epsilon(kTol));
  CHECK(var(x, {}, false, 0).item() == doctest::Approx(1.25).epsilon(kTol));
  CHECK(var(x).shape() == Shape{});

  // per dim: [[1, 2], [3, 5]] — columns {1, 3}, {2, 5}; rows {1, 2}, {3, 5}
  const Tensor m = from_vector({1, 2, 3, 5}, {2, 2});
  CHECK(all_close(var(m, std::vector<int>{0}), {2, 4.5}, kTol, kTol));
  CHECK(all_close(var(m, std::vector<int>{0}, false, 0), {1, 2.25}, kTol, kTol));
  CHECK(all_close(var(m, std::vector<int>{1}, true), {0.5, 2}, kTol, kTol));
  CHECK(var(m, std::vector<int>{1}, true).shape() == Shape{2, 1});
  // all four: mean 2.75, deviations² 3.0625 + 0.5625 + 0.0625 + 5.0625 = 8.75
  CHECK(var(m, std::vector<int>{0, 1}).item() == doctest::Approx(8.75 / 3).epsilon(kTol));
  CHECK(var(m, std::vector<int>{0, 1}, true, 0).item() == doctest::Approx(8.75 / 4).epsilon(kTol));

  // the gradient: d var / dx_i = 2 (x_i − mean) / (N − correction)
  const Tensor p = from_vector({1, 2, 3, 4}).requires_grad_();
  var(p).backward();
  CHECK(all_close(p.grad(), {-1, -1.0 / 3, 1.0 / 3, 1}, kTol, kTol));
  p.zero_grad();
  var(p, {}, false, 0).backward();
  CHECK(all_close(p.grad(), {-0.75, -0.25, 0.25, 0.75}, kTol, kTol));
  // a constant has zero variance
  CHECK(var(full({5}, 3)).item() == 0);
}

TEST_CASE("reduce: max gives values and indices, the first index on ties") {
  // [[1, 5, 5], [7, 2, 7]]
  const Tensor x = from_vector({1, 5, 5, 7, 2, 7}, {2, 3}).requires_grad_();
  MaxResult rows = max(x, 1);
  CHECK(rows.values.shape() == Shape{2});
  CHECK(all_close(rows.values, {5, 7}, 0, 0));
  CHECK(rows.indices.shape() == Shape{2});
  CHECK(rows.indices.values() == std::vector<int64_t>{1, 0});
  MaxResult columns = max(x, 0, true);
  CHECK(columns.values.shape() == Shape{1, 3});
  CHECK(all_close(columns.values, {7, 5, 7}, 0, 0));
  CHECK(columns.indices.shape() == Shape{1, 3});
  CHECK(columns.indices.values() == std::vector<int64_t>{1, 0, 1});
  MaxResult last = max(x, -1, true);
  CHECK(last.values.shape() == Shape{2, 1});
  CHECK(last.indices.values() == std::vector<int64_t>{1, 0});
  CHECK(max(x).item() == 7);
  CHECK(max(x).shape() == Shape{});

  // the gradient goes only to the first maximal entry of each row
  rows.values.sum().backward();
  CHECK(all_close(x.grad(), {0, 1, 0, 1, 0, 0}, 0, 0));
  x.zero_grad();
  max(x).backward();
  CHECK(all_close(x.grad(), {0, 0, 0, 1, 0, 0}, 0, 0));
  x.zero_grad();
  // an upstream gradient other than 1 is routed, not just marked
  max(x, 0).values.backward(from_vector({2, 3, 4}));
  CHECK(all_close(x.grad(), {0, 3, 0, 2, 0, 4}, 0, 0));

  // a middle dim of a rank-3 tensor: x[i][j][k] = 12i + 4j + k, so the max is at j = 2
  const Tensor r = reshape(arange(24), Shape{2, 3, 4});
  const MaxResult mid = max(r, 1);
  CHECK(mid.values.shape() == Shape{2, 4});
  CHECK(all_close(mid.values, {8, 9, 10, 11, 20, 21, 22, 23}, 0, 0));
  CHECK(mid.indices.values() == std::vector<int64_t>(8, 2));
  // negative values only, and -inf
  const scalar_t inf = std::numeric_limits<scalar_t>::infinity();
  const MaxResult negative = max(from_vector({-3, -1, -2, -inf, -inf, -inf}, {2, 3}), 1);
  CHECK(negative.values.data()[0] == -1);
  CHECK(negative.values.data()[1] == -inf);
  CHECK(negative.indices.values() == std::vector<int64_t>{1, 0});
}

TEST_CASE("reduce: NaN counts as the maximum, as in PyTorch") {
  const scalar_t nan = std::numeric_limits<scalar_t>::quiet_NaN();
  const MaxResult m = max(from_vector({1, nan, 3, 4, 5, nan}, {2, 3}), 1);
  CHECK(std::isnan(m.values.data()[0]));
  CHECK(std::isnan(m.values.data()[1]));
  CHECK(m.indices.values() == std::vector<int64_t>{1, 2});
  CHECK(std::isnan(max(from_vector({nan, 1, 2})).item()));
}

TEST_CASE("reduce: gradients of sum and mean by hand") {
  const Tensor x = reshape(arange(6), Shape{2, 3}).detach().requires_grad_();
  sum(x).backward();
  CHECK(all_close(x.grad(), {1, 1, 1, 1, 1, 1}, 0, 0));
  x.zero_grad();
  sum(x, {1}).backward(from_vector({2, 3}));
  CHECK(all_close(x.grad(), {2, 2, 2, 3, 3, 3}, 0, 0));
  x.zero_grad();
  sum(x, {0}, true).backward(from_vector({1, 2, 3}, {1, 3}));
  CHECK(all_close(x.grad(), {1, 2, 3, 1, 2, 3}, 0, 0));
  x.zero_grad();
  mean(x).backward();
  CHECK(all_close(x.grad(), std::vector<double>(6, 1.0 / 6), kTol, kTol));
  x.zero_grad();
  mean(x, {0}).backward(from_vector({2, 4, 6}));
  CHECK(all_close(x.grad(), {1, 2, 3, 1, 2, 3}, kTol, kTol));
}

TEST_CASE("reduce: large inputs match a naive loop (multi-threaded kernels)") {
  Generator gen(3);
  const double tol = kDouble ? 1e-10 : 2e-4;
  SUBCASE("full sum over more than one block") {
    const Tensor x = uniform({300001}, -1, 1, &gen);
    double want = 0;
    for (int64_t i = 0; i < x.numel(); ++i) want += x.data()[i];
    // float: 4096-element blocks summed in float, so a few 1e-4 of rounding in a total of ~300
    CHECK(std::abs(sum(x).item() - want) <= (kDouble ? 1e-9 : 1e-2));
    // the blocked sum is deterministic: same result on a second call
    CHECK(sum(x).item() == sum(x).item());
    CHECK(sum(ones({1 << 20})).item() == static_cast<scalar_t>(1 << 20));
  }
  SUBCASE("one dim: contiguous rows (inner == 1) and strided rows (inner > 1)") {
    const Tensor x = uniform({8, 50, 1000}, -1, 1, &gen);
    for (int d = 0; d < 3; ++d) {
      CAPTURE(d);
      CHECK(all_close(sum(x, {d}), naive_reduce(x, d, false), tol, tol));
      CHECK(all_close(max(x, d).values, naive_reduce(x, d, true), 0, 0));
    }
    const Tensor rows = uniform({3000, 50}, -1, 1, &gen);
    CHECK(all_close(sum(rows, {1}), naive_reduce(rows, 1, false), tol, tol));
    CHECK(all_close(max(rows, 1).values, naive_reduce(rows, 1, true), 0, 0));
    CHECK(all_close(sum(rows, {0}), naive_reduce(rows, 0, false), kDouble ? 1e-10 : 1e-3, tol));
  }
  SUBCASE("max indices and the max gradient on a large tensor") {
    const Tensor x = uniform({3000, 40}, -1, 1, &gen).requires_grad_();
    const MaxResult m = max(x, 1);
    int64_t bad = 0;
    for (int64_t r = 0; r < 3000; ++r)
      if (x.at({r, m.indices.data()[r]}) != m.values.data()[r]) ++bad;
    CHECK(bad == 0);
    m.values.sum().backward();
    double total = 0;
    for (int64_t i = 0; i < x.numel(); ++i) total += x.grad().data()[i];
    CHECK(total == 3000);
  }
}

// ---------------- errors ----------------

TEST_CASE("reduce: bad dims and empty inputs throw errors that name the op") {
  const Tensor x = zeros({2, 3});
  CHECK(throws_with([&] { (void)sum(x, {2}); }, "sum: dim 2 is out of range for a tensor of rank 2 (valid: -2..1)"));
  CHECK(throws_with([&] { (void)sum(x, {-3}); }, "sum: dim -3 is out of range for a tensor of rank 2"));
  CHECK(throws_with([&] { (void)sum(x, {1, -1}); }, "sum: a dim is listed twice"));
  CHECK(throws_with([&] { (void)mean(x, {5}); }, "mean: dim 5 is out of range"));
  CHECK(throws_with([&] { (void)mean(zeros({0, 3})); }, "mean: the input is empty (shape [0, 3])"));
  CHECK(throws_with([&] { (void)mean(zeros({0, 3}), {0}); }, "mean: reducing over an empty dim of shape [0, 3]"));
  CHECK(throws_with([&] { (void)var(x, std::vector<int>{3}); }, "var: dim 3 is out of range"));
  CHECK(throws_with([&] { (void)var(zeros({1, 3}), std::vector<int>{0}); },
                    "var: 1 elements with correction 1 leave no degrees of freedom (input shape [1, 3])"));
  CHECK(throws_with([&] { (void)max(x, 2); }, "max: dim 2 is out of range for a tensor of rank 2"));
  CHECK(throws_with([&] { (void)max(zeros({2, 0}), 1); }, "max: dim 1 of shape [2, 0] is empty"));
  CHECK(throws_with([&] { (void)max(zeros({0})); }, "max: the input is empty (shape [0])"));
  CHECK(throws_with([&] { (void)sum_to(x, {4}); }, "sum_to: shape [2, 3] is not a broadcast of [4]"));
  CHECK(throws_with([&] { (void)sum_to(x, {1, 2, 3}); }, "sum_to: cannot reduce shape [2, 3] to the larger rank of [1, 2, 3]"));
}
