// tests/test_optim.cpp — nn/optim.cpp: SGD, Adam, AdamW, state_dict / resume, gradient clipping.
//
// Single steps worked out by hand on 1- and 2-element parameters (the arithmetic is in the
// comments); a bit-exact resume for every optimizer; state dict validation; clip_grad_norm_ on
// known gradients, including NaN and inf.
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;
namespace optim = tessera::nn::optim;

namespace {

// Value tolerance: a few ulps of the build's scalar type.
const double kTol = kDouble ? 1e-12 : 1e-6;

// A leaf [values] requiring grad, with gradient [grads].
Tensor with_grad(const std::vector<scalar_t>& values, const std::vector<scalar_t>& grads) {
  Tensor p = from_vector(values).requires_grad_();
  p.set_grad(from_vector(grads));
  return p;
}

void set_grad(Tensor& p, const std::vector<scalar_t>& grads) { p.set_grad(from_vector(grads)); }

// A small regression: two parameters, a fixed batch, a loss whose gradients change every step.
std::vector<Tensor> make_params() { return {param({3, 2}, 31), param({2}, 32)}; }

void compute_grads(const std::vector<Tensor>& params) {
  Generator gen(33);
  const Tensor x = uniform({5, 3}, -1, 1, &gen), y = uniform({5, 2}, -1, 1, &gen);
  const Tensor out = tanh(matmul(x, params[0]) + params[1]);
  nn::mse_loss(out, y).backward();
}

bool identical(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    for (int64_t j = 0; j < a[i].numel(); ++j)
      if (a[i].data()[j] != b[i].data()[j]) {
        MESSAGE("parameter " << i << " element " << j << ": " << a[i].data()[j] << " vs " << b[i].data()[j]);
        return false;
      }
  return true;
}

using Factory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

// 10 uninterrupted steps vs 5 steps, state_dict, a new optimizer, load_state_dict, 5 steps.
bool resumes_exactly(const Factory& make) {
  const std::vector<Tensor> straight = make_params(), resumed = make_params();
  auto a = make(straight);
  for (int i = 0; i < 10; ++i) {
    a->zero_grad();
    compute_grads(straight);
    a->step();
  }
  auto b = make(resumed);
  for (int i = 0; i < 5; ++i) {
    b->zero_grad();
    compute_grads(resumed);
    b->step();
  }
  const nn::StateDict saved = b->state_dict();
  b.reset();
  auto c = make(resumed);
  c->load_state_dict(saved);
  for (int i = 0; i < 5; ++i) {
    c->zero_grad();
    compute_grads(resumed);
    c->step();
  }
  // and a sanity check that the state mattered: without it the result differs
  const std::vector<Tensor> fresh = make_params();
  auto d = make(fresh);
  for (int i = 0; i < 5; ++i) {
    d->zero_grad();
    compute_grads(fresh);
    d->step();
  }
  auto e = make(fresh);
  for (int i = 0; i < 5; ++i) {
    e->zero_grad();
    compute_grads(fresh);
    e->step();
  }
  bool differs = false;
  for (size_t i = 0; i < fresh.size(); ++i)
    for (int64_t j = 0; j < fresh[i].numel(); ++j) differs = differs || fresh[i].data()[j] != straight[i].data()[j];
  CHECK(differs);
  return identical(straight, resumed);
}

}  // namespace

// ---------------- SGD ----------------

TEST_CASE("optim: SGD plain and with weight decay, one step by hand") {
  // p = [1, −2], g = [0.5, 0.25], lr = 0.1:  p − 0.1·g = [0.95, −2.025]
  Tensor p = with_grad({1, -2}, {0.5, 0.25});
  optim::SGD(std::vector<Tensor>{p}, 0.1).step();
  CHECK(all_close(p, {0.95, -2.025}, kTol));
  // weight_decay 0.1: g' = g + 0.1·p = [0.6, 0.05]; p − 0.1·g' = [0.94, −2.005]
  p = with_grad({1, -2}, {0.5, 0.25});
  optim::SGD({p}, {.lr = 0.1, .weight_decay = 0.1}).step();
  CHECK(all_close(p, {0.94, -2.005}, kTol));
}

