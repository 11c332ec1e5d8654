// A two-layer MLP trained on synthetic data with tessera from outside its tree
// (examples/out_of_tree/meson.build says how it is built): the loss falls.
#include <cstdio>
#include <memory>
#include <vector>

#include "engine/tessera.h"
#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/optim.h"

using namespace tessera;

int main() {
  manual_seed(0);
  Tensor x = randn({256, 4});                                  // [256, 4] inputs
  Tensor y = tanh(matmul(x, randn({4, 1}))) * 2;               // [256, 1] targets of a hidden rule
  auto model = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::UnaryModule>>{
      std::make_shared<nn::Linear>(4, 32), std::make_shared<nn::Tanh>(),
      std::make_shared<nn::Linear>(32, 1)});
  nn::optim::Adam adam(model->parameters(), {.lr = 1e-2});
  for (int step = 0; step <= 100; ++step) {
    Tensor loss = nn::mse_loss(model->forward(x), y);
    adam.zero_grad();
    loss.backward();
    adam.step();
    if (step % 20 == 0) {
      std::printf("step %3d  loss %.4f\n", step, static_cast<double>(loss.item()));
    }
  }
  return 0;
}
