// tessera/engine/autograd.h — the dynamic graph and reverse-mode differentiation.
//
// How it works (docs/internals.md walks through a full example):
//  * An op computes its output, then — if grad mode is on and an input requires grad — calls
//    record(out, "name", {inputs...}, backward_lambda). That makes a Node holding the lambda and
//    one Edge per input, and sets out.grad_fn = node. The lambda sits right below the forward
//    code of its op, so each op's forward and backward are read together.
//  * An Edge points at the input's own grad_fn node (an interior tensor) or at the input's
//    TensorImpl (a leaf, whose .grad() receives the gradient). Inputs the lambda needs as values
//    are captured by the lambda (detached: data without graph); inputs it does not need are kept
//    only as graph links (an interior input's node; a leaf input's TensorImpl, which the leaf's
//    owner keeps alive anyway).
//  * Ownership runs one way: a tensor owns its grad_fn, a node owns its input edges. A lambda
//    never captures the tensor its node produced (it captures out.detach(), the data only), so
//    there is no shared_ptr cycle and a graph is freed as soon as its last tensor goes.
//  * backward(): an iterative topological sort (Kahn's algorithm over consumer counts), then one
//    reverse walk; each node's lambda receives dL/d(out) and hands dL/d(input i) to a GradSink,
//    which sums it into the input (+=, so a tensor used twice gets both contributions) after
//    reducing broadcast dims back to the input's shape. Nothing recurses: a 100,000-op chain is
//    fine, and so is destroying it (release_deferred).
//  * After backward the lambdas (and the tensors they saved) are freed unless retain_graph;
//    walking a freed node again throws.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "engine/small_alloc.h"
#include "engine/tensor.h"

namespace tessera {

// ---- grad mode ----
bool grad_enabled();
void set_grad_enabled(bool enabled);

// RAII: no graph is recorded while a NoGradGuard lives (inference, optimizer steps).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// One input of a node: where its gradient goes, and the shape it must have.
struct Edge {
  std::shared_ptr<Node> node;         // the input's grad_fn (interior tensor), or
  std::shared_ptr<TensorImpl> leaf;   // the input itself (a leaf that requires grad)
  Shape shape;                        // the input's shape (broadcast grads are summed back to it)
  bool active() const { return node != nullptr || leaf != nullptr; }
};

// A node's input edges: usually one to three, held in a pooled block (engine/small_alloc.h).
using EdgeList = std::vector<Edge, detail::SmallAllocator<Edge>>;

class GradSink;
class Node;
namespace detail {
struct GradCapture;  // what grad() collects instead of filling leaves' .grad (autograd.cpp)
void attach(Tensor& out, std::shared_ptr<Node> node, const Tensor* const* inputs, size_t n);
// The walk behind backward() and grad(): with a capture, gradients go to the capture only.
void backward_pass(const Tensor& root, const Tensor& seed, bool retain_graph, GradCapture* capture);
}
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

class Node {
 public:
  explicit Node(const char* name) : name_(name) {}
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const char* name() const { return name_; }
  const EdgeList& inputs() const { return inputs_; }

 private:
  friend class GradSink;
  friend void detail::attach(Tensor&, std::shared_ptr<Node>, const Tensor* const*, size_t);
  friend void run_backward(const Tensor&, const Tensor&, bool);
  friend void detail::backward_pass(const Tensor&, const Tensor&, bool, detail::GradCapture*);
  friend class Tensor;

  virtual void apply(const Tensor& grad_output, GradSink& sink) = 0;
  virtual void release() = 0;  // frees the saved tensors

  const char* name_;
  EdgeList inputs_;
  // bookkeeping for one backward pass
  Tensor grad_;                           // dL/d(output), summed over consumers
  int pending_ = 0;                       // consumers not yet processed
  uint64_t visit_ = 0;                    // pass id that last visited this node
  bool released_ = false;
  std::weak_ptr<TensorImpl> retained_;    // output that asked for retain_grad()
};

template <class F>
class LambdaNode final : public Node {
 public:
  LambdaNode(const char* name, F&& fn) : Node(name), fn_(std::move(fn)) {}

 private:
  void apply(const Tensor& grad_output, GradSink& sink) override { (*fn_)(grad_output, sink); }
  void release() override { fn_.reset(); }
  std::optional<F> fn_;
};

// Handed to a backward lambda: the place to put dL/d(input i).
class GradSink {
 public:
  explicit GradSink(Node& node, detail::GradCapture* capture = nullptr) : node_(node), capture_(capture) {}
  // Does input i need a gradient? (Skip the work when not: e.g. a weight's gradient while
  // grad() asks only for an input's.)
  bool needs(int i) const;
  // Adds g to input i's gradient, first summing broadcast dims so g matches the input's shape.
  void add(int i, Tensor g);

 private:
  Node& node_;
  detail::GradCapture* capture_;
};

namespace detail {
bool any_requires_grad(const Tensor* const* inputs, size_t n);
// Links node to its inputs and makes it out's grad_fn (defined in autograd.cpp).
void attach(Tensor& out, std::shared_ptr<Node> node, const Tensor* const* inputs, size_t n);
}  // namespace detail

// Attaches a backward lambda `void(const Tensor& grad_output, GradSink& sink)` to `out` if grad
// mode is on and any input requires grad. Inputs are given by pointer so undefined or constant
// ones can be listed too; the lambda's input i is the i-th pointer.
template <class F>
void record(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, F&& fn) {
  if (!grad_enabled() || !detail::any_requires_grad(inputs.begin(), inputs.size())) return;
  detail::attach(out, detail::make_small<LambdaNode<std::decay_t<F>>>(name, std::forward<F>(fn)),
                 inputs.begin(), inputs.size());
}

// The same for ops with a variable number of inputs (cat, stack).
template <class F>
void record_list(Tensor& out, const char* name, const std::vector<Tensor>& inputs, F&& fn) {
  if (!grad_enabled()) return;
  std::vector<const Tensor*> pointers;
  pointers.reserve(inputs.size());
  for (const Tensor& t : inputs) pointers.push_back(&t);
  if (!detail::any_requires_grad(pointers.data(), pointers.size())) return;
  detail::attach(out, detail::make_small<LambdaNode<std::decay_t<F>>>(name, std::forward<F>(fn)),
                 pointers.data(), pointers.size());
}

// Drops a node without recursing down a long chain (see autograd.cpp).
void release_deferred(std::shared_ptr<Node>&& node);

// (run_backward, declared above, is the engine behind Tensor::backward: one root, one seed.)

// d(output)/d(inputs), like torch.autograd.grad: returns one gradient per input, of the input's
// shape, and touches no tensor's .grad() (parameters' gradients are neither filled nor changed,
// so it is safe in the middle of training and for saliency maps). Inputs may be leaves that
// require grad or interior tensors of output's graph (e.g. the output of an embedding lookup).
// grad_output is dL/d(output) (omitted: a one-element output, seed 1). An input the output does
// not depend on is an error unless allow_unused, which returns an undefined Tensor for it.
// retain_graph keeps the graph for another backward or grad() (one gradient per output token).
std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs,
                         const Tensor& grad_output = Tensor(), bool retain_graph = false, bool allow_unused = false);

}  // namespace tessera