TEST_CASE("optim: SGD momentum: the first buffer is the gradient, then b = μb + (1 − dampening)g") {
  // g = [0.5, 0.25] at both steps, lr 0.1, μ = 0.9
  // step 1: b = g = [0.5, 0.25]                    p = [1, −2] − 0.1·b = [0.95, −2.025]
  // step 2: b = 0.9·b + g = [0.95, 0.475]           p = [0.95 − 0.095, −2.025 − 0.0475] = [0.855, −2.0725]
  Tensor p = with_grad({1, -2}, {0.5, 0.25});
  optim::SGD sgd({p}, {.lr = 0.1, .momentum = 0.9});
  sgd.step();
  CHECK(all_close(p, {0.95, -2.025}, kTol));
  sgd.step();
  CHECK(all_close(p, {0.855, -2.0725}, kTol));

  // dampening 0.5: step 1 is the same (no dampening on the first buffer);
  // step 2: b = 0.9·[0.5, 0.25] + 0.5·[0.5, 0.25] = [0.7, 0.35];   p = [0.95 − 0.07, −2.025 − 0.035] = [0.88, −2.06]
  p = with_grad({1, -2}, {0.5, 0.25});
  optim::SGD damped({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  damped.step();
  CHECK(all_close(p, {0.95, -2.025}, kTol));
  damped.step();
  CHECK(all_close(p, {0.88, -2.06}, kTol));
}

TEST_CASE("optim: SGD Nesterov: d = g + μb") {
  // g = [0.5, 0.25], lr 0.1, μ = 0.9
  // step 1: b = g;            d = g + 0.9·g = 1.9·g = [0.95, 0.475];     p = [1 − 0.095, −2 − 0.0475] = [0.905, −2.0475]
  // step 2: b = 0.9·g + g = 1.9·g;  d = g + 0.9·1.9·g = 2.71·g = [1.355, 0.6775]
  //         p = [0.905 − 0.1355, −2.0475 − 0.06775] = [0.7695, −2.11525]
  Tensor p = with_grad({1, -2}, {0.5, 0.25});
  optim::SGD sgd({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  sgd.step();
  CHECK(all_close(p, {0.905, -2.0475}, kTol));
  sgd.step();
  CHECK(all_close(p, {0.7695, -2.11525}, kTol));
}

// ---------------- Adam / AdamW ----------------

TEST_CASE("optim: Adam, two steps by hand") {
  // p = [1, −2], lr 0.1, β = (0.9, 0.999), eps 1e-8
  // step 1, g = [0.5, 0.25]:  m = 0.1·g,  v = 0.001·g²,  1 − β1 = 0.1,  1 − β2 = 0.001
  //   m̂ = m/0.1 = g,  √v / √0.001 = |g|  =>  p −= 0.1 · g / (|g| + 1e-8) ≈ 0.1·sign(g)
  //   p = [1 − 0.1·0.5/0.50000001, −2 − 0.1·0.25/0.25000001] ≈ [0.900000002, −2.099999996]
  Tensor p = with_grad({1, -2}, {0.5, 0.25});
  optim::Adam adam({p}, {.lr = 0.1});
  adam.step();
  const double p0 = 1 - 0.1 * 0.5 / (0.5 + 1e-8), p1 = -2 - 0.1 * 0.25 / (0.25 + 1e-8);
  CHECK(all_close(p, {p0, p1}, kTol));
  CHECK(std::abs(p0 - 0.900000002) < 1e-9);
  // step 2, g = −[0.5, 0.25]:  m = 0.9·0.1·g₁ − 0.1·g₁ = −0.01·g₁,  v = (0.999·0.001 + 0.001)·g₁² = 0.001999·g₁²
  //   1 − β1² = 0.19, 1 − β2² = 0.001999: m̂ = −0.01/0.19·g₁, √v̂ = |g₁| exactly
  //   p −= 0.1 · (−0.01/0.19)·g₁ / (|g₁| + 1e-8)  ≈  p + 0.00526316·sign(g₁)
  set_grad(p, {-0.5, -0.25});
  adam.step();
  const double step_size = 0.1 / 0.19;
  const double q0 = p0 + step_size * 0.01 * 0.5 / (0.5 + 1e-8), q1 = p1 + step_size * 0.01 * 0.25 / (0.25 + 1e-8);
  CHECK(all_close(p, {q0, q1}, kTol));
  CHECK(std::abs(q0 - 0.905263160) < 1e-8);
}

TEST_CASE("optim: Adam's weight decay is L2 on the gradient; AdamW's is decoupled") {
  // Adam, wd = 1: p = [1, −2], g = [0.05, 0.1]: g' = g + p = [1.05, −1.9]; the first step moves by
  // ≈ lr·sign(g'): p = [1 − 0.1·1.05/(1.05 + 1e-8), −2 + 0.1·1.9/(1.9 + 1e-8)] ≈ [0.9, −1.9]
  Tensor p = with_grad({1, -2}, {0.05, 0.1});
  optim::Adam({p}, {.lr = 0.1, .weight_decay = 1}).step();
  CHECK(all_close(p, {1 - 0.1 * 1.05 / (1.05 + 1e-8), -2 + 0.1 * 1.9 / (1.9 + 1e-8)}, kTol));

  // AdamW, wd = 0.5: p = [1, −2]·(1 − 0.1·0.5) = [0.95, −1.9], then the Adam step on g = [0.5, 0.25]:
  // p = [0.95 − 0.1·0.5/(0.5 + 1e-8), −1.9 − 0.1·0.25/(0.25 + 1e-8)] ≈ [0.85, −2.0]
  p = with_grad({1, -2}, {0.5, 0.25});
  optim::AdamW({p}, {.lr = 0.1, .weight_decay = 0.5}).step();
  CHECK(all_close(p, {0.95 - 0.1 * 0.5 / (0.5 + 1e-8), -1.9 - 0.1 * 0.25 / (0.25 + 1e-8)}, kTol));
  CHECK(optim::AdamWOptions{}.weight_decay == 0.01);  // PyTorch's defaults
  CHECK(optim::AdamOptions{}.weight_decay == 0);
}

TEST_CASE("optim: AMSGrad divides by the largest v seen") {
  // g = 1, then 0, lr 0.1: v₁ = 0.001, v₂ = 0.999·0.001 = 0.000999 < v₁, so AMSGrad keeps 0.001.
  // step 2: m = 0.9·0.1 = 0.09, m̂ = 0.09/0.19;  p −= 0.1·m̂ / (√(v/0.001999) + 1e-8)
  for (bool amsgrad : {false, true}) {
    Tensor p = with_grad({0}, {1});
    optim::Adam adam({p}, {.lr = 0.1, .amsgrad = amsgrad});
    adam.step();
    const double after_one = -0.1 * 1 / (1 + 1e-8);
    CHECK(all_close(p, {after_one}, kTol));
    set_grad(p, {0});
    adam.step();
    const double v = amsgrad ? 0.001 : 0.000999;
    const double expected = after_one - 0.1 * (0.09 / 0.19) / (std::sqrt(v) / std::sqrt(0.001999) + 1e-8);
    CHECK(all_close(p, {expected}, kTol));
  }
  // ≈ −0.1 − 0.066972 with AMSGrad, −0.1 − 0.067005 without
}

TEST_CASE("optim: parameters without a gradient are skipped and their state does not advance") {
  Tensor a = with_grad({1}, {1});
  Tensor b = from_vector({5}).requires_grad_();  // no gradient
  Tensor frozen = from_vector({7});              // requires_grad false
  optim::Adam adam({a, b, frozen}, {.lr = 0.1});
  adam.step();
  CHECK(b.item() == 5);
  CHECK(frozen.item() == 7);
  const nn::StateDict state = adam.state_dict();
  CHECK(state.contains("state.0.step"));
  CHECK(state.at("state.0.step").item() == 1);
  CHECK(!state.contains("state.1.step"));
  CHECK(!state.contains("state.2.exp_avg"));
  adam.zero_grad();
  CHECK(!a.grad().defined());
}

TEST_CASE("optim: a Linear model trained with cross_entropy and each optimizer lowers the loss") {
  Generator gen(41);
  const Tensor x = uniform({16, 4}, -1, 1, &gen);
  std::vector<int64_t> labels(16);
  for (int64_t i = 0; i < 16; ++i) labels[i] = x.data()[i * 4] + x.data()[i * 4 + 1] > 0 ? 1 : 0;
  const IndexTensor y(labels);
  const std::vector<Factory> factories = {
      [](std::vector<Tensor> p) { return std::make_unique<optim::SGD>(std::move(p), optim::SGDOptions{.lr = 0.5, .momentum = 0.9}); },
      [](std::vector<Tensor> p) { return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 0.05}); },
      [](std::vector<Tensor> p) { return std::make_unique<optim::AdamW>(std::move(p), optim::AdamWOptions{.lr = 0.05}); },
  };
  for (const Factory& make : factories) {
    manual_seed(42);
    nn::Linear model(4, 2);
    auto optimizer = make(model.parameters());
    const double first = nn::cross_entropy(model.forward(x), y).item();
    for (int step = 0; step < 50; ++step) {
      optimizer->zero_grad();
      nn::cross_entropy(model.forward(x), y).backward();
      optimizer->step();
    }
    CHECK(nn::cross_entropy(model.forward(x), y).item() < 0.5 * first);
  }
}

// ---------------- state_dict and resume ----------------

TEST_CASE("optim: resuming from state_dict is bit-exact for SGD, Adam, AMSGrad and AdamW") {
  CHECK(resumes_exactly([](std::vector<Tensor> p) {
    return std::make_unique<optim::SGD>(std::move(p), optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  }));
  CHECK(resumes_exactly([](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 0.01, .weight_decay = 0.1});
  }));
  CHECK(resumes_exactly([](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 0.03, .betas = {0.8, 0.99}, .amsgrad = true});
  }));
  CHECK(resumes_exactly([](std::vector<Tensor> p) {
    return std::make_unique<optim::AdamW>(std::move(p), optim::AdamWOptions{.lr = 0.003});
  }));
}

