// tests/test_pooling.cpp — nn/pooling.cpp: max, average and adaptive average pooling; Flatten.
//
// Known answers worked out by hand (2×2 pools of a 4×4 image, padding with and without
// count_include_pad, PyTorch's adaptive bins for 5 -> 3), where the max pool's gradient goes
// (the argmax; the first on ties; summed when windows overlap), gradcheck on every pool (max pool
// on spaced values, so no two values are within gradcheck's eps), Flatten, printouts and errors.
#include <vector>

#include "nn/pooling.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

const double kTol = kDouble ? 1e-12 : 1e-6;

// 1..16 row by row in a [1, 1, 4, 4] image: 1 2 3 4 / 5 6 7 8 / 9 10 11 12 / 13 14 15 16
Tensor one_to_sixteen() {
  std::vector<scalar_t> values(16);
  for (int i = 0; i < 16; ++i) values[i] = static_cast<scalar_t>(i + 1);
  return from_vector(values, {1, 1, 4, 4});
}

}  // namespace

// ---------------- max pool ----------------

TEST_CASE("max_pool2d: 2×2 on a 4×4 image, worked out by hand; the gradient goes to each argmax") {
  // a scrambled image so the maxima sit in different corners of their windows
  //   3 9 | 1 0        windows: [3 9 / 4 2] -> 9 at (0,1)   [1 0 / 8 5] -> 8 at (1,2)
  //   4 2 | 8 5                 [7 6 / 0 1] -> 7 at (2,0)   [2 3 / 4 11] -> 11 at (3,3)
  //   ----+----
  //   7 6 | 2 3
  //   0 1 | 4 11
  const Tensor x = from_vector({3, 9, 1, 0, 4, 2, 8, 5, 7, 6, 2, 3, 0, 1, 4, 11}, {1, 1, 4, 4}).requires_grad_();
  const Tensor y = nn::max_pool2d(x, 2);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  CHECK(all_close(y, {9, 8, 7, 11}, 0, 0));
  y.backward(from_vector({1, 2, 3, 4}, {1, 1, 2, 2}));
  CHECK(all_close(x.grad(), {0, 1, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0, 4}, 0, 0));
  // 1..16: each window's bottom-right
  CHECK(all_close(nn::max_pool2d(one_to_sixteen(), 2), {6, 8, 14, 16}, 0, 0));
  // stride 1: 3×3 output of 2×2 windows
  CHECK(all_close(nn::max_pool2d(one_to_sixteen(), 2, 1), {6, 7, 8, 10, 11, 12, 14, 15, 16}, 0, 0));
}

TEST_CASE("max_pool2d: ties go to the first index (row-major), as PyTorch; overlapping windows add up") {
  const Tensor x = full({1, 1, 2, 2}, 5).requires_grad_();
  nn::max_pool2d(x, 2).sum().backward();
  CHECK(all_close(x.grad(), {1, 0, 0, 0}, 0, 0));
  // [[0 0 2] [0 7 0] [1 0 0]] with 2×2 windows, stride 1: every window holds the 7, which gets 4
  const Tensor z = from_vector({0, 0, 2, 0, 7, 0, 1, 0, 0}, {1, 1, 3, 3}).requires_grad_();
  const Tensor y = nn::max_pool2d(z, 2, 1);
  CHECK(all_close(y, {7, 7, 7, 7}, 0, 0));
  y.sum().backward();
  CHECK(all_close(z.grad(), {0, 0, 0, 0, 4, 0, 0, 0, 0}, 0, 0));
}

TEST_CASE("max_pool2d: padding never wins, even over negative values") {
  // all negative, kernel 3, stride 2, padding 1: windows centred at (0,0), (0,2), (2,0), (2,2)
  const Tensor x = -one_to_sixteen();
  // (0,0) window reads -1 -2 -5 -6 (plus padding): -1;  (0,2): -2 -3 -4 -6 -7 -8: -2
  // (2,0): -5 -6 -9 -10 -13 -14: -5;  (2,2): -6: -6
  const Tensor y = nn::max_pool2d(x, 3, 2, 1);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  CHECK(all_close(y, {-1, -2, -5, -6}, 0, 0));
  // odd sizes: 5×7 with 2×3 windows, stride (2, 2): ⌊(5 − 2) / 2⌋ + 1 = 2, ⌊(7 − 3) / 2⌋ + 1 = 3
  CHECK(nn::max_pool2d(zeros({2, 3, 5, 7}), {2, 3}, nn::Size2d{2, 2}).shape() == Shape{2, 3, 2, 3});
}

