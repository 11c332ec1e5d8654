// tessera/engine/autograd.cpp — the backward engine: topological sort, gradient accumulation,
// graph release. See autograd.h for the model.
#include "engine/autograd.h"

#include <atomic>
#include <cstring>

#include "engine/ops.h"

namespace tessera {

namespace {
thread_local bool g_grad_enabled = true;
// incremented per backward pass; marks visited nodes. Atomic: threads may run backward passes
// over graphs of their own at the same time (each pass gets its own id).
std::atomic<uint64_t> g_pass{0};
}  // namespace

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool enabled) { g_grad_enabled = enabled; }

// ---- releasing graphs without recursion ----
// Dropping the last reference to a node drops its input edges, which may drop *their* nodes,
// and so on down the chain: a recursion as deep as the graph. Instead every node (and every
// tensor's grad_fn) is released through a queue; only the outermost call drains it, so the stack
// depth stays constant however long the chain (MLX's lesson, mlx/array.cpp).
void release_deferred(std::shared_ptr<Node>&& node) {
  thread_local std::vector<std::shared_ptr<Node>> pending;
  thread_local bool draining = false;
  if (!node) return;
  if (node.use_count() > 1) {  // someone else still holds it: nothing cascades
    node.reset();
    return;
  }
  pending.push_back(std::move(node));
  if (draining) return;
  draining = true;
  while (!pending.empty()) {
    std::shared_ptr<Node> last = std::move(pending.back());
    pending.pop_back();
    last.reset();  // runs ~Node, which queues the node's inputs instead of freeing them here
  }
  draining = false;
}

Node::~Node() {
  for (Edge& e : inputs_) release_deferred(std::move(e.node));
}

TensorImpl::~TensorImpl() { release_deferred(std::move(grad_fn)); }

namespace detail {
bool any_requires_grad(const Tensor* const* inputs, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (inputs[i]->defined() && inputs[i]->requires_grad()) return true;
  return false;
}

void attach(Tensor& out, std::shared_ptr<Node> node, const Tensor* const* inputs, size_t n) {
  node->inputs_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Tensor& t = *inputs[i];
    if (!t.defined() || !t.requires_grad()) continue;
    Edge& e = node->inputs_[i];
    if (t.impl().grad_fn) e.node = t.impl().grad_fn;
    else e.leaf = t.impl_ptr();
    e.shape = t.shape();
  }
  out.impl().requires_grad = true;
  out.impl().grad_fn = std::move(node);
}
}  // namespace detail

// ---- gradient accumulation ----
namespace {
// Is g's buffer referenced by anyone but g itself? (Then it must not be written in place.)
bool exclusively_owned(const Tensor& g) {
  return g.impl_ptr().use_count() == 1 && g.impl().storage.use_count() == 1;
}

void accumulate_into_leaf(TensorImpl& leaf, Tensor g) {
  if (!leaf.grad) {
    // A leaf's .grad() belongs to it alone (optimizers update it in place), so steal g only
    // when nobody else holds it; otherwise copy, as PyTorch's AccumulateGrad does.
    if (exclusively_owned(g) && g.impl().offset == 0) {
      leaf.grad = g.impl_ptr();
    } else {
      Tensor copy = empty(g.shape());
      std::memcpy(copy.data(), g.data(), sizeof(scalar_t) * g.numel());
      leaf.grad = copy.impl_ptr();
    }
    return;
  }
  // grad += g (in place: the leaf owns its grad buffer)
  scalar_t* dst = leaf.grad->storage->data + leaf.grad->offset;
  const scalar_t* src = g.data();
  const int64_t n = g.numel();
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}
}  // namespace

namespace detail {
// grad()'s targets: each input is either a leaf (its TensorImpl) or an interior tensor (its
// grad_fn node); their gradients are summed into `results` instead of any .grad.
struct GradCapture {
  std::vector<const TensorImpl*> leaves;  // per input: the leaf, or null
  std::vector<const Node*> nodes;         // per input: the grad_fn, or null
  std::vector<Tensor> results;
  bool wants_leaf(const TensorImpl* leaf) const {
    for (const TensorImpl* l : leaves)
      if (l == leaf) return true;
    return false;
  }
};
}  // namespace detail

