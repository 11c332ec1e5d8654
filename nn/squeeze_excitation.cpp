#include "nn/squeeze_excitation.h"

#include <algorithm>

namespace tessera::nn {

SqueezeExcitation::SqueezeExcitation(int64_t c, int64_t reduction) : UnaryModule("SqueezeExcitation"), channels(c) {
  TS_CHECK(c > 0 && reduction > 0, "SqueezeExcitation: channels ({}) and reduction ({}) must be positive", c,
           reduction);
  const int64_t hidden = std::max<int64_t>(1, c / reduction);
  fc1 = register_module("fc1", std::make_shared<Linear>(c, hidden));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, c));
}

// No backward to write: every step is an engine op, and autograd chains their backwards.
Tensor SqueezeExcitation::forward(const Tensor& x) {
  TS_CHECK(x.dim() >= 3 && x.shape()[1] == channels,
           "SqueezeExcitation: expected [batch, {}, *spatial] (channels first), got {}", channels, x.shape());
  std::vector<int> spatial;
  for (int d = 2; d < x.dim(); ++d) spatial.push_back(d);
  Tensor s = mean(x, spatial);                                // squeeze      [B, C]
  Tensor e = sigmoid(fc2->forward(relu(fc1->forward(s))));    // excite       [B, C]
  last_gates = e.detach();
  Shape gate_shape = e.shape();                               // [B, C, 1, 1, ...]
  for (size_t i = 0; i < spatial.size(); ++i) gate_shape.push_back(1);
  return x * reshape(e, gate_shape);                          // scale (broadcast)
}

std::string SqueezeExcitation::extra_repr() const {
  return fmt::format("channels={}, hidden={}", channels, fc1->out_features);
}

}  // namespace tessera::nn