TEST_CASE("optim: resuming through a safetensors checkpoint is bit-exact too") {
  // the real resume path: state_dict -> safetensors bytes -> parse -> load_state_dict
  CHECK(resumes_exactly([](std::vector<Tensor> p) {
    struct ThroughFile : optim::Adam {
      using optim::Adam::Adam;
      nn::StateDict state_dict() const override {
        return nn::parse_safetensors(nn::safetensors_bytes(optim::Adam::state_dict())).tensors;
      }
    };
    return std::make_unique<ThroughFile>(std::move(p), optim::AdamOptions{.lr = 0.02, .amsgrad = true});
  }));
}

TEST_CASE("optim: state_dict names follow PyTorch and are a snapshot") {
  Tensor p = with_grad({1, 2}, {0.5, 0.5});
  optim::Adam adam({p}, {.lr = 0.1, .betas = {0.8, 0.9}});
  adam.step();
  const nn::StateDict state = adam.state_dict();
  for (const char* key : {"param_groups.0.params", "param_groups.0.lr", "param_groups.0.betas", "param_groups.0.eps",
                          "param_groups.0.weight_decay", "param_groups.0.amsgrad", "state.0.step", "state.0.exp_avg",
                          "state.0.exp_avg_sq"})
    CHECK_MESSAGE(state.contains(key), key);
  CHECK(state.at("param_groups.0.betas").shape() == Shape{2});
  CHECK(state.at("state.0.exp_avg").shape() == Shape{2});
  const double m = state.at("state.0.exp_avg").data()[0];
  adam.step();  // the saved tensors must not move with the optimizer
  CHECK(state.at("state.0.exp_avg").data()[0] == m);
  CHECK(state.at("state.0.step").item() == 1);

  // hyperparameters are restored by load_state_dict
  Tensor q = with_grad({1, 2}, {0.5, 0.5});
  optim::Adam other({q}, {.lr = 0.5});
  other.load_state_dict(state);
  CHECK(std::abs(other.lr() - 0.1) < 1e-7);
  CHECK(std::abs(other.options().betas.first - 0.8) < 1e-7);

  optim::SGD sgd({q}, {.lr = 0.1, .momentum = 0.9});
  sgd.step();
  const nn::StateDict sgd_state = sgd.state_dict();
  CHECK(sgd_state.contains("state.0.momentum_buffer"));
  CHECK(sgd_state.contains("param_groups.0.nesterov"));
}

