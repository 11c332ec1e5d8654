// tests/test_ops_softmax.cpp — engine/ops_softmax.cpp: softmax and log_softmax, plain and masked.
//
// Gradient checks over the last and other dims, with masks (broadcast ones, and rows whose every
// entry is masked); known values from the math; stability at large inputs; a fully masked row
// must give zeros / −inf and a zero gradient, never NaN.
#include <cmath>
#include <limits>
#include <vector>

#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

// Value tolerance: a few ulps of the build's scalar type.
const double kTol = kDouble ? 1e-12 : 1e-6;

const scalar_t kInf = std::numeric_limits<scalar_t>::infinity();

// 1 − mask, as a tensor (the positions a mask drops).
Tensor dropped(const Tensor& mask) {
  std::vector<scalar_t> values(mask.numel());
  for (int64_t i = 0; i < mask.numel(); ++i) values[i] = mask.data()[i] != 0 ? 0 : 1;
  return from_vector(values, mask.shape());
}

// log_softmax with the −inf entries replaced by 0, so finite differences stay finite: gradcheck
// then checks every entry a mask keeps (masked ones are constant −inf in any case).
Tensor masked_log_softmax_finite(const Tensor& x, int dim, const Tensor& mask) {
  return masked_fill(log_softmax(x, dim, mask), dropped(mask), 0);
}

bool any_nan(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (std::isnan(t.data()[i])) return true;
  return false;
}

}  // namespace

// ---------------- gradient checks ----------------

TEST_CASE("softmax: gradcheck over the last and non-last dims") {
  CHECK_GRAD([](auto& in) { return softmax(in[0], -1); }, {param({3, 5}, 1, -2, 2)});
  CHECK_GRAD([](auto& in) { return softmax(in[0], 1); }, {param({3, 5}, 2, -2, 2)});
  CHECK_GRAD([](auto& in) { return softmax(in[0], 0); }, {param({3, 5}, 3, -2, 2)});
  CHECK_GRAD([](auto& in) { return softmax(in[0], 1); }, {param({2, 3, 4}, 4, -2, 2)});
  CHECK_GRAD([](auto& in) { return softmax(in[0], 0); }, {param({2, 3, 4}, 5, -2, 2)});
  CHECK_GRAD([](auto& in) { return softmax(in[0], -1); }, {param({2, 3, 4}, 6, -2, 2)});
  CHECK_GRAD([](auto& in) { return softmax(in[0], 0); }, {param({6}, 7, -2, 2)});
  CHECK_GRAD([](auto& in) { return in[0].softmax(-1) * in[0]; }, {param({2, 4}, 8, -2, 2)});
}

TEST_CASE("log_softmax: gradcheck over the last and non-last dims") {
  CHECK_GRAD([](auto& in) { return log_softmax(in[0], -1); }, {param({3, 5}, 10, -2, 2)});
  CHECK_GRAD([](auto& in) { return log_softmax(in[0], 0); }, {param({3, 5}, 11, -2, 2)});
  CHECK_GRAD([](auto& in) { return log_softmax(in[0], 1); }, {param({2, 3, 4}, 12, -2, 2)});
  CHECK_GRAD([](auto& in) { return log_softmax(in[0], 0); }, {param({2, 3, 4}, 13, -2, 2)});
  CHECK_GRAD([](auto& in) { return log_softmax(in[0], 2); }, {param({2, 3, 4}, 14, -2, 2)});
  CHECK_GRAD([](auto& in) { return log_softmax(in[0], 0); }, {param({6}, 15, -2, 2)});
  CHECK_GRAD([](auto& in) { return in[0].log_softmax(-1) * in[0]; }, {param({2, 4}, 16, -2, 2)});
}

