// tests/test_batchnorm.cpp — nn/batchnorm.cpp: batch normalisation, fused forward and backward.
//
// Known answers worked out by hand (batch statistics with the biased variance; running stats
// after one and two steps with the unbiased variance; eval mode), momentum = None (cumulative
// average), no tracking, no affine, values and gradients against a composition of engine ops,
// gradcheck in training and eval mode (channels of very different scales included), PyTorch's
// state_dict names, and errors.
#include <cmath>
#include <vector>

#include "nn/batchnorm.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

const double kTol = kDouble ? 1e-12 : 1e-5;

// x [2, 2, 1, 2]: channel 0 holds 1 3 (image 0) and 5 7 (image 1); channel 1 holds 0 0 and 2 2.
Tensor small_batch() { return from_vector({1, 3, 0, 0, 5, 7, 2, 2}, {2, 2, 1, 2}); }

}  // namespace

TEST_CASE("batch_norm: training normalises each channel with its biased batch variance (by hand)") {
  // channel 0: μ = 4, σ² = (9 + 1 + 1 + 9) / 4 = 5 -> x̂ = (x − 4) / √5
  // channel 1: μ = 1, σ² = 1 -> x̂ = [-1, -1, 1, 1]
  const double a = 1 / std::sqrt(5.0);
  const Tensor y = nn::batch_norm(small_batch(), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 0);
  CHECK(all_close(y, {-3 * a, -a, -1, -1, a, 3 * a, 1, 1}, kTol, kTol));
  // with γ = [2, 1], β = [0, 10]
  const Tensor z = nn::batch_norm(small_batch(), Tensor(), Tensor(), from_vector({2, 1}), from_vector({0, 10}), true,
                                  0.1, 0);
  CHECK(all_close(z, {-6 * a, -2 * a, 9, 9, 2 * a, 6 * a, 11, 11}, kTol, kTol));
}

TEST_CASE("BatchNorm2d: running stats after two steps follow the momentum rule with the unbiased variance") {
  nn::BatchNorm2d bn(2);
  // step 1, small_batch(): μ = [4, 1], biased σ² = [5, 1], m = 4 -> unbiased [20/3, 4/3]
  //   running_mean = 0.9 · 0 + 0.1 μ = [0.4, 0.1]
  //   running_var  = 0.9 · 1 + 0.1 · unbiased = [0.9 + 2/3, 0.9 + 0.4/3]
  bn(small_batch());
  CHECK(all_close(bn.running_mean, {0.4, 0.1}, kTol, kTol));
  CHECK(all_close(bn.running_var, {0.9 + 2.0 / 3, 0.9 + 0.4 / 3}, kTol, kTol));
  CHECK(bn.num_batches_tracked.item() == 1);
  // step 2: channel 0 holds 0 2 / 4 10 (μ 4, Σ(x−μ)² = 16 + 4 + 0 + 36 = 56, unbiased 56/3),
  //         channel 1 holds 1 1 / 1 5   (μ 2, Σ(x−μ)² = 1 + 1 + 1 + 9 = 12, unbiased 4)
  bn(from_vector({0, 2, 1, 1, 4, 10, 1, 5}, {2, 2, 1, 2}));
  const double mean0 = 0.9 * 0.4 + 0.1 * 4, mean1 = 0.9 * 0.1 + 0.1 * 2;
  const double var0 = 0.9 * (0.9 + 2.0 / 3) + 0.1 * 56.0 / 3, var1 = 0.9 * (0.9 + 0.4 / 3) + 0.1 * 4;
  CHECK(all_close(bn.running_mean, {mean0, mean1}, kTol, kTol));
  CHECK(all_close(bn.running_var, {var0, var1}, kTol, kTol));
  CHECK(bn.num_batches_tracked.item() == 2);
  // the biased variance would give 0.9 · 1.5 + 0.1 · 14 for channel 0 at step 2: not that
  CHECK(std::abs(bn.running_var.at({0}) - (0.9 * (0.9 + 0.5) + 0.1 * 14)) > 0.1);

  // eval: normalised with the running stats, and they stay put
  bn.eval();
  const Tensor x = from_vector({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 1, 2});
  const Tensor y = bn(x);
  std::vector<double> expected;
  for (int i = 0; i < 8; ++i) {
    const int c = (i / 2) % 2;
    const double mu = c == 0 ? mean0 : mean1, var = c == 0 ? var0 : var1;
    expected.push_back((i + 1 - mu) / std::sqrt(var + 1e-5));
  }
  CHECK(all_close(y, expected, kTol * 10, kTol * 10));
  CHECK(all_close(bn.running_mean, {mean0, mean1}, kTol, kTol));
  CHECK(bn.num_batches_tracked.item() == 2);
}

