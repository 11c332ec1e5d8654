#include "nn/module.h"

#include <map>
#include <set>

namespace tessera::nn {

// ---- StateDict ----
void StateDict::insert(const std::string& name, const Tensor& tensor) {
  for (auto& [n, t] : items_)
    if (n == name) {
      t = tensor;
      return;
    }
  items_.emplace_back(name, tensor);
}

bool StateDict::contains(const std::string& name) const {
  for (const auto& item : items_)
    if (item.first == name) return true;
  return false;
}

const Tensor& StateDict::at(const std::string& name) const {
  for (const auto& item : items_)
    if (item.first == name) return item.second;
  fail("state_dict: no entry named '{}'", name);
}

// ---- registration ----
void Module::check_new_name(const std::string& name) const {
  TS_CHECK(!name.empty() && name.find('.') == std::string::npos,
           "{}: invalid name '{}': names must be non-empty and contain no '.'", type_name_, name);
  for (const auto& p : parameters_) TS_CHECK(p.first != name, "{}: '{}' is already registered", type_name_, name);
  for (const auto& b : buffers_) TS_CHECK(b.first != name, "{}: '{}' is already registered", type_name_, name);
  for (const auto& c : children_) TS_CHECK(c.first != name, "{}: '{}' is already registered", type_name_, name);
}

Tensor Module::register_parameter(const std::string& name, Tensor tensor) {
  check_new_name(name);
  if (tensor.defined()) tensor.requires_grad_(true);
  parameters_.emplace_back(name, tensor);
  return tensor;
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor) {
  check_new_name(name);
  buffers_.emplace_back(name, tensor);
  return tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  TS_CHECK(module != nullptr, "{}: child module '{}' is null", type_name_, name);
  children_.emplace_back(name, std::move(module));
}

// ---- traversal (iterative over an explicit stack would be overkill: module trees are shallow) ----
std::vector<std::pair<std::string, Tensor>> Module::all_named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, t] : parameters_)
    if (t.defined()) out.emplace_back(name, t);
  for (const auto& [child_name, child] : children_)
    for (auto& [name, t] : child->all_named_parameters()) out.emplace_back(child_name + "." + name, t);
  return out;
}

// Like PyTorch, a parameter shared by two modules (tied weights) is listed once, under its first
// name, so an optimizer updates it once; state_dict() still has every name.
std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& [name, t] : all_named_parameters()) {
    bool seen = false;
    for (const auto& kept : out) seen = seen || kept.second.same(t);
    if (!seen) out.emplace_back(name, t);
  }
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, t] : buffers_)
    if (t.defined()) out.emplace_back(name, t);
  for (const auto& [child_name, child] : children_)
    for (auto& [name, t] : child->named_buffers()) out.emplace_back(child_name + "." + name, t);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Tensor& t : parameters()) n += t.numel();
  return n;
}

void Module::zero_grad() {
  for (const Tensor& t : parameters()) t.zero_grad();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

// ---- state ----
StateDict Module::state_dict() const {
  StateDict state;
  for (auto& [name, t] : all_named_parameters()) state.insert(name, t);
  for (auto& [name, t] : named_buffers()) state.insert(name, t);
  return state;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  const StateDict own = state_dict();
  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& [name, t] : own) {
    if (!state.contains(name)) {
      missing.push_back(name);
      continue;
    }
    const Tensor& src = state.at(name);
    if (src.shape() != t.shape())
      mismatched.push_back(fmt::format("{}: checkpoint {} vs model {}", name, src.shape(), t.shape()));
  }
  for (const auto& [name, t] : state)
    if (!own.contains(name)) unexpected.push_back(name);
  const bool bad = !mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty()));
  if (bad) {
    std::string msg = fmt::format("load_state_dict: the state does not fit this {}:", type_name_);
    auto list = [&msg](const char* what, const std::vector<std::string>& names) {
      if (names.empty()) return;
      msg += fmt::format("\n  {} ({}):", what, names.size());
      for (const std::string& n : names) msg += "\n    " + n;
    };
    list("missing keys", missing);
    list("unexpected keys", unexpected);
    list("shape mismatches", mismatched);
    if (strict) msg += "\n(pass strict=false to load only the keys that match)";
    throw Error(msg);
  }
  NoGradGuard no_grad;
  for (const auto& [name, t] : own)
    if (state.contains(name)) {
      Tensor dst = t;
      dst.copy_(state.at(name));
    }
}

// ---- printing ----
void Module::str_into(std::string& out, const std::string& name, int indent) const {
  const std::string pad(indent, ' ');
  int64_t own = 0;
  for (const auto& [n, t] : parameters_)
    if (t.defined()) own += t.numel();
  out += pad + (name.empty() ? "" : "(" + name + "): ") + type_name_ + "(" + extra_repr() + ")";
  if (children_.empty()) {
    if (own) out += fmt::format("  # {} parameters", own);
    out += "\n";
    return;
  }
  out += fmt::format("  # {} parameters\n", num_parameters());
  for (const auto& [child_name, child] : children_) child->str_into(out, child_name, indent + 2);
}

std::string Module::str() const {
  std::string out;
  str_into(out, "", 0);
  return out;
}

// ---- Sequential ----
Sequential::Sequential(const std::vector<std::shared_ptr<UnaryModule>>& modules) : Sequential() {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<UnaryModule> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& m : modules_) h = m->forward(h);
  return h;
}

}  // namespace tessera::nn