TEST_CASE("softmax and log_softmax: masked gradcheck, with fully masked rows and broadcast masks") {
  // row 2 fully masked
  const Tensor mask = from_vector({1, 0, 1, 1, 0,  //
                                   0, 1, 1, 0, 1,  //
                                   0, 0, 0, 0, 0,  //
                                   1, 1, 1, 1, 1},
                                  {4, 5});
  CHECK_GRAD([mask](auto& in) { return softmax(in[0], -1, mask); }, {param({4, 5}, 20, -2, 2)});
  CHECK_GRAD([mask](auto& in) { return masked_log_softmax_finite(in[0], -1, mask); }, {param({4, 5}, 21, -2, 2)});
  // over dim 0 of the same mask: column 4 keeps only rows 1 and 3, none is fully masked
  CHECK_GRAD([mask](auto& in) { return softmax(in[0], 0, mask); }, {param({4, 5}, 22, -2, 2)});
  CHECK_GRAD([mask](auto& in) { return masked_log_softmax_finite(in[0], 0, mask); }, {param({4, 5}, 23, -2, 2)});

  // a key-padding mask [B, 1, n] broadcast over the queries of [B, q, n]; batch 1 is all padding
  const Tensor padding = from_vector({1, 1, 1, 0, 0, 0, 0, 0}, {2, 1, 4});
  const Tensor full_padding = expand(padding, {2, 3, 4});
  CHECK_GRAD([padding](auto& in) { return softmax(in[0], -1, padding); }, {param({2, 3, 4}, 24, -2, 2)});
  CHECK_GRAD([padding, full_padding](auto& in) {
    return masked_fill(log_softmax(in[0], -1, padding), dropped(full_padding), 0);
  }, {param({2, 3, 4}, 25, -2, 2)});
  // a causal mask [n, n] broadcast over a batch, and a 1-D mask
  const Tensor causal = from_vector({1, 0, 0, 1, 1, 0, 1, 1, 1}, {3, 3});
  CHECK_GRAD([causal](auto& in) { return softmax(in[0], -1, causal); }, {param({2, 3, 3}, 26, -2, 2)});
  const Tensor keep = from_vector({0, 1, 1, 0});
  CHECK_GRAD([keep](auto& in) { return softmax(in[0], 1, keep); }, {param({3, 4}, 27, -2, 2)});
  // a broadcast mask on a non-last dim: [3, 1] over [3, 4], softmax over dim 0
  const Tensor rows = from_vector({1, 0, 1}, {3, 1});
  CHECK_GRAD([rows](auto& in) { return softmax(in[0], 0, rows); }, {param({3, 4}, 28, -2, 2)});
  CHECK_GRAD([rows](auto& in) { return masked_log_softmax_finite(in[0], 0, expand(rows, {3, 4})); },
             {param({3, 4}, 29, -2, 2)});
}

// ---------------- known values ----------------

TEST_CASE("softmax: known values") {
  // e^1 : e^2 : e^3 normalised
  CHECK(all_close(softmax(from_vector({1, 2, 3}), 0), {0.09003057317038046, 0.24472847105479767, 0.6652409557748219},
                  kTol, kTol));
  CHECK(all_close(softmax(from_vector({1, 2, 3}), -1), {0.09003057317038046, 0.24472847105479767, 0.6652409557748219},
                  kTol, kTol));
  // shifting the input changes nothing
  CHECK(all_close(softmax(from_vector({101, 102, 103}), 0),
                  {0.09003057317038046, 0.24472847105479767, 0.6652409557748219}, kTol, kTol));
  CHECK(all_close(softmax(from_vector({0, 0, 0, 0}), 0), {0.25, 0.25, 0.25, 0.25}, kTol, kTol));
  // over dim 0 of [[1, 2], [3, 4]]: each column is softmax([a, a + 2]) = [1, e²] / (1 + e²)
  CHECK(all_close(softmax(from_vector({1, 2, 3, 4}, {2, 2}), 0),
                  {0.11920292202211757, 0.11920292202211757, 0.8807970779778825, 0.8807970779778825}, kTol, kTol));
  // over dim 1 of the same: each row is softmax([a, a + 1])
  CHECK(all_close(softmax(from_vector({1, 2, 3, 4}, {2, 2}), 1),
                  {0.2689414213699951, 0.7310585786300049, 0.2689414213699951, 0.7310585786300049}, kTol, kTol));
  // a rank-0 input is a one-element distribution
  CHECK(softmax(scalar_tensor(5), 0).item() == 1);
  CHECK(log_softmax(scalar_tensor(5), -1).item() == 0);
}

