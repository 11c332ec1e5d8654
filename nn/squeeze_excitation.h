// tessera/nn/squeeze_excitation.h — channel attention: the squeeze-and-excitation block
// (Hu et al., 2018). docs/extending.md builds this layer step by step as the worked example of
// adding a layer to tessera.
//
// For x: [B, C, *spatial] (e.g. [B, C, H, W]):
//   squeeze:  s = mean of x over the spatial dims                 [B, C]
//   excite:   e = sigmoid(W₂ relu(W₁ s + b₁) + b₂)                 [B, C], W₁: [C/r, C], W₂: [C, C/r]
//   scale:    y = x ⊙ e, e broadcast over the spatial dims         [B, C, *spatial]
// Each channel is scaled by a gate in (0, 1) computed from the whole feature map: the network
// learns which channels to attend to.
#pragma once

#include <memory>

#include "nn/linear.h"
#include "nn/module.h"

namespace tessera::nn {

class SqueezeExcitation : public UnaryModule {
 public:
  // reduction r: the bottleneck has max(1, channels / r) units.
  explicit SqueezeExcitation(int64_t channels, int64_t reduction = 16);
  Tensor forward(const Tensor& x) override;

  int64_t channels;
  std::shared_ptr<Linear> fc1, fc2;  // C -> C/r -> C
  Tensor last_gates;                 // e of the last forward [B, C], detached: what it attended to

 protected:
  std::string extra_repr() const override;
};

}  // namespace tessera::nn
