// tests/test_residual.cpp — nn/residual.cpp: the ResNet basic block.
//
// Shapes when channels and stride change (the projection shortcut), the identity shortcut when
// they do not, a known answer (zero conv weights leave ReLU(x) or ReLU(projection(x))), the block
// against the same chain written with the functional ops, gradcheck on the input and every
// parameter in training mode, eval mode, names and errors.
#include <string>
#include <vector>

#include "nn/residual.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

const double kTol = kDouble ? 1e-12 : 1e-5;

std::vector<std::string> parameter_names(const nn::Module& m) {
  std::vector<std::string> names;
  for (const auto& [name, t] : m.named_parameters()) names.push_back(name);
  return names;
}

}  // namespace

TEST_CASE("ResidualBlock: output shapes when channels and stride change; projection only when needed") {
  manual_seed(21);
  nn::ResidualBlock same(4, 4);
  CHECK(same.shortcut == nullptr);
  CHECK(same(uniform({2, 4, 7, 7}, -1, 1)).shape() == Shape{2, 4, 7, 7});
  nn::ResidualBlock wider(4, 8);  // the 64 -> 128 case: x cannot be added as it is
  REQUIRE(wider.shortcut != nullptr);
  CHECK(wider(uniform({2, 4, 7, 7}, -1, 1)).shape() == Shape{2, 8, 7, 7});
  nn::ResidualBlock down(4, 8, 2);  // ⌊(7 − 1) / 2⌋ + 1 = 4 on both paths
  CHECK(down(uniform({2, 4, 7, 7}, -1, 1)).shape() == Shape{2, 8, 4, 4});
  CHECK(down(uniform({1, 4, 8, 6}, -1, 1)).shape() == Shape{1, 8, 4, 3});
  nn::ResidualBlock strided(4, 4, 2);  // same channels, but the size changes: projection too
  REQUIRE(strided.shortcut != nullptr);
  CHECK(strided(uniform({2, 4, 6, 6}, -1, 1)).shape() == Shape{2, 4, 3, 3});
  // every output passed a ReLU
  bool non_negative = true;
  for (scalar_t v : down(uniform({2, 4, 7, 7}, -3, 3)).to_vector()) non_negative = non_negative && v >= 0;
  CHECK(non_negative);
}

TEST_CASE("ResidualBlock: zero conv weights leave only the shortcut: ReLU(x), or ReLU(BN(1×1 conv(x)))") {
  // main path: conv -> 0, BN of a constant 0 is β = 0, so main(x) = 0 whatever x is
  nn::ResidualBlock same(3, 3);
  same.conv1->weight.detach().zero_();
  same.conv2->weight.detach().zero_();
  const Tensor x = uniform({2, 3, 4, 4}, -1, 1);
  CHECK(all_close(same(x), relu(x), 0, 0));
  nn::ResidualBlock down(3, 5, 2);
  down.conv1->weight.detach().zero_();
  down.conv2->weight.detach().zero_();
  auto& projection = *down.shortcut;
  const Tensor expected = relu((*projection[1])((*projection[0])(x)));
  CHECK(all_close(down(x), expected, kTol, kTol));
}

TEST_CASE("ResidualBlock: equals conv/batch_norm/relu written out with the functional ops") {
  manual_seed(22);
  nn::ResidualBlock block(3, 4, 2);
  const Tensor x = uniform({2, 3, 5, 5}, -1, 1);
  auto bn = [](const std::shared_ptr<nn::BatchNorm2d>& b, const Tensor& t) {
    return nn::batch_norm(t, Tensor(), Tensor(), b->weight, b->bias, true);
  };
  const auto& conv_s = std::dynamic_pointer_cast<nn::Conv2d>((*block.shortcut)[0]);
  const auto& bn_s = std::dynamic_pointer_cast<nn::BatchNorm2d>((*block.shortcut)[1]);
  REQUIRE(conv_s != nullptr);
  REQUIRE(bn_s != nullptr);
  const Tensor h = relu(bn(block.bn1, nn::conv2d(x, block.conv1->weight, Tensor(), 2, 1)));
  const Tensor main = bn(block.bn2, nn::conv2d(h, block.conv2->weight, Tensor(), 1, 1));
  const Tensor side = bn(bn_s, nn::conv2d(x, conv_s->weight, Tensor(), 2, 0));
  CHECK(all_close(block(x), relu(main + side), kTol, kTol));
}

