// tests/test_loss.cpp — nn/loss.cpp: cross_entropy, nll_loss, mse_loss.
//
// Gradient checks for every reduction, with and without label smoothing and ignored targets, in
// both layouts; values worked out by hand; the fused kernel against the composition of engine
// ops it replaces; errors.
#include <cmath>
#include <limits>
#include <vector>

#include "nn/loss.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;
using nn::Reduction;

namespace {

const double kTol = kDouble ? 1e-12 : 1e-5;

// The cross entropy written with engine ops, as PyTorch does it (log_softmax, then the picked
// and the averaged log-probabilities), for [N, C] logits: the reference the fused kernel must match.
Tensor composed_cross_entropy(const Tensor& logits, const IndexTensor& target, double eps, int64_t ignore,
                              Reduction reduction) {
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  std::vector<scalar_t> keep(N), smooth(N), live(N);
  std::vector<int64_t> safe(N);
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    const bool counted = target.data()[i] != ignore;
    count += counted;
    live[i] = counted ? 1 : 0;
    safe[i] = counted ? target.data()[i] : 0;
    keep[i] = static_cast<scalar_t>(counted ? 1 - eps : 0);
    smooth[i] = static_cast<scalar_t>(counted ? eps / static_cast<double>(C) : 0);
  }
  const Tensor logp = log_softmax(logits, 1);
  const Tensor picked = gather(logp, 1, IndexTensor(safe, {N, 1})).reshape({N});
  const Tensor per_row = -(picked * from_vector(keep) + sum(logp, {1}) * from_vector(smooth));
  if (reduction == Reduction::None) return per_row;
  if (reduction == Reduction::Sum) return sum(per_row);
  return sum(per_row) / static_cast<scalar_t>(count);
}

}  // namespace

// ---------------- known values ----------------

TEST_CASE("loss: cross_entropy of equal logits is ln C") {
  const Tensor logits = from_vector({0, 0}, {1, 2});
  CHECK(all_close(nn::cross_entropy(logits, IndexTensor({0})), {std::log(2.0)}, kTol));
  CHECK(all_close(nn::cross_entropy(zeros({4, 5}), IndexTensor({0, 1, 2, 4})), {std::log(5.0)}, kTol));
}

TEST_CASE("loss: cross_entropy on a 3-class example, without and with label smoothing, by hand") {
  // logits x = [1, 2, 3]: lse = log(e + e² + e³) = 3 + log(1 + e⁻¹ + e⁻²) = 3.4076059644443806
  // p = softmax(x) = [0.0900305732, 0.2447284711, 0.6652409558]
  const double lse = 3 + std::log(1 + std::exp(-1.0) + std::exp(-2.0));
  const std::vector<double> p = {std::exp(1 - lse), std::exp(2 - lse), std::exp(3 - lse)};
  CHECK(std::abs(lse - 3.4076059644443806) < 1e-15);

  // target 2, no smoothing: −log p_2 = lse − 3 = 0.4076059644
  Tensor x = from_vector({1, 2, 3}, {1, 3}).requires_grad_();
  Tensor loss = nn::cross_entropy(x, IndexTensor({2}));
  CHECK(all_close(loss, {0.4076059644443806}, kTol));
  loss.backward();  // p − onehot(2)
  CHECK(all_close(x.grad(), {p[0], p[1], p[2] - 1}, kTol));

  // target 0, eps = 0.3: the target distribution is q = 0.7·onehot(0) + 0.3/3 = [0.8, 0.1, 0.1], and
  //   loss = Σ_c q_c (lse − x_c) = lse − Σ_c q_c x_c = lse − (0.8·1 + 0.1·2 + 0.1·3) = lse − 1.3
  //        = 2.1076059644
  // (the same as 0.7·(lse − 1) + 0.1·((lse − 1) + (lse − 2) + (lse − 3)) = 1.6853241751 + 0.4222817893)
  // and dL/dx = p − q = [0.0900305732 − 0.8, 0.2447284711 − 0.1, 0.6652409558 − 0.1]
  x = from_vector({1, 2, 3}, {1, 3}).requires_grad_();
  loss = nn::cross_entropy(x, IndexTensor({0}), {.label_smoothing = 0.3});
  CHECK(all_close(loss, {2.1076059644443806}, kTol));
  loss.backward();
  CHECK(all_close(x.grad(), {p[0] - 0.8, p[1] - 0.1, p[2] - 0.1}, kTol));

  // eps = 1: the target is uniform, whatever the label: lse − mean(x) = lse − 2
  CHECK(all_close(nn::cross_entropy(from_vector({1, 2, 3}, {1, 3}), IndexTensor({1}), {.label_smoothing = 1}),
                  {lse - 2}, kTol));
}

