// tessera/nn/optim.cpp — SGD, Adam, AdamW, their state_dict / load_state_dict, gradient clipping.
//
// The update loops run on raw data, elementwise and split across threads (each element is
// independent, so the result does not depend on the split). Each loop performs PyTorch's tensor
// operations in PyTorch's order, with the scalar coefficients computed in double and rounded to
// scalar_t where PyTorch rounds them (when a Python float meets a float32 tensor).
#include "nn/optim.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>

namespace tessera::nn::optim {

namespace {

// The gradient the optimizer should use, or undefined (no gradient, or a frozen parameter).
Tensor grad_of(const Tensor& p) { return p.requires_grad() ? p.grad() : Tensor(); }

// Runs f(j) for j in [0, n) split across threads. Every j is independent (f reads and writes
// only element j of each array), so the loop is also vectorised: `omp simd` tells the compiler
// the arrays do not overlap, which it cannot prove through the lambda's captured pointers.
template <class F>
void elementwise(int64_t n, F f) {
  parallel_for(n, kElementwiseGrain, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t j = begin; j < end; ++j) f(j);
  });
}

Tensor copy_of(const Tensor& t) {
  Tensor c = empty(t.shape());
  std::copy(t.data(), t.data() + t.numel(), c.data());
  return c;
}

Tensor scalar_of(double value) { return scalar_tensor(static_cast<scalar_t>(value)); }

// A step count as a scalar; float32 holds integers exactly only up to 2^24.
Tensor step_tensor(int64_t step, const char* op) {
  TS_CHECK(static_cast<int64_t>(static_cast<scalar_t>(step)) == step,
           "{}: state_dict: step count {} cannot be stored exactly in a {}-bit scalar", op, step,
           8 * sizeof(scalar_t));
  return scalar_of(static_cast<double>(step));
}

// A hyperparameter from a state dict: keep the current value when it rounds to the stored one
// (the store is only scalar-precise), otherwise take the stored value.
void restore(double& value, scalar_t stored) {
  if (static_cast<scalar_t>(value) != stored) value = stored;
}

// Splits and validates an optimizer state dict: "param_groups.0.<hyper>" and
// "state.<i>.<buffer>". Every problem is collected into one error; nothing is modified here.
struct ParsedState {
  std::map<std::string, Tensor> hyper;                // name -> tensor
  std::vector<std::map<std::string, Tensor>> buffers;  // per parameter: buffer name -> tensor
};

struct HyperSpec {
  std::string name;
  int64_t numel;
};

ParsedState parse_state(const StateDict& state, const std::vector<Tensor>& params, const char* op,
                        const std::vector<HyperSpec>& hyper_specs, const std::vector<std::string>& buffer_names) {
  ParsedState parsed;
  parsed.buffers.resize(params.size());
  std::vector<std::string> problems;
  const std::string group = "param_groups.0.";
  bool saw_params = false;
  for (const auto& [key, tensor] : state) {
    if (!tensor.defined()) {
      problems.push_back(fmt::format("'{}' is undefined", key));
      continue;
    }
    if (key == group + "params") {
      saw_params = true;
      if (tensor.numel() != static_cast<int64_t>(params.size()))
        problems.push_back(fmt::format("the state is for {} parameters but this optimizer has {}", tensor.numel(),
                                       params.size()));
      continue;
    }
    if (key.starts_with(group)) {
      const std::string name = key.substr(group.size());
      const auto spec = std::find_if(hyper_specs.begin(), hyper_specs.end(), [&](const HyperSpec& s) { return s.name == name; });
      if (spec == hyper_specs.end())
        problems.push_back(fmt::format("unexpected hyperparameter '{}'", key));
      else if (tensor.numel() != spec->numel)
        problems.push_back(fmt::format("'{}' has {} elements, expected {}", key, tensor.numel(), spec->numel));
      else
        parsed.hyper[name] = tensor;
      continue;
    }
    // state.<i>.<buffer>
    const size_t dot = key.find('.', 6);
    if (key.starts_with("state.") && dot != std::string::npos && dot > 6) {
      const std::string index_text = key.substr(6, dot - 6);
      const std::string buffer = key.substr(dot + 1);
      const bool numeric = std::all_of(index_text.begin(), index_text.end(), [](char c) { return c >= '0' && c <= '9'; });
      const bool known = std::find(buffer_names.begin(), buffer_names.end(), buffer) != buffer_names.end();
      if (numeric && known && index_text.size() < 10) {
        const size_t i = std::stoul(index_text);
        if (i >= params.size()) {
          problems.push_back(fmt::format("'{}' is for parameter {} but there are only {}", key, i, params.size()));
        } else {
          const Shape expected = buffer == "step" ? Shape{} : params[i].shape();
          if (tensor.shape() != expected && !(buffer == "step" && tensor.numel() == 1))
            problems.push_back(fmt::format("'{}' has shape {}, expected {}", key, tensor.shape(), expected));
          else
            parsed.buffers[i][buffer] = tensor;
        }
        continue;
      }
    }
    problems.push_back(fmt::format("unexpected entry '{}'", key));
  }
  if (!saw_params) problems.push_back(fmt::format("missing '{}params'", group));
  for (const HyperSpec& spec : hyper_specs)
    if (!state.contains(group + spec.name)) problems.push_back(fmt::format("missing '{}{}'", group, spec.name));
  if (!problems.empty()) {
    std::string list;
    for (const std::string& p : problems) list += "\n  " + p;
    fail("{}: load_state_dict: the state does not fit this optimizer (was it saved from another "
         "optimizer type or another model?):{}",
         op, list);
  }
  return parsed;
}

