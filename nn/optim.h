// tessera/nn/optim.h — optimizers (SGD, Adam, AdamW) and gradient clipping, like torch.optim and
// torch.nn.utils.clip_grad_norm_.
//
// An optimizer holds handles to the parameters it was given (the same tensors the model holds),
// and step() updates their data in place from their .grad(), following PyTorch's update rules
// line for line (docs/training.md has them as formulas). A parameter whose gradient is undefined
// (never reached by backward, or frozen: requires_grad false) is skipped, and its state does not
// advance. zero_grad() drops every gradient, like PyTorch's zero_grad(set_to_none=True).
//
//   auto model = std::make_shared<nn::Linear>(4, 2);
//   nn::optim::AdamW optimizer(model->parameters(), {.lr = 1e-3, .weight_decay = 0.01});
//   for (...) {
//     optimizer.zero_grad();
//     nn::cross_entropy(model->forward(x), y).backward();
//     nn::utils::clip_grad_norm_(model->parameters(), 1.0);
//     optimizer.step();
//   }
//
// Resuming: state_dict() exports the per-parameter state and the hyperparameters as a StateDict
// (names like PyTorch's: "state.3.exp_avg", "state.3.step", "param_groups.0.lr"), which a
// checkpoint can save next to the model's; load_state_dict() on a new optimizer over the same
// parameters (same order) continues bit for bit as if training had never stopped.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace tessera::nn::optim {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;
  void zero_grad();  // drops every parameter's gradient (set_to_none)

  // The learning rate, read and written by the LR schedulers (nn/lr_scheduler.h).
  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;

  const std::vector<Tensor>& parameters() const { return params_; }

  // A snapshot (the tensors are copies): "param_groups.0.<hyperparameter>" (rank-0 tensors;
  // "param_groups.0.params" lists the parameter indices) and "state.<i>.<buffer>" for every
  // parameter i that has state. Step counts are stored as scalars, exact up to 2^24 in float32.
  virtual StateDict state_dict() const = 0;
  // Restores a state_dict() of the same optimizer type over the same parameters. Everything is
  // validated (parameter count, names, shapes) before anything changes. Hyperparameters are
  // stored at scalar precision; one that still rounds to the stored value keeps its exact current
  // value, so resuming with the same settings (or the same LR scheduler, restored after the
  // optimizer) is bit-exact in float32 too.
  virtual void load_state_dict(const StateDict& state) = 0;

 protected:
  // Checks the parameters: non-empty, defined, leaves, no duplicates.
  Optimizer(std::vector<Tensor> params, const char* name);
  const char* name_;
  std::vector<Tensor> params_;
};

// ---------------- SGD ----------------
struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;  // needs momentum > 0 and dampening = 0
};

// torch.optim.SGD. With g = grad + weight_decay·p:
//   b = g on the first step, else b = momentum·b + (1 − dampening)·g    (when momentum ≠ 0)
//   d = g + momentum·b (nesterov) | b (momentum) | g (no momentum)
//   p = p − lr·d
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  SGD(std::vector<Tensor> params, double lr) : SGD(std::move(params), SGDOptions{.lr = lr}) {}
  void step() override;
  double lr() const override { return options_.lr; }
  void set_lr(double lr) override;
  const SGDOptions& options() const { return options_; }
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;

 private:
  SGDOptions options_;
  std::vector<Tensor> momentum_buffers_;  // per parameter; undefined until its first step
};

// ---------------- Adam / AdamW ----------------
struct AdamOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0;  // L2: added to the gradient
  bool amsgrad = false;
};

struct AdamWOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;  // decoupled: p ← p − lr·weight_decay·p before the Adam step
  bool amsgrad = false;
};

// torch.optim.Adam. At step t (counted per parameter, from 1), with g = grad + weight_decay·p:
//   m = β1·m + (1 − β1)·g,   v = β2·v + (1 − β2)·g²,   (amsgrad: v̂ = max(v̂, v), used for v)
//   p = p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& options = {});
  void step() override;
  double lr() const override { return options_.lr; }
  void set_lr(double lr) override;
  const AdamOptions& options() const { return options_; }
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;

 protected:
  Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled_weight_decay, const char* name);

 private:
  struct ParamState {
    int64_t step = 0;
    Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;  // m, v, v̂ (the last with amsgrad only)
  };
  AdamOptions options_;
  bool decoupled_weight_decay_;
  std::vector<ParamState> state_;
};

// torch.optim.AdamW: Adam whose weight decay is decoupled from the gradient (Loshchilov & Hutter):
//   p = p − lr·weight_decay·p, then the Adam step with g = grad.
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, const AdamWOptions& options = {});
};

}  // namespace tessera::nn::optim

namespace tessera::nn::utils {

// torch.nn.utils.clip_grad_norm_: the norm of all gradients together (as if concatenated into one
// vector; norm_type may be any p > 0 or INFINITY), then, with clip_coef = max_norm / (norm + 1e-6),
// every gradient is multiplied by clip_coef when it is below 1. Returns the total norm (before
// clipping; accumulated in double). Parameters without a gradient are skipped; with none, 0.
// A non-finite norm (a NaN or inf gradient) throws when error_if_nonfinite; otherwise, as in
// PyTorch, the gradients are scaled anyway (by NaN, or by 0 for an infinite norm) and the NaN or
// inf norm is returned — check it before stepping.
double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2,
                       bool error_if_nonfinite = false);

// torch.nn.utils.clip_grad_value_: clamps every gradient element into [−clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);

}  // namespace tessera::nn::utils