TEST_CASE("optim: load_state_dict rejects a state that does not fit, changing nothing") {
  Tensor a = with_grad({1, 2}, {0.5, 0.5}), b = with_grad({3}, {1});
  optim::Adam adam({a, b}, {.lr = 0.1});
  adam.step();
  const nn::StateDict state = adam.state_dict();

  Tensor c = with_grad({1, 2}, {0.5, 0.5});
  optim::Adam one({c}, {.lr = 0.2});
  CHECK(throws_with([&] { one.load_state_dict(state); }, "the state is for 2 parameters but this optimizer has 1"));
  CHECK(one.lr() == 0.2);

  optim::Adam swapped({b, a});  // same count, shapes swapped
  CHECK(throws_with([&] { swapped.load_state_dict(state); }, "'state.0.exp_avg' has shape [2], expected [1]"));

  optim::SGD sgd({a, b}, 0.1);
  CHECK(throws_with([&] { sgd.load_state_dict(state); }, "unexpected entry 'state.0.exp_avg'"));
  CHECK(throws_with([&] { sgd.load_state_dict(state); }, "missing 'param_groups.0.momentum'"));

  nn::StateDict partial;
  for (const auto& [key, tensor] : state)
    if (key != "state.1.exp_avg_sq") partial.insert(key, tensor);
  CHECK(throws_with([&] { optim::Adam({a, b}).load_state_dict(partial); }, "'state.1.exp_avg_sq' is missing"));

  nn::StateDict amsgrad_on;
  for (const auto& [key, tensor] : state)
    amsgrad_on.insert(key, key == "param_groups.0.amsgrad" ? scalar_tensor(1) : tensor);
  CHECK(throws_with([&] { optim::Adam({a, b}).load_state_dict(amsgrad_on); }, "'state.0.max_exp_avg_sq' is missing"));
}

