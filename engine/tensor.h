// tessera/engine/tensor.h — the Tensor handle, its storage, and how to make tensors.
//
// The model (the same as PyTorch's, minus strides):
//   Storage     a flat buffer of scalar_t (64-byte aligned unless tiny), shared by every tensor that views it.
//   TensorImpl  a shape + an offset into a Storage + autograd state (requires_grad, grad, grad_fn).
//   Tensor      a cheap handle (a shared_ptr to a TensorImpl). Copying a Tensor copies the handle,
//               not the data, exactly like `b = a` in Python.
// Every tensor is contiguous and row-major: element (i, j) of a [R, C] tensor is data()[i*C + j].
// reshape/view/unsqueeze/squeeze, and narrow when every dim before the narrowed one has size 1,
// return views that share storage; ops
// that reorder elements (transpose, permute) copy. matmul never needs such a copy: it takes
// transpose flags and passes them to BLAS (see engine/ops.h).
//
// scalar_t is float. The same sources compiled with -DTESSERA_DOUBLE (the tessera_engine_f64
// library in engine/meson.build) make scalar_t double; the test suite runs against both and
// checks every gradient at tight tolerances in the double build (docs/design.md).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/shape.h"
#include "engine/small_alloc.h"

namespace tessera {

#ifdef TESSERA_DOUBLE
using scalar_t = double;
#else
using scalar_t = float;
#endif

class Node;  // engine/autograd.h
class Generator;  // engine/random.h

// A flat buffer of n scalars. Buffers of more than kInline scalars are 64-byte aligned and come
// from the buffer cache (tensor.cpp); tiny ones live inline, 16-byte aligned, in the Storage
// object itself (no second allocation), which keeps per-op overhead low for scalar-sized tensors.
struct Storage {
  explicit Storage(int64_t n);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  scalar_t* data;
  int64_t size;

 private:
  static constexpr int64_t kInline = 4;
  alignas(16) scalar_t inline_[kInline];
};

// n bytes from the same buffer cache as tensor storage, uninitialised: for masks and scratch that
// live beside tensors (dropout's keep mask). A fresh std::vector of the same size would be
// zero-filled and, above glibc's mmap threshold, page-faulted in on every training step.
struct ByteBuffer {
  explicit ByteBuffer(int64_t n);
  ~ByteBuffer();
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  uint8_t* data;
  int64_t size;
};

// Frees the buffers the engine keeps for reuse (what torch.cuda.empty_cache does for PyTorch's
// GPU memory) and returns how many bytes that was. Buffers of 64 KiB and more are kept when freed,
// up to the largest working set seen so far, because a training loop asks for the same sizes
// again next step; call this after a phase that needed much more memory than what follows.
size_t release_cached_memory();
// Bytes of tensor buffers of 64 KiB and more: in use now, the most in use at once since the last
// reset_peak_memory() (like torch.cuda.max_memory_allocated), and kept in the cache. Smaller
// buffers are not counted: they come and go through malloc without a lock.
struct MemoryStats {
  size_t in_use = 0, peak = 0, cached = 0;
};
MemoryStats memory_stats();
void reset_peak_memory();

class Tensor;

// A leaf's post-accumulate-grad hook and its bookkeeping for one backward pass (autograd.cpp).
struct LeafHook {
  std::function<void(Tensor&)> fn;
  uint64_t visit = 0;  // pass id that last counted this leaf's incoming edges
  int pending = 0;     // edges of that pass whose node has not run yet
};

struct TensorImpl {
  TensorImpl(std::shared_ptr<Storage> storage_, int64_t offset_, Shape shape_)
      : storage(std::move(storage_)), offset(offset_), shape(shape_) {}
  ~TensorImpl();  // releases grad_fn iteratively (see autograd.cpp)

  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;

  // autograd state
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;     // the node that made this tensor; null for a leaf
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient (leaves, or retain_grad())
  std::unique_ptr<LeafHook> hook;    // Tensor::register_post_accumulate_grad_hook
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor, like a None in Python
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int dim() const { return impl().shape.rank(); }
  int64_t size(int dim) const;  // negative dims count from the end
  int64_t numel() const { return impl().shape.numel(); }

  scalar_t* data() { return impl().storage->data + impl().offset; }
  const scalar_t* data() const { return impl().storage->data + impl().offset; }
  scalar_t item() const;  // the value of a one-element tensor
  std::vector<scalar_t> to_vector() const;
  scalar_t at(std::initializer_list<int64_t> index) const;  // one element, bounds-checked