TEST_CASE("BatchNorm2d: momentum = None is the cumulative average of the batch statistics") {
  nn::BatchNorm2d bn(2, {.momentum = std::nullopt});
  bn(small_batch());                                            // μ = [4, 1]: weight 1/1
  bn(from_vector({0, 2, 1, 1, 4, 10, 1, 5}, {2, 2, 1, 2}));     // μ = [4, 2]: weight 1/2
  CHECK(all_close(bn.running_mean, {4, 1.5}, kTol, kTol));
  // running_var: step 1 replaces the ones by [20/3, 4/3]; step 2 averages in [56/3, 4]
  CHECK(all_close(bn.running_var, {(20.0 / 3 + 56.0 / 3) / 2, (4.0 / 3 + 4) / 2}, kTol, kTol));
  CHECK(bn.str() == "BatchNorm2d(2, eps=1e-05, momentum=None, affine=true, track_running_stats=true)  # 4 parameters\n");
}

TEST_CASE("BatchNorm2d: PyTorch's names, defaults and printout; no tracking; no affine") {
  nn::BatchNorm2d bn(3);
  const nn::StateDict state = bn.state_dict();
  std::vector<std::string> names;
  for (const auto& [name, t] : state) names.push_back(name);
  CHECK(names == std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
  CHECK(state.at("num_batches_tracked").shape() == Shape{});  // shape [] as PyTorch (stored as scalar_t)
  CHECK(bn.weight.to_vector() == std::vector<scalar_t>(3, 1));
  CHECK(bn.bias.to_vector() == std::vector<scalar_t>(3, 0));
  CHECK(bn.running_var.to_vector() == std::vector<scalar_t>(3, 1));
  CHECK(bn.named_parameters().size() == 2);
  CHECK(bn.str() == "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)  # 6 parameters\n");

  // no tracking: no buffers, and batch statistics in eval mode too
  nn::BatchNorm2d untracked(2, {.track_running_stats = false});
  CHECK(untracked.state_dict().size() == 2);
  untracked.eval();
  CHECK(all_close(untracked(small_batch()), nn::batch_norm(small_batch(), Tensor(), Tensor(), Tensor(), Tensor(), true),
                  kTol, kTol));
  // no affine: no parameters, the buffers remain
  nn::BatchNorm2d plain(2, {.eps = 1e-3, .affine = false});
  CHECK(plain.num_parameters() == 0);
  CHECK(plain.state_dict().size() == 3);
  CHECK(all_close(plain(small_batch()), nn::batch_norm(small_batch(), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-3),
                  kTol, kTol));
}

TEST_CASE("batch_norm: values and gradients equal (x − mean) / sqrt(var + eps) · γ + β from engine ops") {
  const Tensor x = param({4, 3, 5, 2}, 501, -2, 2), w = param({3}, 502), b = param({3}, 503);
  const Tensor fused = nn::batch_norm(x, Tensor(), Tensor(), w, b, true);
  const Tensor mu = mean(x, {0, 2, 3}, true);
  const Tensor variance = var(x, {0, 2, 3}, true, /*correction=*/0);
  const Tensor reference = (x - mu) / sqrt(variance + static_cast<scalar_t>(1e-5)) * reshape(w, {1, 3, 1, 1}) +
                           reshape(b, {1, 3, 1, 1});
  CHECK(all_close(fused, reference, kTol * 10, kTol * 10));
  Generator gen(504);
  const Tensor g = uniform(x.shape(), -1, 1, &gen);
  fused.backward(g);
  const Tensor dx = x.grad(), dw = w.grad(), db = b.grad();
  x.zero_grad();
  w.zero_grad();
  b.zero_grad();
  reference.backward(g);
  const double gtol = kDouble ? 1e-10 : 1e-4;
  CHECK(all_close(dx, x.grad(), gtol, gtol));
  CHECK(all_close(dw, w.grad(), gtol, gtol));
  CHECK(all_close(db, b.grad(), gtol, gtol));
}

TEST_CASE("batch_norm: gradcheck in training mode on x, weight and bias") {
  auto bn = [](auto& in) { return nn::batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true); };
  CHECK_GRAD(bn, {param({3, 2, 2, 3}, 511), param({2}, 512), param({2}, 513)});
  CHECK_GRAD(bn, {param({2, 4, 3, 1}, 514), param({4}, 515), param({4}, 516)});
  // rank 2 [N, C] and rank 3 inputs (the functional takes [N, C, *])
  CHECK_GRAD(bn, {param({5, 3}, 517), param({3}, 518), param({3}, 519)});
  CHECK_GRAD(bn, {param({2, 3, 4}, 520), param({3}, 521), param({3}, 522)});
  // channels of very different scales and offsets
  Generator gen(523);
  Tensor x = uniform({3, 3, 2, 2}, -1, 1, &gen);
  const std::vector<double> scales = {kDouble ? 1e-2 : 1e-1, 1, 50}, offsets = {0.5, -3, 100};
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = (i / 4) % 3;
    x.data()[i] = static_cast<scalar_t>(scales[c] * x.data()[i] + offsets[c]);
  }
  x.requires_grad_();
  CHECK_GRAD(bn, {x, param({3}, 524, 0.5, 2), param({3}, 525)});
  // no affine; x constant with only the parameters checked; the output used twice
  CHECK_GRAD([](auto& in) { return nn::batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
             {param({2, 2, 3, 2}, 526)});
  const Tensor fixed = uniform({2, 2, 2, 2}, -1, 1);
  CHECK_GRAD([fixed](auto& in) { return nn::batch_norm(fixed, Tensor(), Tensor(), in[0], in[1], true); },
             {param({2}, 527), param({2}, 528)});
  CHECK_GRAD([](auto& in) {
    const Tensor y = nn::batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true);
    return y * y + y;
  }, {param({2, 2, 2, 2}, 529), param({2}, 530), param({2}, 531)});
}

