// tessera/nn/init.h — parameter initialisers, as in torch.nn.init. All draw from the given
// generator or the global one (manual_seed), so a seed fixes every initial weight.
//
// fan_in / fan_out of a weight [out, in, *kernel] are in·k and out·k (k = product of kernel
// sizes), as PyTorch computes them.
#pragma once

#include "engine/tessera.h"

namespace tessera::nn::init {

struct Fans {
  int64_t fan_in, fan_out;
};
Fans fans(const Shape& shape);  // needs rank >= 2

// The recommended gain for a nonlinearity: "linear"/"sigmoid" 1, "tanh" 5/3, "relu" √2,
// "leaky_relu" √(2 / (1 + a²)).
double calculate_gain(const std::string& nonlinearity, double param = 0.01);

void uniform_(Tensor& t, double low, double high, Generator* gen = nullptr);
void normal_(Tensor& t, double mean, double stddev, Generator* gen = nullptr);
void constant_(Tensor& t, double value);
void zeros_(Tensor& t);
void ones_(Tensor& t);
// U(−a, a), a = gain · √(6 / (fan_in + fan_out))  (Glorot & Bengio, 2010)
void xavier_uniform_(Tensor& t, double gain = 1, Generator* gen = nullptr);
// N(0, σ²), σ = gain · √(2 / (fan_in + fan_out))
void xavier_normal_(Tensor& t, double gain = 1, Generator* gen = nullptr);
// U(−b, b), b = gain · √(3 / fan), gain = calculate_gain(nonlinearity, a)  (He et al., 2015).
// PyTorch's default Linear/Conv weight init is kaiming_uniform_(a = √5, "leaky_relu", fan_in),
// which works out to U(−1/√fan_in, 1/√fan_in).
void kaiming_uniform_(Tensor& t, double a = 0, bool fan_in_mode = true,
                      const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
void kaiming_normal_(Tensor& t, double a = 0, bool fan_in_mode = true,
                     const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);

}  // namespace tessera::nn::init
