// tests/test_conv.cpp — nn/conv.cpp: conv2d (im2col + GEMM) and the Conv2d module.
//
// Known answers worked out by hand (a 3×3 averaging kernel, stride 2, a 1×1 channel mix), the
// fast paths (im2col + GEMM, Winograd for 3×3 stride 1, the 1×1 GEMM) against conv2d_reference
// (the seven-loop definition) in values and in all three gradients over many kernel/stride/
// padding/dilation/odd-size combinations and batch sizes on either side of the thread count,
// recycled scratch memory, gradcheck on x, weight and bias, the module's names, init and
// printout, and errors.
#include <cmath>
#include <vector>

#include "nn/conv.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

const double kTol = kDouble ? 1e-12 : 1e-5;

struct Config {
  Shape x, w;
  nn::Size2d stride = 1, padding = 0, dilation = 1;
  bool bias = true;
};

// conv2d and conv2d_reference on the same inputs and the same upstream gradient: values, dx, dw
// and db must agree.
bool matches_reference(const Config& cfg, uint64_t seed) {
  const Tensor x = param(cfg.x, seed), w = param(cfg.w, seed + 1), b = cfg.bias ? param({cfg.w[0]}, seed + 2) : Tensor();
  const Tensor fast = nn::conv2d(x, w, b, cfg.stride, cfg.padding, cfg.dilation);
  const Tensor reference = nn::conv2d_reference(x, w, b, cfg.stride, cfg.padding, cfg.dilation);
  const double tol = kDouble ? 1e-11 : 2e-5;
  bool ok = all_close(fast, reference, tol, tol);
  Generator gen(seed + 3);
  const Tensor g = uniform(fast.shape(), -1, 1, &gen);
  fast.backward(g);
  const Tensor dx = x.grad(), dw = w.grad(), db = cfg.bias ? b.grad() : Tensor();
  x.zero_grad();
  w.zero_grad();
  if (cfg.bias) b.zero_grad();
  reference.backward(g);
  ok = all_close(dx, x.grad(), tol, tol) && ok;
  ok = all_close(dw, w.grad(), tol, tol) && ok;
  if (cfg.bias) ok = all_close(db, b.grad(), tol, tol) && ok;
  if (!ok)
    MESSAGE("x " << cfg.x.str() << " w " << cfg.w.str() << " stride " << cfg.stride.h << "," << cfg.stride.w
                 << " padding " << cfg.padding.h << "," << cfg.padding.w << " dilation " << cfg.dilation.h << ","
                 << cfg.dilation.w);
  return ok;
}

}  // namespace

// ---------------- known answers ----------------