  // ---- autograd (engine/autograd.h has the machinery) ----
  bool requires_grad() const { return impl().requires_grad; }
  // Marks a leaf as a parameter to differentiate with respect to; returns *this.
  Tensor& requires_grad_(bool value = true);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  // The accumulated gradient: undefined until a backward reaches this tensor. Throws if the
  // tensor does not require grad (a common mistake: forgetting requires_grad_()).
  Tensor grad() const;
  void set_grad(const Tensor& g);
  void zero_grad() const;  // drops the gradient (PyTorch's set_to_none=True)
  void retain_grad();  // an interior tensor keeps its gradient after backward
  // Calls hook(leaf) in every backward pass that reaches this leaf, right after its last
  // gradient contribution of that pass has been added to .grad(): the gradient is final for the
  // pass while the rest of the backward still runs (what data-parallel training uses to start
  // sending a gradient early; torch's register_post_accumulate_grad_hook). One hook per leaf;
  // registering again replaces it, an empty function removes it. Not called by grad().
  void register_post_accumulate_grad_hook(std::function<void(Tensor&)> hook);
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  // Reverse-mode differentiation from this tensor. A non-scalar tensor needs `gradient`, the
  // vector in the vector-Jacobian product. The graph is freed afterwards unless retain_graph.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  // The same data, cut from the graph (shares storage; requires_grad = false).
  Tensor detach() const;

  // ---- in-place, no autograd: for optimizers and initialisers ----
  Tensor& fill_(scalar_t value);
  Tensor& zero_() { return fill_(0); }
  Tensor& copy_(const Tensor& src);  // same numel; shapes may differ
  Tensor clone() const;              // a copy of the data that records a graph node (like torch)

  // ---- methods that forward to the functional ops in engine/ops.h ----
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor flatten() const { return reshape({numel()}); }
  Tensor transpose(int dim0, int dim1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor permute(const std::vector<int>& dims) const;
  Tensor unsqueeze(int dim) const;
  Tensor squeeze(int dim) const;
  Tensor expand(const Shape& shape) const;
  Tensor narrow(int dim, int64_t start, int64_t length) const;
  Tensor sum() const;
  Tensor sum(const std::vector<int>& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const std::vector<int>& dims, bool keepdim = false) const;
  Tensor pow(scalar_t exponent) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor matmul(const Tensor& other) const;
  Tensor softmax(int dim) const;
  Tensor log_softmax(int dim) const;

  std::string str() const;  // a readable print, like torch's repr

  TensorImpl& impl() const;  // throws on an undefined tensor
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// ---- making tensors ----
Tensor empty(const Shape& shape);  // uninitialised
Tensor zeros(const Shape& shape);
Tensor ones(const Shape& shape);
Tensor full(const Shape& shape, scalar_t value);
Tensor scalar_tensor(scalar_t value);  // rank 0
Tensor from_vector(const std::vector<scalar_t>& values, const Shape& shape);
Tensor from_vector(const std::vector<scalar_t>& values);  // 1-D
Tensor arange(int64_t end);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
// Random tensors draw from the global generator unless one is given (engine/random.h).
Tensor randn(const Shape& shape, Generator* gen = nullptr);
Tensor rand(const Shape& shape, Generator* gen = nullptr);  // uniform [0, 1)
Tensor uniform(const Shape& shape, scalar_t low, scalar_t high, Generator* gen = nullptr);

// A tensor of int64 indices (token ids, class labels, argmax results). Plain data: it never
// takes part in autograd. Like Tensor, it is a cheap shared handle.
class IndexTensor {
 public:
  IndexTensor() = default;
  IndexTensor(std::vector<int64_t> values, const Shape& shape);
  explicit IndexTensor(std::vector<int64_t> values);  // 1-D
  const Shape& shape() const { return shape_; }
  int dim() const { return shape_.rank(); }
  int64_t numel() const { return shape_.numel(); }
  const int64_t* data() const { return data_->data(); }
  int64_t* data() { return data_->data(); }
  const std::vector<int64_t>& values() const { return *data_; }
  bool defined() const { return data_ != nullptr; }
  IndexTensor reshape(const Shape& shape) const;

 private:
  Shape shape_;
  std::shared_ptr<std::vector<int64_t>> data_;
};

}  // namespace tessera
