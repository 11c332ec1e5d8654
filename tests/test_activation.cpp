// tests/test_activation.cpp — nn/activation.h: ReLU, GELU, Tanh, Sigmoid modules.
//
// Each module is a thin wrapper: its forward must equal the engine op, known values worked out by
// hand, gradients flow through, and it has no parameters.
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nn/activation.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

TEST_CASE("activation: known values worked out by hand") {
  const Tensor x = from_vector({-2, -0.5, 0, 1.5}, {2, 2});
  nn::ReLU relu_module;
  nn::Tanh tanh_module;
  nn::Sigmoid sigmoid_module;
  nn::GELU gelu_module;
  CHECK(all_close(relu_module(x), {0, 0, 0, 1.5}));
  CHECK(relu_module(x).shape() == Shape{2, 2});
  CHECK(all_close(tanh_module(x), {std::tanh(-2.0), std::tanh(-0.5), 0, std::tanh(1.5)}));
  auto logistic = [](double v) { return 1 / (1 + std::exp(-v)); };
  CHECK(all_close(sigmoid_module(x), {logistic(-2), logistic(-0.5), 0.5, logistic(1.5)}));
  // exact GELU: x Φ(x) = x (1 + erf(x / √2)) / 2
  auto exact_gelu = [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); };
  CHECK(all_close(gelu_module(x), {exact_gelu(-2), exact_gelu(-0.5), 0, exact_gelu(1.5)}));
}

TEST_CASE("activation: modules equal the engine ops, have no parameters and print their type") {
  const Tensor x = param({3, 4}, 21, -3, 3);
  const std::vector<std::pair<std::shared_ptr<nn::UnaryModule>, Tensor>> cases = {
      {std::make_shared<nn::ReLU>(), relu(x)},
      {std::make_shared<nn::GELU>(), gelu(x)},
      {std::make_shared<nn::Tanh>(), tanh(x)},
      {std::make_shared<nn::Sigmoid>(), sigmoid(x)},
  };
  const std::vector<std::string> names = {"ReLU", "GELU", "Tanh", "Sigmoid"};
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO(names[i]);
    const auto& [module, expected] = cases[i];
    CHECK(module->type_name() == names[i]);
    CHECK(module->str() == names[i] + "()\n");
    CHECK(module->num_parameters() == 0);
    CHECK(module->forward(x).to_vector() == expected.to_vector());
    CHECK(module->forward(x).requires_grad());
  }
}

TEST_CASE("activation: gradients pass through the modules (gradcheck)") {
  // values kept away from ReLU's kink at 0
  const Tensor x = from_vector({-1.5, -0.25, 0.5, 2, -0.75, 1}, {2, 3}).requires_grad_();
  CHECK_GRAD([](auto& in) { return nn::ReLU()(in[0]); }, {x});
  CHECK_GRAD([](auto& in) { return nn::GELU()(in[0]); }, {x});
  CHECK_GRAD([](auto& in) { return nn::Tanh()(in[0]); }, {x});
  CHECK_GRAD([](auto& in) { return nn::Sigmoid()(in[0]); }, {x});
}