// ---------------- errors ----------------

TEST_CASE("optim: constructor errors") {
  Tensor p = with_grad({1}, {1});
  CHECK(throws_with([] { optim::SGD(std::vector<Tensor>{}, 0.1); }, "empty parameter list"));
  CHECK(throws_with([&] { optim::SGD({p, p}, 0.1); }, "parameter 1 is the same tensor as parameter 0"));
  CHECK(throws_with([&] { optim::SGD({p * 2}, 0.1); }, "not a leaf"));
  CHECK(throws_with([&] { optim::SGD({p}, -1); }, "invalid learning rate -1"));
  CHECK(throws_with([&] { optim::SGD({p}, {.lr = 0.1, .nesterov = true}); }, "Nesterov momentum requires a momentum"));
  CHECK(throws_with([&] { optim::Adam({p}, {.betas = {1.0, 0.999}}); }, "invalid beta1 1"));
  CHECK(throws_with([&] { optim::AdamW({p}, {.eps = -1}); }, "AdamW: invalid eps"));
  optim::SGD sgd({p}, 0.1);
  CHECK(throws_with([&] { sgd.set_lr(std::nan("")); }, "invalid learning rate"));
}

// ---------------- gradient clipping ----------------

TEST_CASE("optim: clip_grad_norm_ on known gradients") {
  // grads [3, 4] and [12]: ‖·‖₂ = √(9 + 16 + 144) = 13, ‖·‖₁ = 19, ‖·‖∞ = 12
  auto make = [] { return std::vector<Tensor>{with_grad({0, 0}, {3, 4}), with_grad({0}, {12})}; };
  std::vector<Tensor> p = make();
  CHECK(std::abs(nn::utils::clip_grad_norm_(p, 20) - 13) < 1e-9);  // below max_norm: unchanged
  CHECK(all_close(p[0].grad(), {3, 4}, 0, 0));
  // max_norm 6.5: coef = 6.5 / (13 + 1e-6) ≈ 0.5
  CHECK(std::abs(nn::utils::clip_grad_norm_(p, 6.5) - 13) < 1e-9);
  const double coef = 6.5 / (13 + 1e-6);
  CHECK(all_close(p[0].grad(), {3 * coef, 4 * coef}, kTol));
  CHECK(all_close(p[1].grad(), {12 * coef}, kTol));
  p = make();
  CHECK(std::abs(nn::utils::clip_grad_norm_(p, 9.5, 1) - 19) < 1e-9);
  CHECK(all_close(p[1].grad(), {12 * 9.5 / (19 + 1e-6)}, kTol));
  p = make();
  CHECK(nn::utils::clip_grad_norm_(p, 100, INFINITY) == 12);
  p = make();
  CHECK(std::abs(nn::utils::clip_grad_norm_(p, 100, 3) - std::cbrt(27.0 + 64 + 1728)) < 1e-9);
  // no gradients at all: 0
  CHECK(nn::utils::clip_grad_norm_({from_vector({1}).requires_grad_()}, 1) == 0);
}