TEST_CASE("conv2d: a 3×3 averaging kernel on a 4×4 image, worked out by hand") {
  // x = 1..16 row by row:  1  2  3  4 /  5  6  7  8 /  9 10 11 12 / 13 14 15 16
  std::vector<scalar_t> values(16);
  for (int i = 0; i < 16; ++i) values[i] = static_cast<scalar_t>(i + 1);
  const Tensor x = from_vector(values, {1, 1, 4, 4});
  const Tensor w = full({1, 1, 3, 3}, scalar_t(1) / 9);
  // no padding: 2×2 windows; the top-left one holds 1 2 3 5 6 7 9 10 11, mean 6; the others 7, 10, 11
  const Tensor y = nn::conv2d(x, w);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  CHECK(all_close(y, {6, 7, 10, 11}, kTol, kTol));
  // a bias is added to every output
  CHECK(all_close(nn::conv2d(x, w, from_vector({0.5})), {6.5, 7.5, 10.5, 11.5}, kTol, kTol));
  // padding 1: same size; corners see 4 pixels, edges 6, over 9 (zeros count)
  //   (0,0): 1+2+5+6 = 14   (0,1): 1+2+3+5+6+7 = 24   (1,1): 1+2+3+5+6+7+9+10+11 = 54
  //   (3,3): 11+12+15+16 = 54   (3,0): 9+10+13+14 = 46
  const Tensor same = nn::conv2d(x, w, Tensor(), 1, 1);
  CHECK(same.shape() == Shape{1, 1, 4, 4});
  CHECK(same.at({0, 0, 0, 0}) == doctest::Approx(14.0 / 9));
  CHECK(same.at({0, 0, 0, 1}) == doctest::Approx(24.0 / 9));
  CHECK(same.at({0, 0, 1, 1}) == doctest::Approx(6));
  CHECK(same.at({0, 0, 3, 3}) == doctest::Approx(54.0 / 9));
  CHECK(same.at({0, 0, 3, 0}) == doctest::Approx(46.0 / 9));
  // stride 2 with padding 1: rows/cols -1, 1 as window centres' tops: output 2×2 at centres
  // (0,0), (0,2), (2,0), (2,2):  14/9;  (2+3+4+6+7+8)/9 = 30/9;  (5+6+9+10+13+14)/9 = 57/9;  (6+7+8+10+11+12+14+15+16)/9 = 11
  CHECK(all_close(nn::conv2d(x, w, Tensor(), 2, 1), {14.0 / 9, 30.0 / 9, 57.0 / 9, 11}, kTol, kTol));
  // dilation 2 with padding 2 at the centre-ish pixel (1,1): taps at rows -1, 1, 3 and cols -1, 1, 3:
  // inside are (1,1)=6, (1,3)=8, (3,1)=14, (3,3)=16 -> 44/9
  CHECK(nn::conv2d(x, w, Tensor(), 1, 2, 2).at({0, 0, 1, 1}) == doctest::Approx(44.0 / 9));
}

TEST_CASE("conv2d: a 1×1 convolution mixes channels at every pixel (the no-im2col path)") {
  // x: 2 channels of 2×2; out 0 = c0 + c1, out 1 = 2 c0 − c1 + 10 (bias)
  const Tensor x = from_vector({1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2});
  const Tensor w = from_vector({1, 1, 2, -1}, {2, 2, 1, 1});
  const Tensor y = nn::conv2d(x, w, from_vector({0, 10}));
  CHECK(all_close(y, {11, 22, 33, 44, 2, -6, -14, -22}, kTol, kTol));
  // the same weights with stride 2 go through im2col: only pixel (0,0)
  CHECK(all_close(nn::conv2d(x, w, from_vector({0, 10}), 2), {11, 2}, kTol, kTol));
}

TEST_CASE("conv2d: the gradient of a sum is the count of taps each value takes part in") {
  // y = Σ conv2d(x, ones 3×3, padding 1) over a 3×3 image of ones:
  // dL/dx[i, j] = number of output positions whose window covers (i, j) = (taps in row) × (in col)
  // = [2 3 2] ⊗ [2 3 2] with 3×3 output and padding 1: corners 4, edges 6, centre 9
  const Tensor x = ones({1, 1, 3, 3}).requires_grad_();
  const Tensor w = ones({1, 1, 3, 3}).requires_grad_();
  nn::conv2d(x, w, Tensor(), 1, 1).sum().backward();
  CHECK(all_close(x.grad(), {4, 6, 4, 6, 9, 6, 4, 6, 4}, kTol, kTol));
  // dL/dw[i, j] = Σ of the pixels tap (i, j) reads = the same counts, by symmetry
  CHECK(all_close(w.grad(), {4, 6, 4, 6, 9, 6, 4, 6, 4}, kTol, kTol));
}

// ---------------- fast against the reference ----------------