namespace {
Tensor sum_gradients(const Tensor& a, Tensor b) { return a.defined() ? tessera::add(a, b) : std::move(b); }
}  // namespace

bool GradSink::needs(int i) const {
  const Edge& e = node_.inputs_[i];
  if (!e.active()) return false;
  // grad(): a leaf that is not asked for needs nothing (weights' products are skipped)
  return !capture_ || !e.leaf || capture_->wants_leaf(e.leaf.get());
}

void GradSink::add(int i, Tensor g) {
  Edge& e = node_.inputs_[i];
  if (!e.active()) return;
  if (g.shape() != e.shape) {
    // The forward broadcast this input up to the output's shape; its gradient is the sum over
    // the broadcast dims (or a pure reshape when only size-1 dims differ).
    g = g.numel() == e.shape.numel() ? reshape(g, e.shape) : sum_to(g, e.shape);
  }
  if (e.leaf) {
    if (!capture_) {
      accumulate_into_leaf(*e.leaf, std::move(g));
      return;
    }
    for (size_t j = 0; j < capture_->leaves.size(); ++j)
      if (capture_->leaves[j] == e.leaf.get()) capture_->results[j] = sum_gradients(capture_->results[j], g);
    return;
  }
  Node& target = *e.node;
  // Out of place on purpose: the first gradient stored may be shared with another input's
  // (add passes one tensor to both), so it is never written through.
  target.grad_ = target.grad_.defined() ? tessera::add(target.grad_, g) : std::move(g);
}

void Tensor::register_post_accumulate_grad_hook(std::function<void(Tensor&)> hook) {
  TS_CHECK(is_leaf() && requires_grad(),
           "register_post_accumulate_grad_hook: only a leaf that requires grad (a parameter) "
           "accumulates a gradient; this tensor of shape {} {}", shape(),
           is_leaf() ? "does not require grad" : "is the output of an op");
  if (!hook) {
    impl().hook.reset();
    return;
  }
  if (!impl().hook) impl().hook = std::make_unique<LeafHook>();
  impl().hook->fn = std::move(hook);
}

// ---- the backward pass ----
namespace {
Tensor checked_seed(const Tensor& root, const Tensor& gradient, const char* what) {
  TS_CHECK(root.requires_grad(),
           "{}: this tensor does not require grad and has no grad_fn; did you forget "
           "requires_grad_() on a parameter, or run the forward pass under a NoGradGuard?", what);
  Tensor seed = gradient;
  if (!seed.defined()) {
    TS_CHECK(root.numel() == 1,
             "{}: a gradient can be created implicitly only for a one-element output, but "
             "this one has shape {}; pass the output's gradient (a tensor of that shape), or "
             "reduce the output first (e.g. .sum())",
             what, root.shape());
    seed = ones(root.shape());
  }
  TS_CHECK(seed.shape() == root.shape(), "{}: gradient of shape {} does not match output {}", what,
           seed.shape(), root.shape());
  return seed;
}
}  // namespace

void run_backward(const Tensor& root, const Tensor& gradient, bool retain_graph) {
  const Tensor seed = checked_seed(root, gradient, "backward");
  NoGradGuard no_grad;  // the backward computation itself is not recorded
  if (!root.grad_fn()) {  // backward on a leaf: its gradient is the seed
    accumulate_into_leaf(root.impl(), seed);
    if (root.impl().hook) {
      Tensor leaf = root;
      root.impl().hook->fn(leaf);
    }
    return;
  }
  detail::backward_pass(root, seed, retain_graph, nullptr);
}

