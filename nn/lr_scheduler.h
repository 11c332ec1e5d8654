// tessera/nn/lr_scheduler.h — learning-rate schedules, like torch.optim.lr_scheduler.
//
// A scheduler drives one optimizer's lr. It counts epochs the way PyTorch does: constructing it
// sets last_epoch = 0 and lr = lr_at(0); each step() adds one and sets lr = lr_at(last_epoch).
// Call it after optimizer.step(), so update k (counting from 0) uses lr_at(k):
//
//   nn::optim::Adam optimizer(model->parameters(), {.lr = 1.0, .betas = {0.9, 0.98}, .eps = 1e-9});
//   nn::optim::NoamLR schedule(optimizer, /*d_model=*/512, /*warmup_steps=*/4000);
//   for (...) { ...; optimizer.step(); schedule.step(); }
//
// Every schedule is a closed form of last_epoch and base_lr (the optimizer's lr when the scheduler
// was made). PyTorch computes StepLR and CosineAnnealingLR recursively from the previous lr; the
// values are the same up to rounding in the last bits. A scheduler keeps a pointer to its
// optimizer: the optimizer must outlive it.
#pragma once

#include <cstdint>
#include <functional>

#include "nn/optim.h"

namespace tessera::nn::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  void step();  // last_epoch += 1, then optimizer.lr = lr_at(last_epoch)
  // The schedule itself: the lr at a given epoch (0 = what the constructor sets).
  virtual double lr_at(int64_t epoch) const = 0;

  double get_last_lr() const { return last_lr_; }  // the lr this scheduler last set
  int64_t last_epoch() const { return last_epoch_; }
  double base_lr() const { return base_lr_; }

  // "last_epoch" and "base_lr". Restore it after the optimizer's state: loading sets the
  // optimizer's lr to lr_at(last_epoch), exactly.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 protected:
  LRScheduler(Optimizer& optimizer, const char* name);
  // Sets last_epoch = 0 and lr = lr_at(0); every subclass constructor ends with it (a base
  // constructor cannot call lr_at, which the subclass defines).
  void initial_step();
  const char* name_;

 private:
  void apply();
  Optimizer* optimizer_;
  double base_lr_;
  int64_t last_epoch_ = -1;
  double last_lr_;
};

// lr = base_lr · gamma^⌊epoch / step_size⌋   (torch.optim.lr_scheduler.StepLR)
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t epoch) const override;
  int64_t step_size;
  double gamma;
};

// lr = eta_min + (base_lr − eta_min) · (1 + cos(π · epoch / T_max)) / 2
// (torch.optim.lr_scheduler.CosineAnnealingLR; past T_max the cosine goes on, back up, as in PyTorch)
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0);
  double lr_at(int64_t epoch) const override;
  int64_t T_max;
  double eta_min;
};

// lr = base_lr · lr_lambda(epoch)   (torch.optim.lr_scheduler.LambdaLR)
class LambdaLR : public LRScheduler {
 public:
  LambdaLR(Optimizer& optimizer, std::function<double(int64_t)> lr_lambda);
  double lr_at(int64_t epoch) const override;
  std::function<double(int64_t)> lr_lambda;
};

// The Transformer schedule ("Attention is all you need", §5.3): linear warmup, then decay with
// the inverse square root of the step:
//   lr = factor · d_model^−0.5 · min(s^−0.5, s · warmup_steps^−1.5),   s = epoch + 1
// s counts updates from 1, so the first update already has a small positive lr (with s = epoch
// it would be 0, and the first step would be wasted). The peak, at s = warmup_steps, is
// factor · (d_model · warmup_steps)^−0.5. The optimizer's own lr is replaced, not scaled.
class NoamLR : public LRScheduler {
 public:
  NoamLR(Optimizer& optimizer, int64_t d_model, int64_t warmup_steps, double factor = 1);
  double lr_at(int64_t epoch) const override;
  int64_t d_model, warmup_steps;
  double factor;
};

}  // namespace tessera::nn::optim