TEST_CASE("ResidualBlock: gradcheck on the input and every parameter (training mode)") {
  manual_seed(23);
  nn::ResidualBlock block(2, 3, 2);
  {
    NoGradGuard no_grad;  // BN affine parameters away from their ones/zeros start
    for (const auto& [name, t] : block.named_parameters())
      if (name.find("bn") != std::string::npos || name.rfind("shortcut.1", 0) == 0)
        Tensor(t).copy_(uniform(t.shape(), 0.5, 1.5));
  }
  std::vector<Tensor> inputs{param({2, 2, 4, 4}, 701)};
  for (const Tensor& p : block.parameters()) inputs.push_back(p);
  REQUIRE(inputs.size() == 1 + 1 + 2 + 1 + 2 + 1 + 2);  // x, conv1, bn1 (2), conv2, bn2 (2), shortcut conv, bn (2)
  CHECK_GRAD([&block](auto& in) { return block(in[0]); }, inputs);
  // the identity shortcut
  nn::ResidualBlock same(2, 2);
  std::vector<Tensor> same_inputs{param({2, 2, 3, 3}, 702)};
  for (const Tensor& p : same.parameters()) same_inputs.push_back(p);
  CHECK_GRAD([&same](auto& in) { return same(in[0]); }, same_inputs);
}

TEST_CASE("ResidualBlock: eval mode uses the running stats of every BN") {
  manual_seed(24);
  nn::ResidualBlock block(2, 4, 2);
  const Tensor x = uniform({4, 2, 6, 6}, -1, 1);
  block(x);  // one training step moves the running stats
  block.eval();
  CHECK_FALSE(block.bn1->is_training());
  CHECK_FALSE((*block.shortcut)[1]->is_training());
  const Tensor y = block(x);
  CHECK(all_close(block(x), y, 0, 0));  // deterministic, no stats updated
  CHECK(block.bn1->num_batches_tracked.item() == 1);
  // a single image works in eval mode (batch statistics would need more than one value)
  CHECK(block(uniform({1, 2, 2, 2}, -1, 1)).shape() == Shape{1, 4, 1, 1});
}

TEST_CASE("ResidualBlock: names, printout and errors") {
  nn::ResidualBlock block(4, 8, 2);
  CHECK(parameter_names(block) == std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight",
                                                           "bn2.weight", "bn2.bias", "shortcut.0.weight",
                                                           "shortcut.1.weight", "shortcut.1.bias"});
  CHECK(block.state_dict().contains("shortcut.1.running_var"));
  CHECK(block.conv1->weight.shape() == Shape{8, 4, 3, 3});
  CHECK(block.conv2->weight.shape() == Shape{8, 8, 3, 3});
  CHECK(block.str().rfind("ResidualBlock(in_channels=4, out_channels=8, stride=2, shortcut=projection)", 0) == 0);
  nn::ResidualBlock same(4, 4);
  CHECK(parameter_names(same).size() == 6);
  CHECK(same.str().rfind("ResidualBlock(in_channels=4, out_channels=4, stride=1, shortcut=identity)", 0) == 0);
  CHECK(throws_with([&] { block(zeros({2, 8, 5, 5})); }, "ResidualBlock: expected input [N, 4, H, W], got [2, 8, 5, 5]"));
  CHECK(throws_with([] { nn::ResidualBlock(4, 8, 0); }, "stride (0) must be positive"));
}
