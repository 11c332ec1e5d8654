// tessera/nn/activation.h — activation modules (thin wrappers over the engine's ops).
#pragma once

#include "nn/module.h"

namespace tessera::nn {

class ReLU : public UnaryModule {
 public:
  ReLU() : UnaryModule("ReLU") {}
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class GELU : public UnaryModule {
 public:
  GELU() : UnaryModule("GELU") {}
  Tensor forward(const Tensor& x) override { return gelu(x); }
};

class Tanh : public UnaryModule {
 public:
  Tanh() : UnaryModule("Tanh") {}
  Tensor forward(const Tensor& x) override { return tanh(x); }
};

class Sigmoid : public UnaryModule {
 public:
  Sigmoid() : UnaryModule("Sigmoid") {}
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
};

}  // namespace tessera::nn