std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs, const Tensor& grad_output,
                         bool retain_graph, bool allow_unused) {
  TS_CHECK(output.defined(), "grad: the output tensor is undefined");
  const Tensor seed = checked_seed(output, grad_output, "grad");
  detail::GradCapture capture;
  capture.results.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    TS_CHECK(t.defined() && t.requires_grad(),
             "grad: input {} {} does not require grad, so no gradient can flow to it (call "
             "requires_grad_() on it before the forward pass)", i, t.defined() ? "" : "(undefined)");
    capture.nodes.push_back(t.grad_fn().get());
    capture.leaves.push_back(t.grad_fn() ? nullptr : &t.impl());
  }
  NoGradGuard no_grad;
  if (!output.grad_fn()) {  // the output is a leaf: d(output)/d(itself) = seed, all else unused
    for (size_t i = 0; i < inputs.size(); ++i)
      if (capture.leaves[i] == &output.impl()) capture.results[i] = seed.clone();
  } else {
    detail::backward_pass(output, seed, retain_graph, &capture);
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor& r = capture.results[i];
    if (!r.defined()) {
      TS_CHECK(allow_unused,
               "grad: input {} (shape {}) was not used to compute the output, so it has no gradient; "
               "pass allow_unused=true to get an undefined tensor for it instead", i, inputs[i].shape());
      continue;
    }
    // the results must not alias buffers the graph still holds, nor each other
    if (r.shape() != inputs[i].shape()) r = reshape(r, inputs[i].shape());
    r = r.detach().clone();
  }
  return capture.results;
}

namespace detail {
void backward_pass(const Tensor& root, const Tensor& seed, bool retain_graph, GradCapture* capture) {

  // 1. Count, for each node, how many consumers inside this graph send it a gradient
  //    (iterative DFS; `visit_` marks nodes already seen in this pass).
  const uint64_t pass = ++g_pass;
  Node* start = root.grad_fn().get();
  std::vector<Node*> stack{start};
  start->visit_ = pass;
  start->pending_ = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    TS_CHECK(!n->released_,
             "backward: trying to backward through the graph a second time (the saved values of "
             "'{}' were freed by the first backward); pass retain_graph=true to the first "
             "backward if you need to backward twice",
             n->name());
    for (Edge& e : n->inputs_) {
      if (e.leaf && e.leaf->hook && !capture) {  // a hooked leaf: count the edges that feed it
        LeafHook& h = *e.leaf->hook;
        if (h.visit != pass) {
          h.visit = pass;
          h.pending = 0;
        }
        ++h.pending;
      }
      if (!e.node) continue;
      Node* in = e.node.get();
      if (in->visit_ != pass) {
        in->visit_ = pass;
        in->pending_ = 0;
        stack.push_back(in);
      }
      ++in->pending_;
    }
  }

  // 2. Kahn's algorithm: a node runs once all its consumers have handed it their gradients.
  start->grad_ = seed;
  std::vector<Node*> ready{start};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    Tensor grad_out = std::move(n->grad_);
    n->grad_ = Tensor();
    if (capture) {  // grad(): an interior input's gradient is its node's summed dL/d(out)
      for (size_t j = 0; j < capture->nodes.size(); ++j)
        if (capture->nodes[j] == n && grad_out.defined()) capture->results[j] = grad_out;
    } else if (auto out = n->retained_.lock()) {  // retain_grad(): keep dL/d(out) on the tensor
      if (!out->grad) out->grad = grad_out.detach().clone().impl_ptr();
      else accumulate_into_leaf(*out, grad_out);
    }
    if (grad_out.defined()) {  // undefined when no consumer produced a gradient for it
      GradSink sink(*n, capture);
      n->apply(grad_out, sink);
    }
    if (!retain_graph) {
      n->release();
      n->released_ = true;
    }
    for (Edge& e : n->inputs_) {
      if (e.node && --e.node->pending_ == 0) ready.push_back(e.node.get());
      // the last edge into a hooked leaf has run: its .grad() is final for this pass
      if (e.leaf && e.leaf->hook && !capture && e.leaf->hook->visit == pass && --e.leaf->hook->pending == 0) {
        Tensor leaf(e.leaf);
        e.leaf->hook->fn(leaf);
      }
    }
  }
}

}  // namespace detail

}  // namespace tessera