TEST_CASE("conv2d: im2col + GEMM equals the seven-loop reference (values and all gradients)") {
  const std::vector<Config> configs = {
      {{2, 3, 7, 7}, {4, 3, 3, 3}},                               // plain 3×3
      {{2, 3, 7, 7}, {4, 3, 3, 3}, 1, 1},                         // same padding
      {{2, 3, 8, 9}, {5, 3, 3, 3}, 2, 1},                         // stride 2, odd width
      {{1, 2, 9, 7}, {3, 2, 3, 2}, {2, 1}, {1, 0}},               // non-square kernel, per-axis stride/padding
      {{3, 2, 11, 10}, {2, 2, 3, 3}, 1, 2, 2},                    // dilation 2
      {{2, 2, 9, 12}, {3, 2, 2, 3}, {1, 3}, {0, 2}, {3, 2}},      // everything different per axis
      {{2, 4, 5, 5}, {3, 4, 1, 1}},                               // 1×1: no im2col
      {{2, 4, 5, 6}, {3, 4, 1, 1}, 2},                            // 1×1 stride 2: im2col
      {{2, 4, 5, 6}, {3, 4, 1, 1}, 1, 1},                         // 1×1 padded: im2col
      {{2, 3, 5, 5}, {2, 3, 5, 5}},                               // kernel = image: one output
      {{1, 1, 3, 3}, {1, 1, 5, 5}, 1, 1},                         // kernel = padded image
      {{2, 2, 6, 6}, {3, 2, 3, 3}, 3, 2},                         // stride > kernel coverage
      {{2, 2, 4, 4}, {2, 2, 2, 2}, 5, 2},                         // stride larger than the image
      {{1, 3, 1, 9}, {2, 3, 1, 3}, 1, {0, 1}},                    // one-row image
      {{2, 3, 6, 6}, {4, 3, 3, 3}, 1, 1, 1, false},               // no bias
      {{5, 3, 6, 5}, {4, 3, 3, 3}, 1, 1},                         // batch of 5: uneven thread blocks
      {{1, 64, 12, 12}, {8, 64, 3, 3}, 1, 1},                     // one large image: channel-parallel im2col
      {{3, 40, 10, 10}, {6, 40, 3, 3}, 2, 1, 1, false},
      // 3×3 stride 1 with fewer than 16 channels (or a map below 4×4): im2col, not Winograd
      {{3, 5, 9, 11}, {4, 5, 3, 3}, 1, 1},
      {{2, 2, 3, 3}, {3, 2, 3, 3}},
      {{2, 1, 5, 6}, {1, 1, 3, 3}, 1, 2},
      {{1, 3, 4, 4}, {2, 3, 3, 3}, 1, 3},
      {{2, 3, 4, 7}, {2, 3, 3, 3}, 1, {0, 1}},
      // small maps go through several images per GEMM (side by side); 6 images of 128 outputs
      // (or Winograd tiles) make groups of 2, and a block of 3 images ends on a group of 1
      {{6, 4, 8, 16}, {3, 4, 1, 1}},                              // 1×1
      {{6, 3, 16, 32}, {4, 3, 3, 3}, 2, 1},                       // im2col, col2im
      {{6, 2, 8, 16}, {3, 2, 5, 5}, 1, 2},                        // 5×5: dx as a convolution by w̃
      {{6, 2, 32, 16}, {3, 2, 3, 3}, 1, 1},                       // 3×3 stride 1, 2 channels: im2col
      // 3×3 stride 1 from 16 channels and 4×4 runs Winograd F(2×2, 3×3), forward and gradients:
      // odd output sizes (a last tile that overhangs), padding 0 (the input gradient's is 2), 2
      // (the gradient's is 0) and 3 (the gradient falls back to col2im), a 4×4 map, per-axis padding, more output than input channels, groups of images side by side;
      // the input gradient reuses the forward's transformed weights U, transposed and flipped
      {{3, 16, 9, 11}, {16, 16, 3, 3}, 1, 1},
      {{2, 16, 8, 8}, {17, 16, 3, 3}},
      {{2, 16, 10, 8}, {16, 16, 3, 3}, 1, 2},
      {{1, 16, 8, 8}, {16, 16, 3, 3}, 1, 3},
      {{2, 16, 8, 9}, {20, 16, 3, 3}, 1, {0, 1}},
      {{6, 16, 16, 16}, {16, 16, 3, 3}, 1, 1},
      {{3, 16, 4, 4}, {24, 16, 3, 3}, 1, 1},
      {{2, 16, 3, 3}, {16, 16, 3, 3}, 1, 2},  // a 3×3 input (im2col) whose input gradient, from 5×5, is Winograd
  };
  uint64_t seed = 10;
  for (const Config& cfg : configs) {
    CHECK(matches_reference(cfg, seed));
    seed += 10;
  }
}