TEST_CASE("optim: clip_grad_norm_ with NaN or inf gradients: PyTorch's error_if_nonfinite") {
  const scalar_t nan = std::numeric_limits<scalar_t>::quiet_NaN(), inf = std::numeric_limits<scalar_t>::infinity();
  std::vector<Tensor> p = {with_grad({0, 0}, {nan, 1})};
  CHECK(throws_with([&] { nn::utils::clip_grad_norm_(p, 1, 2, true); }, "non-finite"));
  CHECK(std::isnan(nn::utils::clip_grad_norm_(p, 1)));  // default: returns NaN and scales by NaN, like torch
  CHECK(std::isnan(p[0].grad().data()[1]));
  p = {with_grad({0, 0}, {inf, 1})};
  CHECK(std::isinf(nn::utils::clip_grad_norm_(p, 1)));  // coef = 1 / inf = 0
  CHECK(p[0].grad().data()[1] == 0);
  p = {with_grad({0, 0}, {nan, 1})};
  CHECK(std::isnan(nn::utils::clip_grad_norm_(p, 1, INFINITY)));
  CHECK(throws_with([&] { nn::utils::clip_grad_norm_(p, 1, 0); }, "norm_type must be > 0"));
}

TEST_CASE("optim: clip_grad_value_ clamps each element") {
  std::vector<Tensor> p = {with_grad({0, 0, 0}, {-3, 0.5, 2})};
  nn::utils::clip_grad_value_(p, 1);
  CHECK(all_close(p[0].grad(), {-1, 0.5, 1}, 0, 0));
}
