// tests/test_interpret.cpp — saliency against finite differences, integrated gradients'
// completeness, attributions that land on the one input that matters, attention entropy.
#include <cmath>
#include <functional>

#include "nn/attention.h"
#include "nn/conv.h"
#include "nn/interpret.h"
#include "nn/linear.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::nn;
using namespace tessera::testing;

namespace {

// Central differences of a scalar function at x: (f(x + eps e_i) − f(x − eps e_i)) / 2eps.
Tensor finite_difference_gradient(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  const double eps = kDouble ? 1e-6 : 1e-2;
  NoGradGuard no_grad;
  Tensor probe = x.detach().clone();
  Tensor out = zeros(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const scalar_t keep = probe.data()[i];
    probe.data()[i] = static_cast<scalar_t>(keep + eps);
    const double up = f(probe).item();
    probe.data()[i] = static_cast<scalar_t>(keep - eps);
    const double down = f(probe).item();
    probe.data()[i] = keep;
    out.data()[i] = static_cast<scalar_t>((up - down) / (2 * eps));
  }
  return out;
}

// A small attention model on token embeddings x [1, L, D]: one self-attention layer, mean over
// tokens, a linear readout, one chosen output.
struct TinyAttentionModel {
  int seeded = (manual_seed(11), 0);  // members below draw their weights from seed 11
  MultiHeadAttention attention{8, 2};
  Linear readout{8, 3};
  Tensor operator()(const Tensor& x) {
    const Tensor h = attention.forward(x, x, x).output;
    return narrow(readout.forward(mean(tanh(h), {1})), 1, 1, 1).sum();  // logit of class 1
  }
};

}  // namespace

TEST_CASE("saliency: the gradient w.r.t. token embeddings equals central finite differences") {
  TinyAttentionModel model;
  Tensor x = param({1, 5, 8}, 21);
  const Tensor y = model(x);
  const Tensor g = input_gradients(y, {x})[0];
  const Tensor fd = finite_difference_gradient([&](const Tensor& t) { return model(t); }, x);
  CHECK(all_close(g, fd, kDouble ? 1e-8 : 2e-3, kDouble ? 1e-6 : 2e-2));
  // and w.r.t. an intermediate: the attention output h, whose gradient the readout alone gives
  Tensor x2 = x.detach().clone().requires_grad_();
  const Tensor h = model.attention.forward(x2, x2, x2).output;
  const Tensor y2 = narrow(model.readout.forward(mean(tanh(h), {1})), 1, 1, 1).sum();
  const Tensor gh = input_gradients(y2, {h})[0];
  const Tensor fdh = finite_difference_gradient(
      [&](const Tensor& t) { return narrow(model.readout.forward(mean(tanh(t), {1})), 1, 1, 1).sum(); }, h.detach());
  CHECK(all_close(gh, fdh, kDouble ? 1e-8 : 2e-3, kDouble ? 1e-6 : 2e-2));
  // no parameter gradient was touched
  CHECK_FALSE(model.readout.weight.grad().defined());
}

TEST_CASE("saliency reductions: gradient × input and the per-token L2 norm") {
  const Tensor g = from_vector({3, 4, 0, 0, 1, 0}, {1, 3, 2});
  const Tensor x = from_vector({1, 2, 5, 5, -2, 7}, {1, 3, 2});
  CHECK(all_close(gradient_times_input(g, x), {3, 8, 0, 0, -2, 0}));
  const Tensor s = token_saliency(g);
  CHECK(s.shape() == Shape{1, 3});
  CHECK(all_close(s, {5, 0, 1}));
  CHECK(throws_with([&] { gradient_times_input(g, ones({2})); }, "differ in shape"));
}

TEST_CASE("a model that reads exactly one token gets its saliency there and nowhere else") {
  // query attends under a mask that lets it see key 3 only: the output is v_3, so ∂y/∂x_t = 0
  // for every other token, for the gradient and for integrated gradients alike
  const int64_t L = 6, D = 4;
  Tensor w = param({D, 1}, 31);
  auto f = [&](const Tensor& x) {
    Tensor mask = zeros({1, L});
    mask.data()[3] = 1;
    SdpaOptions o;
    o.attn_mask = mask;
    const Tensor q = narrow(x, 1, 0, 1);                            // [1, 1, D]
    const Tensor out = scaled_dot_product_attention(q, x, tanh(x), o).output;  // [1, 1, D]
    return matmul(reshape(out, {1, D}), w).sum();
  };
  Tensor x = param({1, L, D}, 32);
  const Tensor saliency = token_saliency(input_gradients(f(x), {x})[0]);
  for (int64_t t = 0; t < L; ++t) {
    INFO("token " << t);
    if (t == 3) CHECK(saliency.data()[t] > 1e-3);
    else CHECK(saliency.data()[t] == 0);
  }
  const IntegratedGradients ig = integrated_gradients(f, x, zeros(x.shape()));
  const Tensor per_token = sum(ig.attributions, {-1});
  for (int64_t t = 0; t < L; ++t)
    if (t != 3) CHECK(per_token.data()[t] == 0);
  CHECK(std::abs(per_token.data()[3] - (ig.output - ig.baseline_output)) < (kDouble ? 1e-9 : 1e-4));
}

