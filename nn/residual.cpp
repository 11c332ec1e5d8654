#include "nn/residual.h"

namespace tessera::nn {

ResidualBlock::ResidualBlock(int64_t in, int64_t out, int64_t s)
    : UnaryModule("ResidualBlock"), in_channels(in), out_channels(out), stride(s) {
  TS_CHECK(in > 0 && out > 0 && s > 0, "ResidualBlock: in_channels ({}), out_channels ({}) and stride ({}) must be positive",
           in, out, s);
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in, out, 3, s, 1, 1, /*bias=*/false));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(out));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(out, out, 3, 1, 1, 1, /*bias=*/false));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out));
  if (in != out || s != 1)
    shortcut = register_module("shortcut", std::make_shared<Sequential>(std::vector<std::shared_ptr<UnaryModule>>{
                                               std::make_shared<Conv2d>(in, out, 1, s, 0, 1, /*bias=*/false),
                                               std::make_shared<BatchNorm2d>(out)}));
}

Tensor ResidualBlock::forward(const Tensor& x) {
  TS_CHECK(x.dim() == 4 && x.shape()[1] == in_channels, "ResidualBlock: expected input [N, {}, H, W], got {}",
           in_channels, x.shape());
  const Tensor main = bn2->forward(conv2->forward(relu(bn1->forward(conv1->forward(x)))));  // [N, out, H', W']
  return relu(main + (shortcut ? shortcut->forward(x) : x));
}

std::string ResidualBlock::extra_repr() const {
  return fmt::format("in_channels={}, out_channels={}, stride={}, shortcut={}", in_channels, out_channels, stride,
                     shortcut ? "projection" : "identity");
}

}  // namespace tessera::nn