TEST_CASE("loss: cross_entropy is stable for large logits") {
  // log(e^1000 + e^0) − 0 = 1000 (+ e^−1000): no overflow
  CHECK(all_close(nn::cross_entropy(from_vector({1000, 0}, {1, 2}), IndexTensor({1})), {1000.0}, kTol, kTol));
  CHECK(all_close(nn::cross_entropy(from_vector({1000, 0}, {1, 2}), IndexTensor({0})), {0.0}, kTol));
}

TEST_CASE("loss: cross_entropy reductions: mean = sum / count, none is per target") {
  const Tensor x = param({4, 5}, 1, -2, 2);
  const IndexTensor y({3, 0, 4, 1});
  const Tensor none = nn::cross_entropy(x, y, {.reduction = Reduction::None});
  REQUIRE(none.shape() == Shape{4});
  const double total = none.data()[0] + none.data()[1] + none.data()[2] + none.data()[3];
  CHECK(all_close(nn::cross_entropy(x, y, {.reduction = Reduction::Sum}), {total}, kTol, kTol));
  CHECK(all_close(nn::cross_entropy(x, y), {total / 4}, kTol, kTol));
  CHECK(nn::cross_entropy(x, y).dim() == 0);
}

TEST_CASE("loss: the fused cross_entropy matches log_softmax + gather, values and gradients") {
  for (double eps : {0.0, 0.1, 0.25})
    for (Reduction reduction : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
      CAPTURE(eps);
      const IndexTensor y({2, -100, 0, 6, 3, -100});
      Tensor a = param({6, 7}, 2, -3, 3), b = param({6, 7}, 2, -3, 3);
      const Tensor fused = nn::cross_entropy(a, y, {.label_smoothing = eps, .reduction = reduction});
      const Tensor composed = composed_cross_entropy(b, y, eps, -100, reduction);
      CHECK(all_close(fused, composed, kTol, kTol));
      const Tensor seed = reduction == Reduction::None ? from_vector({1, 2, 3, 4, 5, 6}) : Tensor();
      fused.backward(seed);
      composed.backward(seed);
      CHECK(all_close(a.grad(), b.grad(), kTol, kTol));
    }
}

TEST_CASE("loss: cross_entropy equals nll_loss of log_softmax") {
  const Tensor x = param({5, 4}, 3, -2, 2);
  const IndexTensor y({0, 3, 3, 1, 2});
  CHECK(all_close(nn::cross_entropy(x, y), nn::nll_loss(log_softmax(x, 1), y), kTol, kTol));
}

// ---------------- ignore_index ----------------

TEST_CASE("loss: ignored targets change nothing: loss, count and the other rows' gradients") {
  // rows 0 and 2 of a 3-row batch with row 1 ignored == the 2-row batch of rows 0 and 2
  const Tensor full = param({3, 4}, 4, -2, 2);
  const IndexTensor with_ignored({1, -100, 3});
  const Tensor kept = cat({narrow(full, 0, 0, 1), narrow(full, 0, 2, 1)}, 0).detach().requires_grad_();
  const IndexTensor without({1, 3});
  for (double eps : {0.0, 0.2})
    for (Reduction reduction : {Reduction::Mean, Reduction::Sum}) {
      full.zero_grad();
      kept.zero_grad();
      const Tensor a = nn::cross_entropy(full, with_ignored, {.label_smoothing = eps, .reduction = reduction});
      const Tensor b = nn::cross_entropy(kept, without, {.label_smoothing = eps, .reduction = reduction});
      CHECK(all_close(a, b, kTol, kTol));
      a.backward();
      b.backward();
      const Tensor ga = full.grad(), gb = kept.grad();
      for (int c = 0; c < 4; ++c) {
        CHECK(std::abs(ga.at({0, c}) - gb.at({0, c})) < kTol);
        CHECK(ga.at({1, c}) == 0);
        CHECK(std::abs(ga.at({2, c}) - gb.at({1, c})) < kTol);
      }
    }
  // reduction none: 0 at the ignored position
  const Tensor none = nn::cross_entropy(full, with_ignored, {.reduction = Reduction::None});
  CHECK(none.data()[1] == 0);
  CHECK(none.data()[0] > 0);
}

