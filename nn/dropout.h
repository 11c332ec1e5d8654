// tessera/nn/dropout.h — inverted dropout, like torch.nn.Dropout.
#pragma once

#include "nn/module.h"

namespace tessera::nn {

// In training, zeroes each element with probability p and scales the rest by 1 / (1 − p), so the
// expected value is unchanged; in eval (or p = 0) returns x itself. The mask comes from the
// generator (the global one by default), so a seed fixes it.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

class Dropout : public UnaryModule {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override { return dropout(x, p, is_training()); }
  double p;

 protected:
  std::string extra_repr() const override { return fmt::format("p={}", p); }
};

}  // namespace tessera::nn
