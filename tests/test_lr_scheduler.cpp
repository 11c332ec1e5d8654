// tests/test_lr_scheduler.cpp — nn/lr_scheduler.cpp: StepLR, CosineAnnealingLR, LambdaLR, NoamLR.
//
// Each schedule is compared, step for step, with its formula evaluated here and with a few values
// worked out by hand; StepLR and CosineAnnealingLR also with PyTorch's own recursive update
// (torch/optim/lr_scheduler.py, get_lr), which must agree with the closed form to rounding.
// And: resuming a scheduler with its optimizer continues exactly.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "nn/lr_scheduler.h"
#include "nn/loss.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;
namespace optim = tessera::nn::optim;

namespace {

Tensor one_param() { return from_vector({1}).requires_grad_(); }

// The lrs the optimizer holds: after construction (epoch 0), then after each of `steps` step()s.
std::vector<double> run(optim::LRScheduler& scheduler, const optim::Optimizer& optimizer, int steps) {
  std::vector<double> lrs = {optimizer.lr()};
  int disagreements = 0;  // get_last_lr() must be what the optimizer holds
  for (int i = 0; i < steps; ++i) {
    scheduler.step();
    disagreements += scheduler.get_last_lr() != optimizer.lr();
    lrs.push_back(optimizer.lr());
  }
  CHECK(disagreements == 0);
  CHECK(scheduler.last_epoch() == steps);
  return lrs;
}

bool close(const std::vector<double>& got, const std::vector<double>& expected, double rtol) {
  for (size_t i = 0; i < expected.size(); ++i)
    if (!(std::abs(got[i] - expected[i]) <= rtol * std::abs(expected[i]) + 1e-300)) {
      MESSAGE("epoch " << i << ": " << got[i] << " vs expected " << expected[i]);
      return false;
    }
  return true;
}

}  // namespace

TEST_CASE("lr_scheduler: StepLR, by hand, by formula and by PyTorch's recursion") {
  optim::SGD sgd({one_param()}, 0.1);
  optim::StepLR schedule(sgd, /*step_size=*/3, /*gamma=*/0.5);
  const std::vector<double> lrs = run(schedule, sgd, 30);
  // by hand: epochs 0-2 at 0.1, 3-5 at 0.05, 6-8 at 0.025, 9 at 0.0125
  CHECK(close(lrs, {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125}, 1e-15));
  std::vector<double> formula, torch = {0.1};
  for (int e = 0; e <= 30; ++e) formula.push_back(0.1 * std::pow(0.5, e / 3));
  for (int e = 1; e <= 30; ++e) torch.push_back(e % 3 != 0 ? torch.back() : torch.back() * 0.5);
  CHECK(close(lrs, formula, 0));
  CHECK(close(lrs, torch, 1e-14));
}

TEST_CASE("lr_scheduler: CosineAnnealingLR, by hand, by formula and by PyTorch's recursion") {
  const double base = 0.1, eta_min = 0.001;
  const int T = 10;
  optim::Adam adam({one_param()}, {.lr = base});
  optim::CosineAnnealingLR schedule(adam, T, eta_min);
  const std::vector<double> lrs = run(schedule, adam, 3 * T);
  // by hand: epoch 0 → base; epoch 5 → eta_min + (base − eta_min)·(1 + cos(π/2))/2 = 0.001 + 0.0495 = 0.0505;
  // epoch 10 → eta_min; epoch 20 → back to base (the cosine goes on, as in PyTorch)
  CHECK(lrs[0] == base);
  CHECK(std::abs(lrs[5] - 0.0505) < 1e-15);
  CHECK(std::abs(lrs[10] - eta_min) < 1e-15);
  CHECK(std::abs(lrs[20] - base) < 1e-15);
  std::vector<double> formula;
  for (int e = 0; e <= 3 * T; ++e)
    formula.push_back(eta_min + (base - eta_min) * (1 + std::cos(std::numbers::pi * e / T)) / 2);
  CHECK(close(lrs, formula, 0));
  // PyTorch's get_lr(): a ratio of cosines applied to the previous lr, with a special case where
  // that ratio would divide by zero
  std::vector<double> torch = {base};
  for (int e = 1; e <= 3 * T; ++e) {
    const double lr = torch.back();
    if ((e - 1 - T) % (2 * T) == 0)
      torch.push_back(lr + (base - eta_min) * (1 - std::cos(std::numbers::pi / T)) / 2);
    else
      torch.push_back((1 + std::cos(std::numbers::pi * e / T)) / (1 + std::cos(std::numbers::pi * (e - 1) / T)) *
                          (lr - eta_min) + eta_min);
  }
  CHECK(close(lrs, torch, 1e-12));
}