StateDict start_state_dict(size_t num_params) {
  StateDict out;
  std::vector<scalar_t> indices(num_params);
  for (size_t i = 0; i < num_params; ++i) indices[i] = static_cast<scalar_t>(i);
  out.insert("param_groups.0.params", from_vector(indices, {static_cast<int64_t>(num_params)}));
  return out;
}

std::string state_key(size_t i, const char* buffer) { return fmt::format("state.{}.{}", i, buffer); }

void check_lr(double lr, const char* op) {
  TS_CHECK(lr >= 0 && std::isfinite(lr), "{}: invalid learning rate {}: it must be finite and >= 0", op, lr);
}

void check_options(const SGDOptions& options) {
  check_lr(options.lr, "SGD");
  TS_CHECK(options.momentum >= 0, "SGD: invalid momentum {}: it must be >= 0", options.momentum);
  TS_CHECK(options.weight_decay >= 0, "SGD: invalid weight_decay {}: it must be >= 0", options.weight_decay);
  TS_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
           "SGD: Nesterov momentum requires a momentum and zero dampening (got momentum {}, dampening {})",
           options.momentum, options.dampening);
}

void check_options(const AdamOptions& options, const char* op) {
  check_lr(options.lr, op);
  TS_CHECK(options.eps >= 0, "{}: invalid eps {}: it must be >= 0", op, options.eps);
  TS_CHECK(options.betas.first >= 0 && options.betas.first < 1, "{}: invalid beta1 {}: it must be in [0, 1)", op,
           options.betas.first);
  TS_CHECK(options.betas.second >= 0 && options.betas.second < 1, "{}: invalid beta2 {}: it must be in [0, 1)", op,
           options.betas.second);
  TS_CHECK(options.weight_decay >= 0, "{}: invalid weight_decay {}: it must be >= 0", op, options.weight_decay);
}

}  // namespace

// ---------------- Optimizer ----------------
Optimizer::Optimizer(std::vector<Tensor> params, const char* name) : name_(name), params_(std::move(params)) {
  TS_CHECK(!params_.empty(), "{}: got an empty parameter list; pass e.g. model->parameters()", name_);
  std::unordered_map<const TensorImpl*, size_t> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    TS_CHECK(p.defined(), "{}: parameter {} is undefined", name_, i);
    TS_CHECK(p.is_leaf(),
             "{}: parameter {} of shape {} is not a leaf (it was computed from other tensors); an optimizer "
             "can only update leaves: optimize the tensor it came from, or use detach().requires_grad_()",
             name_, i, p.shape());
    const auto [it, fresh] = seen.emplace(p.impl_ptr().get(), i);
    TS_CHECK(fresh, "{}: parameter {} is the same tensor as parameter {}; pass each parameter once", name_, i, it->second);
  }
}

void Optimizer::zero_grad() {
  for (const Tensor& p : params_) p.zero_grad();
}

// ---------------- SGD ----------------
SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : Optimizer(std::move(params), "SGD"), options_(options), momentum_buffers_(params_.size()) {
  check_options(options);
}

void SGD::set_lr(double lr) {
  check_lr(lr, "SGD");
  options_.lr = lr;
}

