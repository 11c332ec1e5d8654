#include "nn/init.h"

#include <cmath>

namespace tessera::nn::init {

Fans fans(const Shape& shape) {
  TS_CHECK(shape.rank() >= 2, "init: fan in and fan out need a weight of rank >= 2, got shape {}", shape);
  int64_t receptive = 1;
  for (int i = 2; i < shape.rank(); ++i) receptive *= shape[i];
  return {shape[1] * receptive, shape[0] * receptive};
}

double calculate_gain(const std::string& nonlinearity, double param) {
  if (nonlinearity == "linear" || nonlinearity == "sigmoid" || nonlinearity == "conv2d") return 1;
  if (nonlinearity == "tanh") return 5.0 / 3;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1 + param * param));
  if (nonlinearity == "selu") return 3.0 / 4;
  fail("calculate_gain: unknown nonlinearity '{}' (linear, sigmoid, tanh, relu, leaky_relu, selu)", nonlinearity);
}

void uniform_(Tensor& t, double low, double high, Generator* gen) {
  (gen ? *gen : default_generator()).fill_uniform(t.data(), t.numel(), static_cast<scalar_t>(low),
                                                  static_cast<scalar_t>(high));
}

void normal_(Tensor& t, double mean, double stddev, Generator* gen) {
  (gen ? *gen : default_generator()).fill_normal(t.data(), t.numel(), static_cast<scalar_t>(mean),
                                                 static_cast<scalar_t>(stddev));
}

void constant_(Tensor& t, double value) { std::fill(t.data(), t.data() + t.numel(), static_cast<scalar_t>(value)); }
void zeros_(Tensor& t) { constant_(t, 0); }
void ones_(Tensor& t) { constant_(t, 1); }

void xavier_uniform_(Tensor& t, double gain, Generator* gen) {
  const Fans f = fans(t.shape());
  const double a = gain * std::sqrt(6.0 / static_cast<double>(f.fan_in + f.fan_out));
  uniform_(t, -a, a, gen);
}

void xavier_normal_(Tensor& t, double gain, Generator* gen) {
  const Fans f = fans(t.shape());
  normal_(t, 0, gain * std::sqrt(2.0 / static_cast<double>(f.fan_in + f.fan_out)), gen);
}

void kaiming_uniform_(Tensor& t, double a, bool fan_in_mode, const std::string& nonlinearity, Generator* gen) {
  const Fans f = fans(t.shape());
  const double fan = static_cast<double>(fan_in_mode ? f.fan_in : f.fan_out);
  const double bound = calculate_gain(nonlinearity, a) * std::sqrt(3.0 / fan);
  uniform_(t, -bound, bound, gen);
}

void kaiming_normal_(Tensor& t, double a, bool fan_in_mode, const std::string& nonlinearity, Generator* gen) {
  const Fans f = fans(t.shape());
  const double fan = static_cast<double>(fan_in_mode ? f.fan_in : f.fan_out);
  normal_(t, 0, calculate_gain(nonlinearity, a) / std::sqrt(fan), gen);
}

}  // namespace tessera::nn::init