TEST_CASE("lr_scheduler: NoamLR, the Transformer's warmup then inverse square root") {
  // d_model 4, warmup 2, factor 2: lr = 2 · 4^−0.5 · min(s^−0.5, s · 2^−1.5) = min(s^−0.5, s/√8), s = epoch + 1
  //   s = 1: min(1, 0.35355) = 0.35355339     s = 2: min(0.70711, 0.70711) = 0.70710678 (the peak)
  //   s = 3: min(0.57735, 1.06066) = 0.57735027     s = 4: min(0.5, 1.41421) = 0.5
  optim::Adam adam({one_param()}, {.lr = 123});  // replaced, not scaled
  optim::NoamLR small(adam, /*d_model=*/4, /*warmup_steps=*/2, /*factor=*/2);
  CHECK(close(run(small, adam, 3), {0.35355339059327373, 0.70710678118654752, 0.57735026918962576, 0.5}, 1e-15));

  // d_model 512, warmup 4000: the first update already has lr > 0 (s starts at 1):
  //   512^−0.5 · 4000^−1.5 = 1.7469281e-7; the peak at update 4000 (epoch 3999) is (512·4000)^−0.5 = 6.9877124e-4
  optim::Adam big_adam({one_param()});
  optim::NoamLR noam(big_adam, 512, 4000);
  const std::vector<double> lrs = run(noam, big_adam, 5000);
  CHECK(lrs[0] > 0);
  CHECK(std::abs(lrs[0] - 1.7469281074217108e-7) < 1e-20);
  CHECK(std::abs(lrs[3999] - 6.987712429686843e-4) < 1e-17);
  CHECK(std::max_element(lrs.begin(), lrs.end()) - lrs.begin() == 3999);
  std::vector<double> formula;
  for (int e = 0; e <= 5000; ++e) {
    const double s = e + 1;
    formula.push_back(std::pow(512.0, -0.5) * std::min(std::pow(s, -0.5), s * std::pow(4000.0, -1.5)));
  }
  CHECK(close(lrs, formula, 1e-14));
}

TEST_CASE("lr_scheduler: LambdaLR multiplies the base lr") {
  optim::SGD sgd({one_param()}, 0.2);
  optim::LambdaLR schedule(sgd, [](int64_t epoch) { return std::pow(0.95, static_cast<double>(epoch)); });
  // 0.2, 0.19, 0.1805, 0.171475
  CHECK(close(run(schedule, sgd, 3), {0.2, 0.19, 0.1805, 0.171475}, 1e-15));
}

TEST_CASE("lr_scheduler: resuming optimizer + scheduler from their state dicts is bit-exact") {
  Generator gen(51);
  const Tensor x = uniform({6, 3}, -1, 1, &gen);
  const IndexTensor y({0, 1, 2, 1, 0, 2});
  auto train = [&](Tensor w, optim::Optimizer& optimizer, optim::LRScheduler& schedule, int steps) {
    for (int i = 0; i < steps; ++i) {
      optimizer.zero_grad();
      nn::cross_entropy(matmul(x, w), y, {.label_smoothing = 0.1}).backward();
      optimizer.step();
      schedule.step();
    }
  };
  const Tensor straight = param({3, 3}, 52), resumed = param({3, 3}, 52);
  const optim::AdamWOptions options{.lr = 1, .betas = {0.9, 0.98}, .eps = 1e-9};
  optim::AdamW a({straight}, options);
  optim::NoamLR sa(a, 16, 4);
  train(straight, a, sa, 12);

  nn::StateDict optimizer_state, schedule_state;
  {
    optim::AdamW b({resumed}, options);
    optim::NoamLR sb(b, 16, 4);
    train(resumed, b, sb, 7);
    optimizer_state = b.state_dict();
    schedule_state = sb.state_dict();
  }
  optim::AdamW c({resumed}, options);
  optim::NoamLR sc(c, 16, 4);
  c.load_state_dict(optimizer_state);
  sc.load_state_dict(schedule_state);  // after the optimizer: sets lr = lr_at(7) exactly
  CHECK(sc.last_epoch() == 7);
  CHECK(c.lr() == sc.lr_at(7));
  train(resumed, c, sc, 5);
  CHECK(a.lr() == c.lr());
  for (int64_t j = 0; j < straight.numel(); ++j) CHECK(straight.data()[j] == resumed.data()[j]);
}

TEST_CASE("lr_scheduler: errors") {
  optim::SGD sgd({one_param()}, 0.1);
  CHECK(throws_with([&] { optim::StepLR(sgd, 0); }, "StepLR: step_size must be positive"));
  CHECK(throws_with([&] { optim::CosineAnnealingLR(sgd, 0); }, "T_max must be positive"));
  CHECK(throws_with([&] { optim::NoamLR(sgd, 512, 0); }, "warmup_steps must be positive"));
  CHECK(throws_with([&] { optim::LambdaLR(sgd, [](int64_t) { return -1.0; }); }, "LambdaLR: the schedule gives lr -0.1"));
  optim::StepLR schedule(sgd, 2);
  nn::StateDict bad;
  bad.insert("last_epoch", scalar_tensor(1.5));
  bad.insert("base_lr", scalar_tensor(0.1));
  CHECK(throws_with([&] { schedule.load_state_dict(bad); }, "not a whole number"));
  bad.insert("extra", scalar_tensor(0));
  CHECK(throws_with([&] { schedule.load_state_dict(bad); }, "unexpected entry 'extra'"));
}