TEST_CASE("conv2d: an empty batch gives an empty output and zero parameter gradients") {
  const Tensor x = zeros({0, 2, 5, 5}).requires_grad_(), w = param({3, 2, 3, 3}, 211), b = param({3}, 212);
  const Tensor y = nn::conv2d(x, w, b, 1, 1);
  CHECK(y.shape() == Shape{0, 3, 5, 5});
  y.sum().backward();
  CHECK(x.grad().shape() == Shape{0, 2, 5, 5});
  CHECK(all_close(w.grad(), std::vector<double>(54, 0), 0, 0));
  CHECK(all_close(b.grad(), {0, 0, 0}, 0, 0));
}

TEST_CASE("conv2d: scratch buffers are written before they are read (recycled memory full of NaN)") {
  // The backward sums dW and db of a block of images in one [O·K + O] buffer ([16·O·C + O] on the
  // Winograd path), taken uninitialised from the engine's buffer cache. Poison buffers of those
  // sizes (large enough to be recycled) so an accumulator that reads before it writes shows up
  // as NaN, not as a lucky zero.
  const int64_t O = 16, C = 128, K = C * 3 * 3;
  for (int i = 0; i < 2; ++i) {
    const Tensor poison = full({O * K + O}, std::nan("")), winograd_poison = full({16 * O * C + O}, std::nan(""));
  }
  const Tensor x = param({2, C, 8, 8}, 221), w = param({O, C, 3, 3}, 222), b = param({O}, 223);
  for (int stride : {1, 2}) {  // Winograd, then im2col
    nn::conv2d(x, w, b, stride, 1).sum().backward();
    const int64_t outputs = stride == 1 ? 64 : 16;  // Hout · Wout
    CHECK(all_close(b.grad(), std::vector<double>(O, 2 * outputs), 1e-4, 0));  // db = Σ dy = N · Hout · Wout
    bool finite = true;
    for (scalar_t v : w.grad().to_vector()) finite = finite && std::isfinite(v);
    CHECK(finite);
    w.zero_grad();
    b.zero_grad();
    for (int i = 0; i < 2; ++i) {
      const Tensor poison = full({O * K + O}, std::nan("")), winograd_poison = full({16 * O * C + O}, std::nan(""));
    }
  }
}

TEST_CASE("conv2d: the reference agrees with an explicit sum for one output") {
  // guards the reference itself: y[1, 2, 1, 2] of a stride-2, padding-1, dilation-2 convolution
  const Tensor x = param({2, 3, 6, 7}, 201), w = param({4, 3, 2, 3}, 202), b = param({4}, 203);
  const Tensor y = nn::conv2d_reference(x, w, b, 2, 1, 2);
  double expected = b.at({2});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        const int64_t ih = 1 * 2 - 1 + i * 2, iw = 2 * 2 - 1 + j * 2;
        if (ih >= 0 && ih < 6 && iw >= 0 && iw < 7) expected += w.at({2, c, i, j}) * x.at({1, c, ih, iw});
      }
  CHECK(y.at({1, 2, 1, 2}) == doctest::Approx(expected).epsilon(1e-6));
  CHECK(y.shape() == Shape{2, 4, 3, 3});  // ⌊(6 + 2 − 3) / 2⌋ + 1 = 3, ⌊(7 + 2 − 5) / 2⌋ + 1 = 3
}

// ---------------- gradient checks ----------------