TEST_CASE("a convolutional model that reads exactly one pixel gets its saliency there") {
  manual_seed(5);
  Conv2d conv(2, 3, 1);  // 1x1: output pixel (i, j) sees input pixel (i, j) only
  auto f = [&](const Tensor& image) {
    const Tensor out = tanh(conv.forward(image));                                 // [1, 3, 5, 5]
    return sum(narrow(narrow(out, 2, 1, 1), 3, 4, 1));                             // pixel (1, 4)
  };
  Tensor image = param({1, 2, 5, 5}, 33);
  const Tensor g = input_gradients(f(image), {image})[0];
  const Tensor ig = integrated_gradients(f, image, zeros(image.shape())).attributions;
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t j = 0; j < 5; ++j) {
        const int64_t at = (c * 5 + i) * 5 + j;
        if (i == 1 && j == 4) {
          CHECK(std::abs(g.data()[at]) > 1e-4);
        } else {
          CHECK(g.data()[at] == 0);
          CHECK(ig.data()[at] == 0);
        }
      }
}

TEST_CASE("quadrature: Gauss–Legendre is exact for polynomials of degree 2n − 1, trapezoid for lines") {
  for (int n : {2, 5, 32}) {
    std::vector<double> a, w;
    quadrature_points(n, Quadrature::GaussLegendre, a, w);
    for (int k = 0; k <= 2 * n - 1; ++k) {
      double integral = 0;
      for (int i = 0; i < n; ++i) integral += w[i] * std::pow(a[i], k);
      INFO("n " << n << " degree " << k);
      CHECK(integral == doctest::Approx(1.0 / (k + 1)).epsilon(1e-12));
    }
    quadrature_points(n, Quadrature::Trapezoid, a, w);
    double line = 0, total = 0;
    for (int i = 0; i < n; ++i) line += w[i] * (2 * a[i] + 1), total += w[i];
    CHECK(line == doctest::Approx(2.0));
    CHECK(total == doctest::Approx(1.0));
  }
  std::vector<double> a, w;
  CHECK(throws_with([&] { quadrature_points(1, Quadrature::Trapezoid, a, w); }, "at least 2"));
}

TEST_CASE("integrated gradients: completeness on a smooth network, exact on a linear one") {
  manual_seed(7);
  Linear l1(6, 16), l2(16, 1);
  auto f = [&](const Tensor& x) { return sum(l2.forward(tanh(l1.forward(x)))); };
  const Tensor x = param({1, 6}, 41, -2, 2), baseline = zeros({1, 6});
  const IntegratedGradients ig = integrated_gradients(f, x, baseline);
  CHECK(ig.output == doctest::Approx(static_cast<double>(f(x).item())));
  CHECK(std::abs(ig.output - ig.baseline_output) > 1e-3);  // a change to explain
  // completeness: Σ attributions = f(x) − f(x′) up to the quadrature's (and float's) error
  CHECK(ig.relative_completeness_error() < (kDouble ? 1e-8 : 1e-4));
  // the trapezoid rule with as many points is less accurate on a curved path, but still close
  IntegratedGradientsOptions trapezoid;
  trapezoid.rule = Quadrature::Trapezoid;
  CHECK(integrated_gradients(f, x, baseline, trapezoid).relative_completeness_error() < 1e-2);
  // a linear function: IG = (x − x′) ⊙ w exactly, with any number of points
  Tensor wv = param({6, 1}, 42);
  auto linear = [&](const Tensor& t) { return sum(matmul(t, wv)); };
  IntegratedGradientsOptions two;
  two.steps = 2;
  const IntegratedGradients lin = integrated_gradients(linear, x, baseline, two);
  NoGradGuard no_grad;
  CHECK(all_close(lin.attributions, x.detach() * reshape(wv.detach(), {1, 6}), 1e-6, 1e-6));
  CHECK(throws_with([&] { integrated_gradients(f, x, zeros({6})); }, "differ in shape"));
}

TEST_CASE("attention entropy: 0 for one-hot rows, log Lk for uniform ones, and its gradient") {
  const Tensor w = from_vector({1, 0, 0, 0, 0.25, 0.25, 0.25, 0.25}, {2, 4});
  const Tensor h = attention_entropy(w);
  CHECK(h.shape() == Shape{2});
  CHECK(h.data()[0] == doctest::Approx(0));
  CHECK(h.data()[1] == doctest::Approx(std::log(4.0)));
  // through a softmax (where entropy is smooth), against central differences
  Tensor scores = param({2, 3, 5}, 51);
  CHECK_GRAD([](const std::vector<Tensor>& in) { return attention_entropy(softmax(in[0], -1)); }, {scores});
}

TEST_CASE("parameter_names labels a module's parameters for graph drawings") {
  Linear l(3, 2);
  const auto names = parameter_names(l);
  CHECK(names.size() == 2);
  CHECK(names.at(&l.weight.impl()) == "weight");
  CHECK(names.at(&l.bias.impl()) == "bias");
}