TEST_CASE("log_softmax: known values; consistent with softmax; exp sums to one") {
  // log Σ e^(1, 2, 3) = 3 + log(1 + e⁻¹ + e⁻²) = 3.40760596444438
  CHECK(all_close(log_softmax(from_vector({1, 2, 3}), 0), {-2.40760596444438, -1.4076059644443801, -0.4076059644443803},
                  kTol, kTol));
  const Tensor x = param({4, 7}, 40, -3, 3).detach();
  for (const int dim : {0, 1}) {
    CAPTURE(dim);
    const Tensor ls = log_softmax(x, dim);
    const Tensor s = softmax(x, dim);
    CHECK(all_close(exp(ls), s, kTol, kDouble ? 1e-12 : 1e-5));
    CHECK(all_close(log(s), ls, kDouble ? 1e-12 : 1e-5, kDouble ? 1e-12 : 1e-5));
    const Tensor total = sum(exp(ls), {dim});
    CHECK(all_close(total, std::vector<double>(total.numel(), 1.0), kDouble ? 1e-12 : 1e-6, 0));
    const Tensor total_s = sum(s, {dim});
    CHECK(all_close(total_s, std::vector<double>(total_s.numel(), 1.0), kDouble ? 1e-12 : 1e-6, 0));
  }
}

TEST_CASE("softmax: large inputs stay finite") {
  CHECK(all_close(softmax(from_vector({1e4, 0}), 0), {1, 0}, 0, 0));
  CHECK(all_close(softmax(from_vector({-1e4, 0}), 0), {0, 1}, 0, 0));
  CHECK(all_close(softmax(from_vector({1e4, 1e4}), 0), {0.5, 0.5}, kTol, kTol));
  CHECK(all_close(log_softmax(from_vector({1e4, 0}), 0), {0, -1e4}, kTol, kTol));
  CHECK(all_close(log_softmax(from_vector({-1e4, 0}), 0), {-1e4, 0}, kTol, kTol));
  CHECK(all_close(softmax(from_vector({-1e30, 1e30, 0}), 0), {0, 1, 0}, 0, 0));
  // and so do their gradients
  const Tensor x = from_vector({1e4, 0, -1e4}).requires_grad_();
  (softmax(x, 0) * from_vector({1, 2, 3})).sum().backward();
  CHECK_FALSE(any_nan(x.grad()));
  CHECK(all_close(x.grad(), {0, 0, 0}, 1e-12, 0));
  x.zero_grad();
  log_softmax(x, 0).sum().backward();  // d/dx Σ log_softmax = 1 − n · softmax
  CHECK(all_close(x.grad(), {-2, 1, 1}, kTol, kTol));
}

TEST_CASE("softmax: masked entries get probability 0, log-probability -inf") {
  // mask [1, 0, 1]: softmax of [1, 3] = [1, e²] / (1 + e²), the middle entry dropped
  const Tensor x = from_vector({1, 2, 3});
  const Tensor mask = from_vector({1, 0, 1});
  CHECK(all_close(softmax(x, 0, mask), {0.11920292202211757, 0, 0.8807970779778825}, kTol, kTol));
  const Tensor ls = log_softmax(x, 0, mask);
  CHECK(ls.data()[0] == doctest::Approx(-2.1269280110429722).epsilon(kTol));
  CHECK(ls.data()[1] == -kInf);
  CHECK(ls.data()[2] == doctest::Approx(-0.12692801104297238).epsilon(kTol));
  // a masked entry's value does not matter, even a huge one
  CHECK(all_close(softmax(from_vector({1, 1e9, 3}), 0, mask), {0.11920292202211757, 0, 0.8807970779778825}, kTol, kTol));
  // a broadcast mask [1, 3] over [2, 3]; any non-zero mask value keeps the entry
  const Tensor two = from_vector({1, 2, 3, 0, 0, 0}, {2, 3});
  CHECK(all_close(softmax(two, 1, from_vector({2, 0, -1}, {1, 3})),
                  {0.11920292202211757, 0, 0.8807970779778825, 0.5, 0, 0.5}, kTol, kTol));
  // an all-ones mask is the same as no mask
  const Tensor r = param({3, 4}, 50, -2, 2).detach();
  CHECK(all_close(softmax(r, -1, ones({3, 4})), softmax(r, -1), kTol, kTol));
  CHECK(all_close(log_softmax(r, 0, ones({4})), log_softmax(r, 0), kTol, kTol));
}