TEST_CASE("conv2d: gradcheck on x, weight and bias") {
  auto conv = [](nn::Size2d stride, nn::Size2d padding, nn::Size2d dilation) {
    return [=](auto& in) { return nn::conv2d(in[0], in[1], in[2], stride, padding, dilation); };
  };
  CHECK_GRAD(conv(1, 1, 1), {param({2, 2, 5, 5}, 301), param({3, 2, 3, 3}, 302), param({3}, 303)});
  CHECK_GRAD(conv(2, 1, 1), {param({2, 2, 6, 5}, 304), param({2, 2, 3, 3}, 305), param({2}, 306)});
  CHECK_GRAD(conv({1, 2}, {2, 0}, {2, 1}), {param({1, 3, 6, 7}, 307), param({2, 3, 2, 3}, 308), param({2}, 309)});
  CHECK_GRAD(conv(1, 0, 1), {param({3, 4, 3, 3}, 310), param({2, 4, 1, 1}, 311), param({2}, 312)});  // 1×1
  // no bias; only the weight requires grad; only x
  CHECK_GRAD([](auto& in) { return nn::conv2d(in[0], in[1], Tensor(), 1, 1); },
             {param({2, 2, 4, 4}, 313), param({2, 2, 3, 3}, 314)});
  const Tensor x = uniform({2, 2, 4, 4}, -1, 1), w = uniform({3, 2, 3, 3}, -1, 1);
  CHECK_GRAD([x](auto& in) { return nn::conv2d(x, in[0], in[1], 1, 1); }, {param({3, 2, 3, 3}, 315), param({3}, 316)});
  CHECK_GRAD([w](auto& in) { return nn::conv2d(in[0], w, Tensor(), 2, 1); }, {param({2, 2, 5, 5}, 317)});
  // Winograd (16 channels, 8×8)
  CHECK_GRAD(conv(1, 1, 1), {param({1, 16, 8, 8}, 321), param({16, 16, 3, 3}, 322), param({16}, 323)});
  // the output used twice
  CHECK_GRAD([](auto& in) {
    const Tensor y = nn::conv2d(in[0], in[1], in[2], 1, 1);
    return y * y + y;
  }, {param({1, 2, 4, 4}, 318), param({2, 2, 3, 3}, 319), param({2}, 320)});
}

TEST_CASE("conv2d_reference: gradcheck (the reference's own backward)") {
  CHECK_GRAD([](auto& in) { return nn::conv2d_reference(in[0], in[1], in[2], 2, 1, {1, 2}); },
             {param({2, 2, 5, 6}, 331), param({2, 2, 3, 2}, 332), param({2}, 333)});
}

// ---------------- the module ----------------

TEST_CASE("Conv2d module: PyTorch's names, shapes, default init and printout") {
  manual_seed(5);
  nn::Conv2d conv(3, 8, 3, 1, 1);
  REQUIRE(conv.named_parameters().size() == 2);
  CHECK(conv.named_parameters()[0].first == "weight");
  CHECK(conv.named_parameters()[1].first == "bias");
  CHECK(conv.weight.shape() == Shape{8, 3, 3, 3});
  CHECK(conv.bias.shape() == Shape{8});
  // kaiming_uniform(a = √5) and the bias: U(−1/√27, 1/√27), fan_in = 3·3·3; spread over the range
  const double bound = 1 / std::sqrt(27.0);
  double wmax = 0, bmax = 0;
  for (scalar_t v : conv.weight.to_vector()) wmax = std::max(wmax, std::abs(static_cast<double>(v)));
  for (scalar_t v : conv.bias.to_vector()) bmax = std::max(bmax, std::abs(static_cast<double>(v)));
  CHECK(wmax <= bound);
  CHECK(wmax > 0.8 * bound);
  CHECK(bmax <= bound);
  CHECK(conv.str() == "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))  # 224 parameters\n");
  const Tensor x = uniform({2, 3, 6, 5}, -1, 1);
  CHECK(all_close(conv(x), nn::conv2d(x, conv.weight, conv.bias, 1, 1), 0, 0));
  CHECK(conv(x).shape() == Shape{2, 8, 6, 5});

  nn::Conv2dOptions options;
  options.in_channels = 4;
  options.out_channels = 2;
  options.kernel_size = {1, 3};
  options.stride = {2, 1};
  options.dilation = {1, 2};
  options.bias = false;
  nn::Conv2d plain(options);
  CHECK(plain.num_parameters() == 2 * 4 * 1 * 3);
  CHECK_FALSE(plain.bias.defined());
  CHECK(plain.str() ==
        "Conv2d(4, 2, kernel_size=(1, 3), stride=(2, 1), dilation=(1, 2), bias=false)  # 24 parameters\n");
  CHECK(plain(zeros({1, 4, 5, 9})).shape() == Shape{1, 2, 3, 5});
}

