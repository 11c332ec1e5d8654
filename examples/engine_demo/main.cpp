// examples/engine_demo — fit a tiny MLP to y = sin(x) with plain SGD and print the loss falling.
// The translator example replaces this as `./run demo` once it lands.
#include <cmath>
#include <cstdio>

#include "engine/tessera.h"

using namespace tessera;

int main() {
  manual_seed(0);
  // data: 256 points of sin on [-3, 3]
  Tensor x = empty({256, 1}), y = empty({256, 1});
  for (int i = 0; i < 256; ++i) {
    x.data()[i] = static_cast<scalar_t>(-3.0 + 6.0 * i / 255);
    y.data()[i] = static_cast<scalar_t>(std::sin(x.data()[i]));
  }
  // 1 -> 32 -> 32 -> 1, tanh
  Tensor w1 = mul(randn({1, 32}), 1.0).requires_grad_(), b1 = zeros({32}).requires_grad_();
  Tensor w2 = mul(randn({32, 32}), 1 / std::sqrt(32.0)).requires_grad_(), b2 = zeros({32}).requires_grad_();
  Tensor w3 = mul(randn({32, 1}), 1 / std::sqrt(32.0)).requires_grad_(), b3 = zeros({1}).requires_grad_();
  std::vector<Tensor> params{w1, b1, w2, b2, w3, b3};
  const scalar_t lr = 0.05f;
  std::printf("fitting y = sin(x) with a 1-32-32-1 tanh MLP, SGD lr %.2f\n", static_cast<double>(lr));
  for (int step = 0; step <= 2000; ++step) {
    Tensor h = tanh(matmul(x, w1) + b1);
    h = tanh(matmul(h, w2) + b2);
    Tensor loss = mean(pow(matmul(h, w3) + b3 - y, 2));
    for (Tensor& p : params) p.zero_grad();
    loss.backward();
    {
      NoGradGuard no_grad;
      for (Tensor& p : params) p.copy_(p - p.grad() * lr);
    }
    if (step % 200 == 0) std::printf("step %4d  loss %.6f\n", step, static_cast<double>(loss.item()));
  }
  return 0;
}