TEST_CASE("softmax: a fully masked row gives zeros / -inf and a zero gradient, never NaN") {
  const Tensor mask = from_vector({1, 1, 0, 0, 0, 0}, {2, 3});
  const Tensor upstream = from_vector({0.3, -1, 2, 5, -7, 11}, {2, 3});
  SUBCASE("softmax") {
    const Tensor x = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
    const Tensor y = softmax(x, -1, mask);
    CHECK(all_close(y, {0.2689414213699951, 0.7310585786300049, 0, 0, 0, 0}, kTol, kTol));
    y.backward(upstream);
    CHECK_FALSE(any_nan(x.grad()));
    // row 0: y (g − Σ g y) with y = (σ(−1), σ(1), 0), g = (0.3, −1, 2)
    const double y0 = 0.2689414213699951, y1 = 0.7310585786300049, dot = 0.3 * y0 - 1 * y1;
    CHECK(all_close(x.grad(), {y0 * (0.3 - dot), y1 * (-1 - dot), 0, 0, 0, 0}, kTol, kTol));
  }
  SUBCASE("log_softmax") {
    const Tensor x = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
    const Tensor y = log_softmax(x, -1, mask);
    for (int64_t i = 2; i < 6; ++i) CHECK(y.data()[i] == -kInf);
    CHECK_FALSE(any_nan(y));
    y.backward(upstream);
    CHECK_FALSE(any_nan(x.grad()));
    // row 0: g − softmax · Σ_kept g; masked entries and the dead row get 0
    const double y0 = 0.2689414213699951, y1 = 0.7310585786300049, total = 0.3 - 1;
    CHECK(all_close(x.grad(), {0.3 - y0 * total, -1 - y1 * total, 0, 0, 0, 0}, kTol, kTol));
  }
  SUBCASE("over a non-last dim") {
    const Tensor x = from_vector({1, 2, 3, 4, 5, 6}, {3, 2}).requires_grad_();
    const Tensor column_mask = from_vector({1, 0, 1, 0, 0, 0}, {3, 2});  // column 1 fully masked
    const Tensor y = softmax(x, 0, column_mask);
    CHECK(all_close(y, {0.11920292202211757, 0, 0.8807970779778825, 0, 0, 0}, kTol, kTol));
    y.backward(from_vector({1, 2, 3, 4, 5, 6}, {3, 2}));
    CHECK_FALSE(any_nan(x.grad()));
    CHECK(x.grad().data()[1] == 0);
    CHECK(x.grad().data()[3] == 0);
    CHECK(x.grad().data()[5] == 0);
    CHECK(x.grad().data()[4] == 0);  // masked entry of the live column
  }
  SUBCASE("a row of -inf inputs without a mask") {
    const Tensor x = from_vector({-kInf, -kInf, 0, 1}, {2, 2}).requires_grad_();
    const Tensor y = softmax(x, -1);
    CHECK(all_close(y, {0, 0, 0.2689414213699951, 0.7310585786300049}, kTol, kTol));
    y.backward(ones({2, 2}));
    CHECK_FALSE(any_nan(x.grad()));
  }
}

TEST_CASE("softmax: gradients by hand") {
  // Σ softmax = 1 whatever x is, so its gradient is zero
  const Tensor x = param({3, 4}, 60, -2, 2).detach().requires_grad_();
  softmax(x, -1).sum().backward();
  CHECK(all_close(x.grad(), std::vector<double>(12, 0.0), kDouble ? 1e-14 : 1e-6, 0));
  // Σ log_softmax over a row of n: d/dx_i = 1 − n · softmax_i
  x.zero_grad();
  log_softmax(x, 1).sum().backward();
  const Tensor s = softmax(x.detach(), 1);
  std::vector<double> expected(12);
  for (int i = 0; i < 12; ++i) expected[i] = 1 - 4 * static_cast<double>(s.data()[i]);
  CHECK(all_close(x.grad(), expected, kTol, kDouble ? 1e-10 : 1e-5));
  // one output picked (a cross-entropy term): d(−log_softmax(x)_k)/dx = softmax(x) − onehot(k)
  const Tensor v = from_vector({1, 2, 3}).requires_grad_();
  (-log_softmax(v, 0)).backward(from_vector({0, 0, 1}));
  CHECK(all_close(v.grad(), {0.09003057317038046, 0.24472847105479767, 0.6652409557748219 - 1}, kTol, kTol));
}