TEST_CASE("loss: a custom ignore_index, and a target equal to it outside the class range") {
  const Tensor x = param({3, 4}, 5);
  const Tensor a = nn::cross_entropy(x, IndexTensor({1, 2, 0}), {.ignore_index = 2});
  const Tensor b = nn::cross_entropy(x, IndexTensor({1, -100, 0}));
  CHECK(all_close(a, b, kTol, kTol));
  // ignore_index = 7 may be used as padding even though 7 is not a class
  CHECK(std::isfinite(nn::cross_entropy(x, IndexTensor({1, 7, 0}), {.ignore_index = 7}).item()));
}

TEST_CASE("loss: every target ignored: mean is NaN (as in PyTorch) with a zero gradient, sum is 0") {
  Tensor x = param({2, 3}, 6);
  const IndexTensor y({-100, -100});
  const Tensor mean_loss = nn::cross_entropy(x, y, {.label_smoothing = 0.1});
  CHECK(std::isnan(mean_loss.item()));
  mean_loss.backward();
  for (scalar_t g : x.grad().to_vector()) CHECK(g == 0);
  CHECK(nn::cross_entropy(x, y, {.reduction = Reduction::Sum}).item() == 0);
  CHECK(std::isnan(nn::nll_loss(x, y).item()));
}

// ---------------- layouts ----------------

TEST_CASE("loss: PyTorch's [N, C, d] layout, the [*, C] layout and a single [C] sample agree") {
  const Tensor x = param({2, 3, 4}, 7, -2, 2);          // [N, C, d]: classes in dim 1
  const IndexTensor y({0, 2, 1, 1, 2, 2, 0, 1}, {2, 4});  // [N, d]
  const Tensor last = permute(x, {0, 2, 1}).detach();   // [N, d, C]: classes last
  const Tensor a = nn::cross_entropy(x, y, {.label_smoothing = 0.1, .reduction = Reduction::None});
  const Tensor b = nn::cross_entropy(last, y, {.label_smoothing = 0.1, .reduction = Reduction::None});
  REQUIRE(a.shape() == Shape{2, 4});
  CHECK(all_close(a, b, kTol, kTol));
  // one sample: input [C], target rank 0
  const Tensor row = from_vector({1, 2, 3});
  const Tensor single = nn::cross_entropy(row, IndexTensor({2}, Shape{}), {.reduction = Reduction::None});
  CHECK(single.dim() == 0);
  CHECK(all_close(single, {0.4076059644443806}, kTol));
}

// ---------------- gradient checks ----------------

TEST_CASE("loss: cross_entropy passes gradcheck: reductions, smoothing, ignore_index, layouts") {
  const IndexTensor y({2, -100, 0, 4});
  for (double eps : {0.0, 0.1})
    for (Reduction reduction : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
      CAPTURE(eps);
      CHECK_GRAD([&](auto& in) { return nn::cross_entropy(in[0], y, {.label_smoothing = eps, .reduction = reduction}); },
                 {param({4, 5}, 8, -2, 2)});
    }
  const IndexTensor y3({0, 2, 1, -100, 2, 2}, {2, 3});  // [N, d] for [N, C, d]
  CHECK_GRAD([&](auto& in) { return nn::cross_entropy(in[0], y3, {.label_smoothing = 0.2}); }, {param({2, 3, 3}, 9)});
  CHECK_GRAD([&](auto& in) { return nn::cross_entropy(in[0], y3, {.reduction = Reduction::None}); },
             {param({2, 3, 3}, 10)});
  const IndexTensor y_last({0, 3, 1, -100, 2, 3}, {2, 3});  // [*, C]
  CHECK_GRAD([&](auto& in) { return nn::cross_entropy(in[0], y_last, {.label_smoothing = 0.1}); },
             {param({2, 3, 4}, 11)});
}

