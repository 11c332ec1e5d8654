// tests/test_squeeze_excitation.cpp — the layer built in docs/extending.md.
#include <cmath>

#include "nn/squeeze_excitation.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

TEST_CASE("squeeze-excitation: known answer worked out by hand") {
  // C = 2, r = 2 -> one hidden unit. W₁ = [[1, 1]], b₁ = [0], W₂ = [[1], [-1]], b₂ = [0].
  // x[0, 0] = [[1, 3]] (mean 2), x[0, 1] = [[0, 2]] (mean 1): s = [2, 1]
  // h = relu(2 + 1) = 3;  e = sigmoid([3, -3]) = [0.952574, 0.047426]
  nn::SqueezeExcitation se(2, 2);
  {
    NoGradGuard no_grad;
    se.fc1->weight.copy_(from_vector({1, 1}));
    se.fc1->bias.fill_(0);
    se.fc2->weight.copy_(from_vector({1, -1}));
    se.fc2->bias.fill_(0);
  }
  Tensor x = from_vector({1, 3, 0, 2}, {1, 2, 1, 2});
  Tensor y = se.forward(x);
  const double g = 1 / (1 + std::exp(-3.0));
  CHECK(all_close(y, {1 * g, 3 * g, 0, 2 * (1 - g)}, 1e-6, 1e-6));
  CHECK(all_close(se.last_gates, {g, 1 - g}, 1e-6, 1e-6));
}

TEST_CASE("squeeze-excitation: gradient check on the input and every parameter") {
  manual_seed(3);
  nn::SqueezeExcitation se(4, 2);
  auto params = se.parameters();
  std::vector<Tensor> inputs{param({2, 4, 3, 2}, 1)};
  inputs.insert(inputs.end(), params.begin(), params.end());
  // the module's parameters are the same handles gradcheck perturbs, so the module sees the nudges
  CHECK_GRAD([&se](const std::vector<Tensor>& in) { return se.forward(in[0]); }, inputs);
}

TEST_CASE("squeeze-excitation: any number of spatial dims; wrong channels is a clear error") {
  nn::SqueezeExcitation se(3, 1);
  CHECK(se.forward(randn({2, 3, 5})).shape() == Shape{2, 3, 5});
  CHECK(se.named_parameters().size() == 4);
  CHECK(throws_with([&] { se.forward(randn({2, 4, 5, 5})); }, "expected [batch, 3, *spatial]"));
}