TEST_CASE("max_pool2d: gradcheck on spaced values (no ties near eps)") {
  CHECK_GRAD([](auto& in) { return nn::max_pool2d(in[0], 2); }, {spaced({2, 3, 4, 4}, 401)});
  CHECK_GRAD([](auto& in) { return nn::max_pool2d(in[0], 3, 2, 1); }, {spaced({2, 2, 5, 6}, 402)});
  CHECK_GRAD([](auto& in) { return nn::max_pool2d(in[0], {2, 3}, nn::Size2d{1, 2}); }, {spaced({1, 2, 5, 7}, 403)});
}

// ---------------- average pool ----------------

TEST_CASE("avg_pool2d: 2×2 on a 4×4 image, padding with and without count_include_pad") {
  // windows of 1..16: (1+2+5+6)/4 = 3.5, (3+4+7+8)/4 = 5.5, 11.5, 13.5
  CHECK(all_close(nn::avg_pool2d(one_to_sixteen(), 2), {3.5, 5.5, 11.5, 13.5}, kTol, kTol));
  // kernel 3, stride 2, padding 1 (windows centred at 0 and 2): sums 14, 30, 57, 99
  //   count_include_pad (PyTorch's default): divide by 9
  CHECK(all_close(nn::avg_pool2d(one_to_sixteen(), 3, 2, 1), {14.0 / 9, 30.0 / 9, 57.0 / 9, 11}, kTol, kTol));
  //   without: divide by the pixels inside: 4, 6, 6, 9
  CHECK(all_close(nn::avg_pool2d(one_to_sixteen(), 3, 2, 1, false), {3.5, 5, 9.5, 11}, kTol, kTol));
  // the gradient spreads dy / d over the window: 2×2 windows, dy = 4 -> 1 everywhere
  const Tensor x = one_to_sixteen().requires_grad_();
  nn::avg_pool2d(x, 2).backward(full({1, 1, 2, 2}, 4));
  CHECK(all_close(x.grad(), std::vector<double>(16, 1), kTol, kTol));
}

TEST_CASE("avg_pool2d: gradcheck, with and without count_include_pad") {
  CHECK_GRAD([](auto& in) { return nn::avg_pool2d(in[0], 2); }, {param({2, 2, 4, 6}, 411)});
  CHECK_GRAD([](auto& in) { return nn::avg_pool2d(in[0], 3, 2, 1); }, {param({1, 2, 5, 5}, 412)});
  CHECK_GRAD([](auto& in) { return nn::avg_pool2d(in[0], 3, 2, 1, false); }, {param({1, 2, 5, 5}, 413)});
  CHECK_GRAD([](auto& in) { return nn::avg_pool2d(in[0], {3, 2}, nn::Size2d{1, 2}, {1, 0}); }, {param({2, 1, 4, 5}, 414)});
}

// ---------------- adaptive average pool ----------------

TEST_CASE("adaptive_avg_pool2d: PyTorch's bins for 5 -> 3 are [0, 2), [1, 4), [3, 5)") {
  // bin i = [⌊5i/3⌋, ⌈5(i+1)/3⌉): [0, 2), [1, 4), [3, 5) — the middle one overlaps both
  const Tensor row = from_vector({1, 2, 3, 4, 5}, {1, 1, 1, 5});
  CHECK(all_close(nn::adaptive_avg_pool2d(row, {1, 3}), {1.5, 3, 4.5}, kTol, kTol));
  // 5×5 of 1..25 to 3×3: rows and columns use the same bins; output (0,0) averages rows 0–1 and
  // columns 0–1: (1 + 2 + 6 + 7) / 4 = 4; (1,1) averages rows 1–3, cols 1–3: the 3×3 around 13
  std::vector<scalar_t> values(25);
  for (int i = 0; i < 25; ++i) values[i] = static_cast<scalar_t>(i + 1);
  const Tensor x = from_vector(values, {1, 1, 5, 5});
  const Tensor y = nn::adaptive_avg_pool2d(x, 3);
  CHECK(y.shape() == Shape{1, 1, 3, 3});
  CHECK(y.at({0, 0, 0, 0}) == doctest::Approx(4));
  CHECK(y.at({0, 0, 1, 1}) == doctest::Approx(13));
  CHECK(y.at({0, 0, 2, 2}) == doctest::Approx((19 + 20 + 24 + 25) / 4.0));
  CHECK(y.at({0, 0, 0, 1}) == doctest::Approx((2 + 3 + 4 + 7 + 8 + 9) / 6.0));
  // (1, 1) is the global mean; a divisible size equals avg_pool2d
  CHECK(all_close(nn::adaptive_avg_pool2d(x, 1), {13}, kTol, kTol));
  const Tensor z = uniform({2, 3, 6, 4}, -1, 1);
  CHECK(all_close(nn::adaptive_avg_pool2d(z, {3, 2}), nn::avg_pool2d(z, 2), kTol, kTol));
  // growing is allowed too: 2 -> 3 gives bins [0, 1), [0, 2), [1, 2), so [2, 4] -> [2, 3, 4]
  CHECK(all_close(nn::adaptive_avg_pool2d(from_vector({2, 4}, {1, 1, 1, 2}), {1, 3}), {2, 3, 4}, kTol, kTol));
}

