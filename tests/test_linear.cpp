// tests/test_linear.cpp — nn/linear.cpp: y = x Wᵀ + b.
//
// A known answer worked out by hand, batched inputs against a naive double loop, the no-bias
// variant, gradients by hand and by gradcheck, and the shape errors.
#include <vector>

#include "nn/linear.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

// y[r, o] = Σ_i x[r, i] W[o, i] + b[o] in double, x viewed as [rows, in].
std::vector<double> naive_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t out = w.shape()[0], in = w.shape()[1], rows = x.numel() / in;
  std::vector<double> y(rows * out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = b.defined() ? b.data()[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) acc += static_cast<double>(x.data()[r * in + i]) * w.data()[o * in + i];
      y[r * out + o] = acc;
    }
  return y;
}

}  // namespace

TEST_CASE("linear: known answer worked out by hand") {
  // W = [[1, 2], [3, 4]], b = [1, -1]
  nn::Linear layer(2, 2);
  {
    NoGradGuard no_grad;
    layer.weight.copy_(from_vector({1, 2, 3, 4}, {2, 2}));
    layer.bias.copy_(from_vector({1, -1}));
  }
  // x = [1, 1]: W x = [1 + 2, 3 + 4] = [3, 7]; + b = [4, 6]
  const Tensor y = layer(from_vector({1, 1}));
  CHECK(y.shape() == Shape{2});
  CHECK(all_close(y, {4, 6}, 0, 0));
  // a batch of two rows: [2, -1] -> [2 - 2 + 1, 6 - 4 - 1] = [1, 1]; [0, 0.5] -> [1 + 1, 2 - 1] = [2, 1]
  const Tensor batch = layer(from_vector({1, 1, 2, -1, 0, 0.5}, {3, 2}));
  CHECK(batch.shape() == Shape{3, 2});
  CHECK(all_close(batch, {4, 6, 1, 1, 2, 1}, 0, 0));
  // the functional form agrees, and without a bias drops b
  CHECK(all_close(nn::linear(from_vector({1, 1}), layer.weight), {3, 7}, 0, 0));
  // W is [out, in]: a non-square layer, in = 3, out = 1: W = [[1, 0, -2]], x = [4, 5, 6] -> 4 - 12
  CHECK(all_close(nn::linear(from_vector({4, 5, 6}), from_vector({1, 0, -2}, {1, 3})), {-8}, 0, 0));
}

TEST_CASE("linear: batched [B, L, in] input matches a naive loop") {
  manual_seed(31);
  nn::Linear layer(5, 7);
  const Tensor x = uniform({3, 4, 5}, -2, 2);
  const Tensor y = layer(x);
  CHECK(y.shape() == Shape{3, 4, 7});
  const double tol = kDouble ? 1e-12 : 1e-5;
  CHECK(all_close(y, naive_linear(x, layer.weight, layer.bias), tol, tol));
  // a leading batch of one and a 4-D input
  const Tensor x4 = uniform({2, 1, 3, 5}, -1, 1);
  const Tensor y4 = layer(x4);
  CHECK(y4.shape() == Shape{2, 1, 3, 7});
  CHECK(all_close(y4, naive_linear(x4, layer.weight, layer.bias), tol, tol));
}

TEST_CASE("linear: the no-bias variant has no bias parameter and computes x Wᵀ") {
  manual_seed(32);
  nn::Linear layer(4, 3, /*bias=*/false);
  CHECK_FALSE(layer.bias.defined());
  REQUIRE(layer.named_parameters().size() == 1);
  CHECK(layer.named_parameters()[0].first == "weight");
  CHECK(layer.state_dict().size() == 1);
  const Tensor x = uniform({2, 4}, -1, 1);
  const double tol = kDouble ? 1e-12 : 1e-5;
  CHECK(all_close(layer(x), naive_linear(x, layer.weight, Tensor()), tol, tol));
}