void SGD::step() {
  NoGradGuard no_grad;
  const scalar_t neg_lr = static_cast<scalar_t>(-options_.lr);
  const scalar_t weight_decay = static_cast<scalar_t>(options_.weight_decay);
  const scalar_t momentum = static_cast<scalar_t>(options_.momentum);
  const scalar_t keep_grad = static_cast<scalar_t>(1 - options_.dampening);
  const bool use_weight_decay = options_.weight_decay != 0, use_momentum = options_.momentum != 0;
  const bool nesterov = options_.nesterov;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor p = params_[i];
    const Tensor g = grad_of(p);
    if (!g.defined()) continue;
    scalar_t* pd = p.data();
    const scalar_t* gd = g.data();
    Tensor& buffer = momentum_buffers_[i];
    const bool first = use_momentum && !buffer.defined();
    if (first) buffer = empty(p.shape());
    scalar_t* bd = use_momentum ? buffer.data() : nullptr;
    elementwise(p.numel(), [&](int64_t j) {
      scalar_t d = gd[j];
      if (use_weight_decay) d = d + weight_decay * pd[j];  // grad.add(param, alpha=weight_decay)
      if (use_momentum) {
        // the buffer starts as a copy of the gradient; then buf.mul_(momentum).add_(grad, alpha=1−dampening)
        const scalar_t b = first ? d : bd[j] * momentum + keep_grad * d;
        bd[j] = b;
        d = nesterov ? d + momentum * b : b;
      }
      pd[j] = pd[j] + neg_lr * d;  // param.add_(d, alpha=−lr)
    });
  }
}

StateDict SGD::state_dict() const {
  StateDict out = start_state_dict(params_.size());
  out.insert("param_groups.0.lr", scalar_of(options_.lr));
  out.insert("param_groups.0.momentum", scalar_of(options_.momentum));
  out.insert("param_groups.0.dampening", scalar_of(options_.dampening));
  out.insert("param_groups.0.weight_decay", scalar_of(options_.weight_decay));
  out.insert("param_groups.0.nesterov", scalar_of(options_.nesterov ? 1 : 0));
  for (size_t i = 0; i < params_.size(); ++i)
    if (momentum_buffers_[i].defined()) out.insert(state_key(i, "momentum_buffer"), copy_of(momentum_buffers_[i]));
  return out;
}

void SGD::load_state_dict(const StateDict& state) {
  const ParsedState parsed = parse_state(
      state, params_, "SGD",
      {{"lr", 1}, {"momentum", 1}, {"dampening", 1}, {"weight_decay", 1}, {"nesterov", 1}}, {"momentum_buffer"});
  SGDOptions options = options_;
  restore(options.lr, parsed.hyper.at("lr").item());
  restore(options.momentum, parsed.hyper.at("momentum").item());
  restore(options.dampening, parsed.hyper.at("dampening").item());
  restore(options.weight_decay, parsed.hyper.at("weight_decay").item());
  options.nesterov = parsed.hyper.at("nesterov").item() != 0;
  check_options(options);  // the loaded hyperparameters, before anything changes
  options_ = options;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto it = parsed.buffers[i].find("momentum_buffer");
    momentum_buffers_[i] = it == parsed.buffers[i].end() ? Tensor() : copy_of(it->second);
  }
}

// ---------------- Adam / AdamW ----------------
Adam::Adam(std::vector<Tensor> params, const AdamOptions& options) : Adam(std::move(params), options, false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled_weight_decay, const char* name)
    : Optimizer(std::move(params), name),
      options_(options),
      decoupled_weight_decay_(decoupled_weight_decay),
      state_(params_.size()) {
  check_options(options, name_);
}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& o)
    : Adam(std::move(params),
           AdamOptions{.lr = o.lr, .betas = o.betas, .eps = o.eps, .weight_decay = o.weight_decay, .amsgrad = o.amsgrad},
           true, "AdamW") {}

void Adam::set_lr(double lr) {
  check_lr(lr, name_);
  options_.lr = lr;
}

