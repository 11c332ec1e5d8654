// tessera/nn/residual.h — the basic residual block of ResNet (He, Zhang, Ren & Sun, "Deep Residual
// Learning for Image Recognition", 2016), for [N, C, H, W] maps.
//
//   main path:  conv1 3×3 (stride s, padding 1) -> bn1 -> ReLU -> conv2 3×3 (padding 1) -> bn2
//   shortcut:   x itself when the shapes match (in = out channels and s = 1), otherwise a
//               projection 1×1 conv (stride s) -> BN, so x has the main path's channels and size
//   output:     ReLU(main(x) + shortcut(x))            [N, out, ⌊(H − 1) / s⌋ + 1, ⌊(W − 1) / s⌋ + 1]
// The projection is what makes a block that changes width work at all: adding a 64-channel input
// to a 128-channel output is a shape error, not a broadcast. The convs have no bias (each is
// followed by a BatchNorm, whose β does that job), as torchvision's BasicBlock.
// Parameter names: conv1, bn1, conv2, bn2 and shortcut.0 (conv), shortcut.1 (BN) when projecting.
#pragma once

#include <memory>

#include "nn/batchnorm.h"
#include "nn/conv.h"
#include "nn/module.h"

namespace tessera::nn {

class ResidualBlock : public UnaryModule {
 public:
  ResidualBlock(int64_t in_channels, int64_t out_channels, int64_t stride = 1);
  Tensor forward(const Tensor& x) override;

  int64_t in_channels, out_channels, stride;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Sequential> shortcut;  // Conv2d 1×1 + BatchNorm2d, or null for the identity

 protected:
  std::string extra_repr() const override;
};

}  // namespace tessera::nn