TEST_CASE("linear: gradients worked out by hand") {
  // L = Σ y = Σ_r Σ_o (x_r · W_o + b_o):  dL/dW[o, i] = Σ_r x[r, i],  dL/db[o] = rows,
  // dL/dx[r, i] = Σ_o W[o, i]
  nn::Linear layer(2, 2);
  {
    NoGradGuard no_grad;
    layer.weight.copy_(from_vector({1, 2, 3, 4}, {2, 2}));
    layer.bias.copy_(from_vector({1, -1}));
  }
  const Tensor x = from_vector({1, 1, 2, -1, 0, 0.5}, {3, 2}).requires_grad_();
  layer(x).sum().backward();
  CHECK(all_close(layer.weight.grad(), {3, 0.5, 3, 0.5}, 0, 0));
  CHECK(all_close(layer.bias.grad(), {3, 3}, 0, 0));
  CHECK(all_close(x.grad(), {4, 6, 4, 6, 4, 6}, 0, 0));
}

TEST_CASE("linear: gradcheck on x, W and b") {
  // [B, L, in] input with bias
  CHECK_GRAD([](auto& in) { return nn::linear(in[0], in[1], in[2]); },
             {param({2, 3, 4}, 41), param({5, 4}, 42), param({5}, 43)});
  // 1-D input
  CHECK_GRAD([](auto& in) { return nn::linear(in[0], in[1], in[2]); },
             {param({4}, 44), param({3, 4}, 45), param({3}, 46)});
  // no bias
  CHECK_GRAD([](auto& in) { return nn::linear(in[0], in[1]); }, {param({3, 4}, 47), param({2, 4}, 48)});
  // a larger output (checked through random projections)
  CHECK_GRAD([](auto& in) { return nn::linear(in[0], in[1], in[2]); },
             {param({4, 6, 8}, 49), param({10, 8}, 50), param({10}, 51)});
  // through the module: its own parameters, nudged in place by gradcheck
  manual_seed(52);
  nn::Linear layer(3, 2);
  const Tensor x = param({4, 3}, 53);
  CHECK_GRAD([&layer](auto& in) { return layer(in[0]); }, {x, layer.weight, layer.bias});
}

TEST_CASE("linear: shape errors name the shapes and in_features") {
  nn::Linear layer(3, 2);
  CHECK(throws_with([&] { layer(zeros({4, 5})); }, "linear: input of shape [4, 5] does not fit weight [2, 3]"));
  CHECK(throws_with([&] { layer(zeros({4, 5})); }, "in_features = 3"));
  CHECK(throws_with([&] { layer(zeros({3, 4})); }, "[3, 4]"));  // right size in the wrong dim
  CHECK(throws_with([&] { layer(scalar_tensor(1)); }, "linear"));
  CHECK(throws_with([] { nn::linear(zeros({2, 3}), zeros({3})); }, "weight [3]"));
  CHECK(throws_with([] { nn::Linear(0, 2); }, "in_features (0)"));
  CHECK(throws_with([] { nn::Linear(2, -1); }, "out_features (-1)"));
  // a wrong-sized bias is caught by the broadcast
  CHECK_THROWS_AS(nn::linear(zeros({2, 3}), zeros({4, 3}), zeros({3})), Error);
}

TEST_CASE("linear: an empty batch gives an empty output, and zero gradients for W and b") {
  nn::Linear layer(3, 2);
  const Tensor x = zeros({0, 3}).requires_grad_();
  const Tensor y = layer(x);
  CHECK(y.shape() == Shape{0, 2});
  y.sum().backward();
  CHECK(x.grad().shape() == Shape{0, 3});
  CHECK(all_close(layer.weight.grad(), {0, 0, 0, 0, 0, 0}, 0, 0));
  CHECK(all_close(layer.bias.grad(), {0, 0}, 0, 0));
}

TEST_CASE("linear: str shows the settings") {
  CHECK(nn::Linear(3, 2).str() == "Linear(in_features=3, out_features=2, bias=true)  # 8 parameters\n");
  CHECK(nn::Linear(3, 2, false).str() == "Linear(in_features=3, out_features=2, bias=false)  # 6 parameters\n");
}