void Adam::step() {
  NoGradGuard no_grad;
  const auto [beta1, beta2] = options_.betas;
  const double lr = options_.lr, weight_decay = options_.weight_decay;
  const bool amsgrad = options_.amsgrad;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor p = params_[i];
    const Tensor g = grad_of(p);
    if (!g.defined()) continue;
    ParamState& st = state_[i];
    if (!st.exp_avg.defined()) {
      st.step = 0;
      st.exp_avg = zeros(p.shape());
      st.exp_avg_sq = zeros(p.shape());
    }
    if (amsgrad && !st.max_exp_avg_sq.defined()) st.max_exp_avg_sq = zeros(p.shape());
    st.step += 1;
    const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(st.step));
    const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(st.step));
    const scalar_t neg_step_size = static_cast<scalar_t>(-(lr / bias_correction1));
    const scalar_t bias_correction2_sqrt = static_cast<scalar_t>(std::sqrt(bias_correction2));
    const scalar_t decay = static_cast<scalar_t>(1 - lr * weight_decay);  // AdamW's p.mul_(1 − lr·wd)
    const scalar_t l2 = static_cast<scalar_t>(weight_decay);
    const bool decoupled = decoupled_weight_decay_ && weight_decay != 0;
    const bool coupled = !decoupled_weight_decay_ && weight_decay != 0;
    const scalar_t lerp_weight = static_cast<scalar_t>(1 - beta1), b2 = static_cast<scalar_t>(beta2),
                   one_minus_b2 = static_cast<scalar_t>(1 - beta2), eps = static_cast<scalar_t>(options_.eps);
    scalar_t* pd = p.data();
    const scalar_t* gd = g.data();
    scalar_t* m = st.exp_avg.data();
    scalar_t* v = st.exp_avg_sq.data();
    scalar_t* v_max = amsgrad ? st.max_exp_avg_sq.data() : nullptr;
    elementwise(p.numel(), [&](int64_t j) {
      if (decoupled) pd[j] = pd[j] * decay;
      scalar_t grad = gd[j];
      if (coupled) grad = grad + l2 * pd[j];  // grad.add(param, alpha=weight_decay)
      // exp_avg.lerp_(grad, 1 − β1), with torch.lerp's two forms (exact at either end)
      m[j] = lerp_weight < scalar_t(0.5) ? m[j] + lerp_weight * (grad - m[j])
                                         : grad - (grad - m[j]) * (scalar_t(1) - lerp_weight);
      v[j] = v[j] * b2 + one_minus_b2 * grad * grad;  // exp_avg_sq.mul_(β2).addcmul_(grad, grad, 1 − β2)
      scalar_t second = v[j];
      if (v_max) {
        v_max[j] = v[j] > v_max[j] || v[j] != v[j] ? v[j] : v_max[j];  // torch.maximum: NaN propagates
        second = v_max[j];
      }
      const scalar_t denom = std::sqrt(second) / bias_correction2_sqrt + eps;
      pd[j] = pd[j] + neg_step_size * (m[j] / denom);  // param.addcdiv_(exp_avg, denom, −step_size)
    });
  }
}

StateDict Adam::state_dict() const {
  StateDict out = start_state_dict(params_.size());
  out.insert("param_groups.0.lr", scalar_of(options_.lr));
  out.insert("param_groups.0.betas", from_vector({static_cast<scalar_t>(options_.betas.first),
                                                  static_cast<scalar_t>(options_.betas.second)}));
  out.insert("param_groups.0.eps", scalar_of(options_.eps));
  out.insert("param_groups.0.weight_decay", scalar_of(options_.weight_decay));
  out.insert("param_groups.0.amsgrad", scalar_of(options_.amsgrad ? 1 : 0));
  for (size_t i = 0; i < params_.size(); ++i) {
    const ParamState& st = state_[i];
    if (!st.exp_avg.defined()) continue;
    out.insert(state_key(i, "step"), step_tensor(st.step, name_));
    out.insert(state_key(i, "exp_avg"), copy_of(st.exp_avg));
    out.insert(state_key(i, "exp_avg_sq"), copy_of(st.exp_avg_sq));
    if (st.max_exp_avg_sq.defined()) out.insert(state_key(i, "max_exp_avg_sq"), copy_of(st.max_exp_avg_sq));
  }
  return out;
}

void Adam::load_state_dict(const StateDict& state) {
  const ParsedState parsed =
      parse_state(state, params_, name_,
                  {{"lr", 1}, {"betas", 2}, {"eps", 1}, {"weight_decay", 1}, {"amsgrad", 1}},
                  {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"});
  AdamOptions options = options_;
  restore(options.lr, parsed.hyper.at("lr").item());
  const Tensor& betas = parsed.hyper.at("betas");
  restore(options.betas.first, betas.data()[0]);
  restore(options.betas.second, betas.data()[1]);
  restore(options.eps, parsed.hyper.at("eps").item());
  restore(options.weight_decay, parsed.hyper.at("weight_decay").item());
  options.amsgrad = parsed.hyper.at("amsgrad").item() != 0;
  check_options(options, name_);  // the loaded hyperparameters, before anything changes
  std::vector<std::string> problems;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& buffers = parsed.buffers[i];
    if (buffers.empty()) continue;
    for (const char* needed : {"step", "exp_avg", "exp_avg_sq"})
      if (!buffers.contains(needed)) problems.push_back(fmt::format("'{}' is missing", state_key(i, needed)));
    if (options.amsgrad && !buffers.contains("max_exp_avg_sq"))
      problems.push_back(fmt::format("'{}' is missing (amsgrad is on)", state_key(i, "max_exp_avg_sq")));
    if (const auto it = buffers.find("step"); it != buffers.end()) {
      const scalar_t step = it->second.item();
      if (!(step >= 1 && step == std::floor(step)))
        problems.push_back(fmt::format("'{}' is {}, not a positive whole number", state_key(i, "step"), step));
    }
  }
  if (!problems.empty()) {
    std::string list;
    for (const std::string& p : problems) list += "\n  " + p;
    fail("{}: load_state_dict: incomplete state:{}", name_, list);
  }
  options_ = options;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& buffers = parsed.buffers[i];
    ParamState st;
    if (!buffers.empty()) {
      st.step = static_cast<int64_t>(buffers.at("step").item());
      st.exp_avg = copy_of(buffers.at("exp_avg"));
      st.exp_avg_sq = copy_of(buffers.at("exp_avg_sq"));
      if (const auto it = buffers.find("max_exp_avg_sq"); it != buffers.end()) st.max_exp_avg_sq = copy_of(it->second);
    }
    state_[i] = std::move(st);
  }
}

}  // namespace tessera::nn::optim