TEST_CASE("Conv2d module: gradcheck through the module's parameters") {
  manual_seed(6);
  nn::Conv2d conv(2, 3, {2, 3}, 1, {1, 0});
  CHECK_GRAD([&conv](auto& in) { return conv(in[0]); }, {param({2, 2, 4, 5}, 341), conv.weight, conv.bias});
}

// ---------------- errors ----------------

TEST_CASE("conv2d: errors name the layer, the shapes and the fix") {
  nn::Conv2d conv(3, 4, 3);
  CHECK(throws_with([&] { conv(zeros({8, 4, 28, 28})); }, "Conv2d: expected input [N, 3, H, W], got [8, 4, 28, 28]"));
  CHECK(throws_with([&] { conv(zeros({3, 28, 28})); }, "Conv2d: expected input [N, 3, H, W], got [3, 28, 28]"));
  CHECK(throws_with([&] { conv(zeros({1, 3, 2, 5})); },
                    "conv2d: kernel 3×3 (dilated to 3×3) is larger than the padded input 2×5"));
  CHECK(throws_with([] { nn::conv2d(zeros({1, 1, 5, 5}), zeros({1, 1, 3, 3}), Tensor(), 1, 0, 3); },
                    "dilated to 7×7"));
  CHECK(throws_with([] { nn::conv2d(zeros({1, 2, 5, 5}), zeros({1, 3, 3, 3})); },
                    "conv2d: input [1, 2, 5, 5] has 2 channels but weight [1, 3, 3, 3] expects 3"));
  CHECK(throws_with([] { nn::conv2d(zeros({1, 2, 5, 5}), zeros({1, 2, 3})); }, "expected weight"));
  CHECK(throws_with([] { nn::conv2d(zeros({2, 5, 5}), zeros({1, 2, 3, 3})); }, "conv2d: expected input [N, C, H, W], got [2, 5, 5]"));
  CHECK(throws_with([] { nn::conv2d(zeros({1, 2, 5, 5}), zeros({4, 2, 3, 3}), zeros({3})); },
                    "expected bias [4] (one per output channel), got [3]"));
  CHECK(throws_with([] { nn::conv2d(zeros({1, 2, 5, 5}), zeros({4, 2, 3, 3}), Tensor(), 0); }, "stride (0, 0)"));
  CHECK(throws_with([] { nn::conv2d(zeros({1, 2, 5, 5}), zeros({4, 2, 3, 3}), Tensor(), 1, -1); }, "padding (-1, -1)"));
  CHECK(throws_with([] { nn::conv2d(zeros({1, 2, 5, 5}), zeros({4, 1, 3, 3}), Tensor(), 1, 0, 1, 2); },
                    "groups = 2 is not supported"));
  nn::Conv2dOptions grouped;
  grouped.in_channels = grouped.out_channels = 4;
  grouped.kernel_size = 3;
  grouped.groups = 4;
  CHECK(throws_with([&] { nn::Conv2d{grouped}; }, "Conv2d: groups = 4 is not supported"));
  CHECK(throws_with([] { nn::Conv2d(0, 4, 3); }, "in_channels (0)"));
  CHECK(throws_with([] { nn::Conv2d(2, 4, {3, 0}); }, "kernel_size (3, 0)"));
}