TEST_CASE("softmax: a non-last dim equals the last dim of the transposed input") {
  const Tensor x = param({2, 3, 4}, 70, -2, 2).detach();
  CHECK(all_close(softmax(x, 1), transpose(softmax(transpose(x, 1, 2), -1), 1, 2), kTol, kTol));
  CHECK(all_close(log_softmax(x, 0), transpose(log_softmax(transpose(x, 0, 2), -1), 0, 2), kTol, kTol));
  CHECK(all_close(softmax(x, -3), softmax(x, 0), 0, 0));
}

TEST_CASE("softmax: large inputs (multi-threaded) match a naive double loop") {
  Generator gen(9);
  const Tensor x = uniform({300, 64}, -5, 5, &gen);
  const Tensor mask = rand({300, 64}, &gen);
  std::vector<scalar_t> keep(mask.numel());
  for (int64_t i = 0; i < mask.numel(); ++i) keep[i] = mask.data()[i] < 0.7 ? 1 : 0;
  for (int64_t c = 0; c < 64; ++c) keep[17 * 64 + c] = 0;  // row 17 fully masked
  const Tensor m = from_vector(keep, {300, 64});
  std::vector<double> want(300 * 64), want_log(300 * 64);
  for (int64_t r = 0; r < 300; ++r) {
    double mx = -std::numeric_limits<double>::infinity(), total = 0;
    for (int64_t c = 0; c < 64; ++c)
      if (keep[r * 64 + c] != 0) mx = std::max(mx, static_cast<double>(x.at({r, c})));
    for (int64_t c = 0; c < 64; ++c)
      if (keep[r * 64 + c] != 0) total += std::exp(x.at({r, c}) - mx);
    for (int64_t c = 0; c < 64; ++c) {
      const bool kept = keep[r * 64 + c] != 0 && total > 0;
      want[r * 64 + c] = kept ? std::exp(x.at({r, c}) - mx) / total : 0;
      want_log[r * 64 + c] = kept ? x.at({r, c}) - mx - std::log(total) : 0;
    }
  }
  const double tol = kDouble ? 1e-12 : 1e-5;
  CHECK(all_close(softmax(x, -1, m), want, tol, tol));
  CHECK(all_close(masked_fill(log_softmax(x, -1, m), dropped(m), 0), want_log, tol, tol));
  // and unmasked
  for (int64_t r = 0; r < 300; ++r) {
    double mx = -std::numeric_limits<double>::infinity(), total = 0;
    for (int64_t c = 0; c < 64; ++c) mx = std::max(mx, static_cast<double>(x.at({r, c})));
    for (int64_t c = 0; c < 64; ++c) total += std::exp(x.at({r, c}) - mx);
    for (int64_t c = 0; c < 64; ++c) want[r * 64 + c] = std::exp(x.at({r, c}) - mx) / total;
  }
  CHECK(all_close(softmax(x, -1), want, tol, tol));
}

// ---------------- errors ----------------

TEST_CASE("softmax: bad dims and masks throw errors that name the op") {
  const Tensor x = zeros({2, 3});
  CHECK(throws_with([&] { (void)softmax(x, 2); }, "softmax: dim 2 is out of range for a tensor of rank 2 (valid: -2..1)"));
  CHECK(throws_with([&] { (void)log_softmax(x, -3); }, "log_softmax: dim -3 is out of range for a tensor of rank 2"));
  CHECK(throws_with([&] { (void)softmax(scalar_tensor(1), 1); }, "softmax: dim 1 is out of range for a rank-0 tensor"));
  CHECK(throws_with([&] { (void)softmax(x, -1, zeros({4})); }, "softmax: shapes [2, 3] and [4] cannot be broadcast"));
  CHECK(throws_with([&] { (void)log_softmax(x, 0, zeros({3, 3})); },
                    "log_softmax: shapes [2, 3] and [3, 3] cannot be broadcast"));
  CHECK(throws_with([&] { (void)softmax(zeros({3}), 0, zeros({2, 3})); },
                    "softmax: mask of shape [2, 3] does not broadcast to the input's shape [3]"));
}