namespace tessera::nn::utils {

namespace {
std::vector<Tensor> defined_grads(const std::vector<Tensor>& parameters) {
  std::vector<Tensor> grads;
  for (const Tensor& p : parameters) {
    TS_CHECK(p.defined(), "clip_grad: a parameter is undefined");
    if (!p.requires_grad()) continue;
    Tensor g = p.grad();
    if (g.defined()) grads.push_back(g);
  }
  return grads;
}
}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type, bool error_if_nonfinite) {
  TS_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be > 0 (2 for the Euclidean norm, INFINITY for the max), got {}",
           norm_type);
  TS_CHECK(max_norm >= 0, "clip_grad_norm_: max_norm must be >= 0, got {}", max_norm);
  const std::vector<Tensor> grads = defined_grads(parameters);
  if (grads.empty()) return 0;
  double total = 0;
  if (std::isinf(norm_type)) {  // max |g|; a NaN anywhere makes the norm NaN (torch.max propagates it)
    bool nan = false;
    for (const Tensor& g : grads)
      for (int64_t j = 0; j < g.numel(); ++j) {
        const double a = std::abs(static_cast<double>(g.data()[j]));
        nan = nan || a != a;
        total = std::max(total, a);
      }
    if (nan) total = std::numeric_limits<double>::quiet_NaN();
  } else {  // (Σ |g|^p)^(1/p), summed in double, serially (the same result for any thread count)
    for (const Tensor& g : grads) {
      const scalar_t* gd = g.data();
      const int64_t n = g.numel();
      if (norm_type == 2) {
#pragma omp simd reduction(+ : total)
        for (int64_t j = 0; j < n; ++j) total += static_cast<double>(gd[j]) * static_cast<double>(gd[j]);
      } else if (norm_type == 1) {
#pragma omp simd reduction(+ : total)
        for (int64_t j = 0; j < n; ++j) total += std::abs(static_cast<double>(gd[j]));
      } else {
        for (int64_t j = 0; j < n; ++j) total += std::pow(std::abs(static_cast<double>(gd[j])), norm_type);
      }
    }
    total = norm_type == 2 ? std::sqrt(total) : norm_type == 1 ? total : std::pow(total, 1 / norm_type);
  }
  TS_CHECK(!error_if_nonfinite || std::isfinite(total),
           "clip_grad_norm_: the total norm of order {} of the gradients is non-finite ({}), so it cannot be "
           "clipped; look for a NaN or inf gradient (a too-large learning rate, a log or division of 0), or pass "
           "error_if_nonfinite = false to scale the gradients by the non-finite norm anyway",
           norm_type, total);
  // torch: grads *= clamp(max_norm / (total + 1e-6), max=1) — a no-op unless the coefficient is
  // below 1 or NaN (clamp keeps a NaN)
  const double clip_coef = max_norm / (total + 1e-6);
  if (!(clip_coef >= 1)) {
    const scalar_t coef = static_cast<scalar_t>(clip_coef);
    for (Tensor g : grads) {
      scalar_t* gd = g.data();
      const int64_t n = g.numel();
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) gd[j] *= coef;
    }
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  TS_CHECK(clip_value >= 0, "clip_grad_value_: clip_value must be >= 0, got {}", clip_value);
  const scalar_t limit = static_cast<scalar_t>(clip_value);
  for (Tensor g : defined_grads(parameters)) {
    scalar_t* gd = g.data();
    for (int64_t j = 0; j < g.numel(); ++j) gd[j] = std::clamp(gd[j], -limit, limit);
  }
}

}  // namespace tessera::nn::utils