TEST_CASE("adaptive_avg_pool2d: gradcheck with overlapping bins") {
  CHECK_GRAD([](auto& in) { return nn::adaptive_avg_pool2d(in[0], 3); }, {param({2, 2, 5, 5}, 421)});
  CHECK_GRAD([](auto& in) { return nn::adaptive_avg_pool2d(in[0], {2, 3}); }, {param({1, 3, 7, 4}, 422)});
  CHECK_GRAD([](auto& in) { return nn::adaptive_avg_pool2d(in[0], 1); }, {param({2, 3, 3, 2}, 423)});
}

// ---------------- Flatten and the modules ----------------

TEST_CASE("Flatten: [N, C, H, W] -> [N, C·H·W] by default; other dims; a view") {
  nn::Flatten flatten;
  const Tensor x = uniform({2, 3, 4, 5}, -1, 1);
  const Tensor y = flatten(x);
  CHECK(y.shape() == Shape{2, 60});
  CHECK(y.data() == x.data());  // no copy
  CHECK(nn::Flatten(0)(x).shape() == Shape{120});
  CHECK(nn::Flatten(1, 2)(x).shape() == Shape{2, 12, 5});
  CHECK(nn::Flatten(-2)(x).shape() == Shape{2, 3, 20});
  CHECK(nn::Flatten(2, 2)(x).shape() == Shape{2, 3, 4, 5});
  CHECK(throws_with([&] { nn::Flatten(2, 1)(x); }, "Flatten: start_dim 2 comes after end_dim 1"));
  CHECK(throws_with([&] { nn::Flatten(4)(x); }, "Flatten: dim 4 is out of range"));
  // the gradient flows through unchanged
  CHECK_GRAD([](auto& in) { return nn::Flatten()(in[0]) * 2; }, {param({2, 2, 3}, 431)});
}

TEST_CASE("pooling modules: defaults, printouts and the functional forms") {
  nn::MaxPool2d max_pool(2);
  CHECK(max_pool.stride == nn::Size2d(2));  // stride defaults to the kernel
  CHECK(max_pool.str() == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))\n");
  const Tensor x = uniform({2, 3, 6, 6}, -1, 1);
  CHECK(all_close(max_pool(x), nn::max_pool2d(x, 2), 0, 0));
  nn::AvgPool2d avg_pool(3, 1, 1, false);
  CHECK(avg_pool.str() == "AvgPool2d(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), count_include_pad=false)\n");
  CHECK(all_close(avg_pool(x), nn::avg_pool2d(x, 3, 1, 1, false), 0, 0));
  CHECK(avg_pool(x).shape() == Shape{2, 3, 6, 6});
  nn::AdaptiveAvgPool2d global(1);
  CHECK(global.str() == "AdaptiveAvgPool2d(output_size=(1, 1))\n");
  CHECK(global(x).shape() == Shape{2, 3, 1, 1});
  CHECK(nn::Flatten().str() == "Flatten(start_dim=1, end_dim=-1)\n");
  CHECK(max_pool.num_parameters() == 0);
}

TEST_CASE("pooling: errors name the op, the shapes and the limits") {
  CHECK(throws_with([] { nn::max_pool2d(zeros({3, 4, 4}), 2); }, "max_pool2d: expected input [N, C, H, W], got [3, 4, 4]"));
  CHECK(throws_with([] { nn::avg_pool2d(zeros({1, 1, 4, 4}), 2, 2, 2); },
                    "avg_pool2d: padding (2, 2) must be between 0 and half the kernel_size (2, 2)"));
  CHECK(throws_with([] { nn::max_pool2d(zeros({1, 1, 2, 5}), 3); },
                    "max_pool2d: kernel 3×3 is larger than the padded input 2×5 (input [1, 1, 2, 5], padding (0, 0))"));
  CHECK(throws_with([] { nn::max_pool2d(zeros({1, 1, 4, 4}), 0); }, "kernel_size (0, 0) must be positive"));
  CHECK(throws_with([] { nn::avg_pool2d(zeros({1, 1, 4, 4}), 2, 0); }, "stride (0, 0) must be positive"));
  CHECK(throws_with([] { nn::adaptive_avg_pool2d(zeros({1, 4, 4}), 2); }, "adaptive_avg_pool2d: expected input [N, C, H, W]"));
  CHECK(throws_with([] { nn::adaptive_avg_pool2d(zeros({1, 1, 4, 4}), {0, 2}); }, "output_size (0, 2) must be positive"));
}
