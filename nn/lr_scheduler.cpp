// tessera/nn/lr_scheduler.cpp — StepLR, CosineAnnealingLR, LambdaLR, NoamLR.
#include "nn/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace tessera::nn::optim {

LRScheduler::LRScheduler(Optimizer& optimizer, const char* name)
    : name_(name), optimizer_(&optimizer), base_lr_(optimizer.lr()), last_lr_(optimizer.lr()) {}

void LRScheduler::initial_step() {
  last_epoch_ = 0;
  apply();
}

void LRScheduler::step() {
  ++last_epoch_;
  apply();
}

void LRScheduler::apply() {
  last_lr_ = lr_at(last_epoch_);
  TS_CHECK(std::isfinite(last_lr_) && last_lr_ >= 0, "{}: the schedule gives lr {} at epoch {}; it must be finite and >= 0",
           name_, last_lr_, last_epoch_);
  optimizer_->set_lr(last_lr_);
}

StateDict LRScheduler::state_dict() const {
  StateDict out;
  TS_CHECK(static_cast<int64_t>(static_cast<scalar_t>(last_epoch_)) == last_epoch_,
           "{}: state_dict: last_epoch {} cannot be stored exactly in a {}-bit scalar", name_, last_epoch_,
           8 * sizeof(scalar_t));
  out.insert("last_epoch", scalar_tensor(static_cast<scalar_t>(last_epoch_)));
  out.insert("base_lr", scalar_tensor(static_cast<scalar_t>(base_lr_)));
  return out;
}

void LRScheduler::load_state_dict(const StateDict& state) {
  for (const auto& [key, tensor] : state)
    TS_CHECK(key == "last_epoch" || key == "base_lr", "{}: load_state_dict: unexpected entry '{}' (expected last_epoch, base_lr)",
             name_, key);
  for (const char* key : {"last_epoch", "base_lr"})
    TS_CHECK(state.contains(key) && state.at(key).defined() && state.at(key).numel() == 1,
             "{}: load_state_dict: '{}' is missing or not a single value", name_, key);
  const scalar_t epoch = state.at("last_epoch").item(), base = state.at("base_lr").item();
  TS_CHECK(epoch >= 0 && epoch == std::floor(epoch), "{}: load_state_dict: last_epoch {} is not a whole number >= 0", name_, epoch);
  TS_CHECK(std::isfinite(base) && base >= 0, "{}: load_state_dict: base_lr {} is not finite and >= 0", name_, base);
  // Stored at scalar precision: keep the exact base lr when it rounds to the stored one.
  if (static_cast<scalar_t>(base_lr_) != base) base_lr_ = base;
  last_epoch_ = static_cast<int64_t>(epoch);
  apply();
}

// ---------------- the schedules ----------------
StepLR::StepLR(Optimizer& optimizer, int64_t step_size_, double gamma_)
    : LRScheduler(optimizer, "StepLR"), step_size(step_size_), gamma(gamma_) {
  TS_CHECK(step_size > 0, "StepLR: step_size must be positive, got {}", step_size);
  initial_step();
}

double StepLR::lr_at(int64_t epoch) const {
  return base_lr() * std::pow(gamma, static_cast<double>(epoch / step_size));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max_, double eta_min_)
    : LRScheduler(optimizer, "CosineAnnealingLR"), T_max(T_max_), eta_min(eta_min_) {
  TS_CHECK(T_max > 0, "CosineAnnealingLR: T_max must be positive, got {}", T_max);
  initial_step();
}

double CosineAnnealingLR::lr_at(int64_t epoch) const {
  const double angle = std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(T_max);
  return eta_min + (base_lr() - eta_min) * (1 + std::cos(angle)) / 2;
}

LambdaLR::LambdaLR(Optimizer& optimizer, std::function<double(int64_t)> lr_lambda_)
    : LRScheduler(optimizer, "LambdaLR"), lr_lambda(std::move(lr_lambda_)) {
  TS_CHECK(lr_lambda != nullptr, "LambdaLR: lr_lambda is empty");
  initial_step();
}

double LambdaLR::lr_at(int64_t epoch) const { return base_lr() * lr_lambda(epoch); }

NoamLR::NoamLR(Optimizer& optimizer, int64_t d_model_, int64_t warmup_steps_, double factor_)
    : LRScheduler(optimizer, "NoamLR"), d_model(d_model_), warmup_steps(warmup_steps_), factor(factor_) {
  TS_CHECK(d_model > 0, "NoamLR: d_model must be positive, got {}", d_model);
  TS_CHECK(warmup_steps > 0, "NoamLR: warmup_steps must be positive, got {}", warmup_steps);
  TS_CHECK(factor >= 0, "NoamLR: factor must be >= 0, got {}", factor);
  initial_step();
}

double NoamLR::lr_at(int64_t epoch) const {
  const double s = static_cast<double>(epoch + 1);  // updates counted from 1 (see the header)
  const double warmup = static_cast<double>(warmup_steps);
  return factor / std::sqrt(static_cast<double>(d_model)) * std::min(1 / std::sqrt(s), s * std::pow(warmup, -1.5));
}

}  // namespace tessera::nn::optim