TEST_CASE("batch_norm: gradcheck in eval mode (running stats are constants) and through the module") {
  const Tensor rm = from_vector({0.5, -1}), rv = from_vector({2, 0.25});
  CHECK_GRAD([rm, rv](auto& in) { return nn::batch_norm(in[0], rm, rv, in[1], in[2], false); },
             {param({2, 2, 3, 2}, 541), param({2}, 542), param({2}, 543)});
  // the module in training: its parameters nudged in place (running stats move too, but the
  // training output does not depend on them)
  nn::BatchNorm2d bn(3);
  {
    NoGradGuard no_grad;
    bn.weight.copy_(uniform({3}, 0.5, 1.5));
    bn.bias.copy_(uniform({3}, -1, 1));
  }
  CHECK_GRAD([&bn](auto& in) { return bn(in[0]); }, {param({2, 3, 2, 3}, 544), bn.weight, bn.bias});
  bn.eval();
  CHECK_GRAD([&bn](auto& in) { return bn(in[0]); }, {param({2, 3, 2, 3}, 545), bn.weight, bn.bias});
}

TEST_CASE("batch_norm: errors name the layer, the shapes and the fix") {
  nn::BatchNorm2d bn(3);
  CHECK(throws_with([&] { bn(zeros({8, 4, 28, 28})); }, "BatchNorm2d: expected input [N, 3, H, W], got [8, 4, 28, 28]"));
  CHECK(throws_with([&] { bn(zeros({8, 3, 28})); }, "BatchNorm2d: expected input [N, 3, H, W], got [8, 3, 28]"));
  CHECK(throws_with([&] { bn(zeros({1, 3, 1, 1})); },
                    "batch_norm: expected more than 1 value per channel when training, got input [1, 3, 1, 1]"));
  CHECK(bn.num_batches_tracked.item() == 0);  // a failed forward counts no batch
  bn.eval();
  CHECK(bn(zeros({1, 3, 1, 1})).shape() == Shape{1, 3, 1, 1});  // fine in eval mode
  CHECK(throws_with([] { nn::batch_norm(zeros({2, 3, 2, 2}), Tensor(), Tensor()); },
                    "eval mode normalises with running_mean and running_var, but none were given"));
  CHECK(throws_with([] { nn::batch_norm(zeros({2, 3, 2, 2}), zeros({4}), ones({4})); },
                    "batch_norm: expected running_mean of shape [3] (one per channel of input [2, 3, 2, 2]), got [4]"));
  CHECK(throws_with([] { nn::batch_norm(zeros({2, 3, 2, 2}), Tensor(), Tensor(), ones({2}), Tensor(), true); },
                    "expected weight of shape [3]"));
  CHECK(throws_with([] { nn::batch_norm(zeros({2, 3, 2, 2}), zeros({3}), Tensor(), Tensor(), Tensor(), true); },
                    "running_mean and running_var must be given together"));
  CHECK(throws_with([] { nn::batch_norm(zeros({3}), Tensor(), Tensor()); }, "expected input [N, C, *], got [3]"));
  CHECK(throws_with([] { nn::BatchNorm2d(0); }, "num_features (0) must be positive"));
}
