// tessera/nn/module.h — Module: the base of every layer, like torch.nn.Module.
//
// A module owns named parameters (tensors that require grad), named buffers (state that is saved
// but not trained, e.g. BatchNorm's running mean) and named child modules. Names compose with dots
// into the same hierarchical names PyTorch uses — `encoder.layers.0.self_attn.in_proj_weight` —
// so a PyTorch state_dict saved as safetensors loads straight into the same architecture.
//
//   struct MyLayer : nn::Module {
//     MyLayer(int64_t in, int64_t out) : Module("MyLayer") {
//       proj = register_module("proj", std::make_shared<nn::Linear>(in, out));
//       scale = register_parameter("scale", ones({out}));
//     }
//     Tensor forward(const Tensor& x) { return proj->forward(x) * scale; }
//     std::shared_ptr<nn::Linear> proj;
//     Tensor scale;
//   };
//
// Members hold the same tensor handles the module registered, so in-place loads
// (load_state_dict) and optimizer updates are seen by both.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tessera.h"

namespace tessera::nn {

// Name -> tensor, in registration order (like PyTorch's OrderedDict).
class StateDict {
 public:
  void insert(const std::string& name, const Tensor& tensor);
  bool contains(const std::string& name) const;
  const Tensor& at(const std::string& name) const;  // throws if missing
  size_t size() const { return items_.size(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::pair<std::string, Tensor>> items_;
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- what the module holds (recursively, children's names prefixed "child.") ----
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }
  int64_t num_parameters() const;

  void zero_grad();                    // drops every parameter's gradient
  virtual void train(bool on = true);  // training mode (dropout active, batch statistics)
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Parameters and buffers by hierarchical name.
  StateDict state_dict() const;
  // Copies each tensor of `state` into the module's own (in place, so handles stay valid).
  // strict: every name must match both ways; missing, unexpected and mis-shaped entries are all
  // listed in one error. Nothing is modified unless the whole load can succeed.
  void load_state_dict(const StateDict& state, bool strict = true);

  // A readable tree with parameter counts, like printing a torch module.
  std::string str() const;
  const std::string& type_name() const { return type_name_; }

 protected:
  Tensor register_parameter(const std::string& name, Tensor tensor);
  Tensor register_buffer(const std::string& name, Tensor tensor);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  // One line of settings for str(), e.g. "in_features=4, out_features=2, bias=true".
  virtual std::string extra_repr() const { return ""; }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  std::vector<std::pair<std::string, Tensor>> all_named_parameters() const;  // with duplicates
  void check_new_name(const std::string& name) const;
  void str_into(std::string& out, const std::string& name, int indent) const;

  std::string type_name_;
  bool training_ = true;
  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// A module with one tensor in and one out: what Sequential chains.
class UnaryModule : public Module {
 public:
  using Module::Module;
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

// Runs its modules in order: Sequential({linear1, relu, linear2}). Children are named "0", "1", …
class Sequential : public UnaryModule {
 public:
  Sequential() : UnaryModule("Sequential") {}
  explicit Sequential(const std::vector<std::shared_ptr<UnaryModule>>& modules);
  void push_back(std::shared_ptr<UnaryModule> module);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return modules_.size(); }
  const std::shared_ptr<UnaryModule>& operator[](size_t i) const { return modules_.at(i); }

 private:
  std::vector<std::shared_ptr<UnaryModule>> modules_;
};

// A list of modules of one type, registered as children "0", "1", … (torch.nn.ModuleList).
template <class M>
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  void push_back(std::shared_ptr<M> module) {
    register_module(std::to_string(items_.size()), module);
    items_.push_back(std::move(module));
  }
  size_t size() const { return items_.size(); }
  const std::shared_ptr<M>& operator[](size_t i) const { return items_.at(i); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::shared_ptr<M>> items_;
};

}  // namespace tessera::nn