TEST_CASE("loss: nll_loss passes gradcheck and picks −input[i, y_i]") {
  const Tensor logp = from_vector({-1, -2, -3, -0.5, -0.25, -4}, {2, 3});
  CHECK(all_close(nn::nll_loss(logp, IndexTensor({2, 0})), {(3 + 0.5) / 2}, kTol));
  CHECK(all_close(nn::nll_loss(logp, IndexTensor({2, 0}), {.reduction = Reduction::None}), {3, 0.5}, kTol));
  CHECK(all_close(nn::nll_loss(logp, IndexTensor({2, 0}), {.ignore_index = 0}), {3.0}, kTol));
  const IndexTensor y({1, 0, -100, 3});
  for (Reduction reduction : {Reduction::Mean, Reduction::Sum, Reduction::None})
    CHECK_GRAD([&](auto& in) { return nn::nll_loss(in[0], y, {.reduction = reduction}); }, {param({4, 5}, 12)});
  CHECK_GRAD([&](auto& in) { return nn::nll_loss(log_softmax(in[0], 1), IndexTensor({0, 1, 1}, {1, 3}), {}); },
             {param({1, 2, 3}, 13)});
}

TEST_CASE("loss: mse_loss values by hand and gradcheck for both inputs") {
  // (1 − 0)² = 1, (2 − 4)² = 4, (−1 − 1)² = 4: mean 3, sum 9
  const Tensor a = from_vector({1, 2, -1}), b = from_vector({0, 4, 1});
  CHECK(all_close(nn::mse_loss(a, b), {3.0}, kTol));
  CHECK(all_close(nn::mse_loss(a, b, Reduction::Sum), {9.0}, kTol));
  CHECK(all_close(nn::mse_loss(a, b, Reduction::None), {1, 4, 4}, kTol));
  for (Reduction reduction : {Reduction::Mean, Reduction::Sum, Reduction::None})
    CHECK_GRAD([&](auto& in) { return nn::mse_loss(in[0], in[1], reduction); }, {param({2, 3}, 14), param({2, 3}, 15)});
}

// ---------------- errors ----------------

TEST_CASE("loss: errors name the position and value of a bad target, and the expected shapes") {
  const Tensor x = zeros({2, 3});
  CHECK(throws_with([&] { nn::cross_entropy(x, IndexTensor({0, 5})); }, "target 5 at position [1] is out of range for 3 classes"));
  CHECK(throws_with([&] { nn::cross_entropy(x, IndexTensor({-1, 0})); }, "target -1 at position [0]"));
  CHECK(throws_with([&] { nn::cross_entropy(zeros({2, 3, 4}), IndexTensor({0, 0, 0, 0, 0, 0, 0, 9}, {2, 4})); },
                    "target 9 at position [1, 3]"));
  CHECK(throws_with([&] { nn::nll_loss(x, IndexTensor({3, 0})); }, "nll_loss: target 3 at position [0]"));
  CHECK(throws_with([&] { nn::cross_entropy(x, IndexTensor({0, 1, 2})); }, "does not fit target of shape [3]"));
  CHECK(throws_with([&] { nn::cross_entropy(x, IndexTensor({0, 1, 2})); }, "i.e. [2]"));
  CHECK(throws_with([&] { nn::cross_entropy(x, IndexTensor({0, 1}), {.label_smoothing = 1.5}); }, "label_smoothing"));
  CHECK(throws_with([&] { nn::cross_entropy(scalar_tensor(1), IndexTensor({0})); }, "rank 0"));
  CHECK(throws_with([&] { nn::mse_loss(zeros({2, 3}), zeros({3})); }, "mse_loss: input of shape [2, 3] and target of shape [3] differ"));
}

TEST_CASE("loss: no graph is recorded without grad") {
  Tensor x = param({2, 3}, 16);
  NoGradGuard no_grad;
  CHECK(!nn::cross_entropy(x, IndexTensor({0, 1})).requires_grad());
}
