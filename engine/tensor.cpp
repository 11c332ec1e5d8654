// tessera/engine/tensor.cpp — Storage, the Tensor handle's methods, and tensor factories.
#include "engine/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/random.h"

namespace tessera {

// ---- Storage ----
// Large buffers are recycled through a small cache keyed by exact size. A training step
// allocates the same sizes every time; without the cache each large buffer is a fresh mmap whose
// pages the kernel must fault in and zero on first touch, which cost more than the arithmetic in
// matmul-sized ops (bench/README.md). Only buffers of at least kCacheMin bytes are cached. The
// cache holds at most as much as the largest working set seen so far (the peak of bytes in use),
// and at least kCacheFloor: a training step that needs 600 MB at its peak frees it all in the
// backward and asks for the same buffers again in the next step, so a fixed cap smaller than the
// step (256 MB before) sent the surplus back to glibc and cost ~500 page faults a step in the
// d256 Transformer benchmark. Anything beyond the cap goes straight back to the allocator;
// release_cached_memory() empties the cache.
namespace {
constexpr size_t kCacheMin = size_t{64} << 10;     // 64 KiB
constexpr size_t kCacheFloor = size_t{256} << 20;  // 256 MiB
struct BufferCache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_by_size;
  size_t cached_bytes = 0;
  size_t live_bytes = 0;  // handed out and not yet given back (cacheable sizes only)
  size_t peak_live_bytes = 0;
};
BufferCache& buffer_cache() {
  static BufferCache* cache = new BufferCache;  // never destroyed: tensors may outlive statics
  return *cache;
}
// Every buffer is a whole number of 64-byte lines (at least one), so equal sizes meet in the cache.
size_t round_to_lines(size_t bytes) { return bytes == 0 ? 64 : ((bytes + 63) / 64) * 64; }
size_t buffer_bytes(int64_t n) { return round_to_lines(static_cast<size_t>(n) * sizeof(scalar_t)); }

void* take_buffer(size_t bytes) {
  if (bytes >= kCacheMin) {
    BufferCache& c = buffer_cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.live_bytes += bytes;
    c.peak_live_bytes = std::max(c.peak_live_bytes, c.live_bytes);
    auto it = c.free_by_size.find(bytes);
    if (it != c.free_by_size.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached_bytes -= bytes;
      return p;
    }
  }
  return std::aligned_alloc(64, bytes);
}

void give_buffer(void* p, size_t bytes) {
  if (bytes >= kCacheMin) {
    BufferCache& c = buffer_cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.live_bytes -= bytes;
    if (c.cached_bytes + bytes <= std::max(kCacheFloor, c.peak_live_bytes)) {
      c.free_by_size[bytes].push_back(p);
      c.cached_bytes += bytes;
      return;
    }
  }
  std::free(p);
}
}  // namespace

size_t release_cached_memory() {
  BufferCache& c = buffer_cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  const size_t released = c.cached_bytes;
  for (auto& [bytes, blocks] : c.free_by_size)
    for (void* p : blocks) std::free(p);
  c.free_by_size.clear();
  c.cached_bytes = 0;
  c.peak_live_bytes = c.live_bytes;
  return released;
}

MemoryStats memory_stats() {
  BufferCache& c = buffer_cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {c.live_bytes, c.peak_live_bytes, c.cached_bytes};
}

void reset_peak_memory() {
  BufferCache& c = buffer_cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.peak_live_bytes = c.live_bytes;
}

Storage::Storage(int64_t n) : size(n) {
  TS_CHECK(n >= 0, "storage: negative size {}", n);
  if (n <= kInline) {
    data = inline_;
  } else {
    const size_t bytes = buffer_bytes(n);
    data = static_cast<scalar_t*>(take_buffer(bytes));
    if (!data) throw Error(fmt::format("storage: out of memory allocating {} bytes", bytes));
  }
}

Storage::~Storage() {
  if (data != inline_) give_buffer(data, buffer_bytes(size));
}

ByteBuffer::ByteBuffer(int64_t n) : size(n) {
  TS_CHECK(n >= 0, "buffer: negative size {}", n);
  const size_t bytes = round_to_lines(static_cast<size_t>(n));
  data = static_cast<uint8_t*>(take_buffer(bytes));
  if (!data) throw Error(fmt::format("buffer: out of memory allocating {} bytes", bytes));
}

ByteBuffer::~ByteBuffer() { give_buffer(data, round_to_lines(static_cast<size_t>(size))); }

// ---- Tensor ----
TensorImpl& Tensor::impl() const {
  if (!impl_) throw Error("tensor: this tensor is undefined (default-constructed or a missing "
                          "gradient); did you forget to assign it?");
  return *impl_;
}

int64_t Tensor::size(int d) const { return shape()[normalize_dim(d, dim(), "size")]; }

scalar_t Tensor::item() const {
  TS_CHECK(numel() == 1, "item: tensor of shape {} has {} elements; item() needs exactly one",
           shape(), numel());
  return data()[0];
}

std::vector<scalar_t> Tensor::to_vector() const { return std::vector<scalar_t>(data(), data() + numel()); }

scalar_t Tensor::at(std::initializer_list<int64_t> index) const {
  TS_CHECK(static_cast<int>(index.size()) == dim(), "at: {} indices given for a tensor of rank {}",
           index.size(), dim());
  int64_t flat = 0, d = 0;
  for (int64_t i : index) {
    TS_CHECK(i >= 0 && i < shape()[d], "at: index {} is out of range for dim {} of size {}", i, d,
             shape()[d]);
    flat = flat * shape()[d] + i;
    ++d;
  }
  return data()[flat];
}

Tensor& Tensor::requires_grad_(bool value) {
  TS_CHECK(is_leaf() || value,
           "requires_grad_: cannot turn off requires_grad of a non-leaf tensor; use detach()");
  impl().requires_grad = value;
  return *this;
}

Tensor Tensor::grad() const {
  TS_CHECK(impl().requires_grad,
           "grad: this tensor of shape {} does not require grad, so it has no gradient; call "
           "requires_grad_() on it before the forward pass",
           shape());
  return impl().grad ? Tensor(impl().grad) : Tensor();
}

void Tensor::set_grad(const Tensor& g) {
  if (g.defined())
    TS_CHECK(g.shape() == shape(), "set_grad: gradient of shape {} does not match tensor shape {}",
             g.shape(), shape());
  impl().grad = g.defined() ? g.impl_ptr() : nullptr;
}

void Tensor::zero_grad() const { impl().grad.reset(); }

void Tensor::retain_grad() {
  TS_CHECK(requires_grad(), "retain_grad: tensor of shape {} does not require grad", shape());
  if (impl().grad_fn) impl().grad_fn->retained_ = impl_;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  run_backward(*this, gradient, retain_graph);
}

Tensor Tensor::detach() const {
  return Tensor(detail::make_small<TensorImpl>(impl().storage, impl().offset, impl().shape));
}

Tensor& Tensor::fill_(scalar_t value) {
  TS_CHECK(!(requires_grad() && is_leaf() && grad_enabled()),
           "fill_: a leaf tensor that requires grad is being modified in place; wrap the update in "
           "a NoGradGuard");
  std::fill(data(), data() + numel(), value);
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  TS_CHECK(src.numel() == numel(), "copy_: source of shape {} has {} elements, destination {} has {}",
           src.shape(), src.numel(), shape(), numel());
  TS_CHECK(!(requires_grad() && is_leaf() && grad_enabled()),
           "copy_: a leaf tensor that requires grad is being modified in place; wrap the update in "
           "a NoGradGuard");
  std::memmove(data(), src.data(), sizeof(scalar_t) * numel());
  return *this;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape());
  std::memcpy(out.data(), data(), sizeof(scalar_t) * numel());
  // d clone / dx = identity
  record(out, "clone", {this}, [](const Tensor& g, GradSink& sink) { sink.add(0, g); });
  return out;
}

Tensor Tensor::reshape(const Shape& s) const { return tessera::reshape(*this, s); }
Tensor Tensor::transpose(int d0, int d1) const { return tessera::transpose(*this, d0, d1); }
Tensor Tensor::permute(const std::vector<int>& dims) const { return tessera::permute(*this, dims); }
Tensor Tensor::unsqueeze(int d) const { return tessera::unsqueeze(*this, d); }
Tensor Tensor::squeeze(int d) const { return tessera::squeeze(*this, d); }
Tensor Tensor::expand(const Shape& s) const { return tessera::expand(*this, s); }
Tensor Tensor::narrow(int d, int64_t start, int64_t length) const {
  return tessera::narrow(*this, d, start, length);
}
Tensor Tensor::sum() const { return tessera::sum(*this); }
Tensor Tensor::sum(const std::vector<int>& dims, bool keepdim) const {
  return tessera::sum(*this, dims, keepdim);
}
Tensor Tensor::mean() const { return tessera::mean(*this); }
Tensor Tensor::mean(const std::vector<int>& dims, bool keepdim) const {
  return tessera::mean(*this, dims, keepdim);
}
Tensor Tensor::pow(scalar_t e) const { return tessera::pow(*this, e); }
Tensor Tensor::exp() const { return tessera::exp(*this); }
Tensor Tensor::log() const { return tessera::log(*this); }
Tensor Tensor::sqrt() const { return tessera::sqrt(*this); }
Tensor Tensor::abs() const { return tessera::abs(*this); }
Tensor Tensor::tanh() const { return tessera::tanh(*this); }
Tensor Tensor::sigmoid() const { return tessera::sigmoid(*this); }
Tensor Tensor::relu() const { return tessera::relu(*this); }
Tensor Tensor::matmul(const Tensor& o) const { return tessera::matmul(*this, o); }
Tensor Tensor::softmax(int d) const { return tessera::softmax(*this, d); }
Tensor Tensor::log_softmax(int d) const { return tessera::log_softmax(*this, d); }

// "tensor([[1.0000, 2.0000], [3.0000, 4.0000]], shape=[2, 2], grad_fn=mul)"
std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  constexpr int64_t kEdge = 3;  // elements shown at each end of a long dim
  std::string s = "tensor(";
  const Shape& sh = shape();
  const auto strides = contiguous_strides(sh);
  std::function<void(int, int64_t)> print = [&](int d, int64_t offset) {
    if (d == sh.rank()) {
      s += fmt::format("{:.4f}", static_cast<double>(data()[offset]));
      return;
    }
    s += "[";
    const int64_t n = sh[d];
    for (int64_t i = 0; i < n; ++i) {
      if (n > 2 * kEdge && i == kEdge) {
        s += "..., ";
        i = n - kEdge;
      }
      print(d + 1, offset + i * strides[d]);
      if (i + 1 < n) s += ", ";
    }
    s += "]";
  };
  print(0, 0);  // recursion depth is the rank (at most 8)
  s += fmt::format(", shape={}", sh);
  if (grad_fn()) s += fmt::format(", grad_fn={}", grad_fn()->name());
  else if (requires_grad()) s += ", requires_grad=true";
  return s + ")";
}

// ---- factories ----
Tensor empty(const Shape& shape) {
  check_sizes(shape, "empty");
  return Tensor(detail::make_small<TensorImpl>(detail::make_small<Storage>(shape.numel()), 0, shape));
}
Tensor full(const Shape& shape, scalar_t value) {
  Tensor t = empty(shape);
  std::fill(t.data(), t.data() + t.numel(), value);
  return t;
}
Tensor zeros(const Shape& shape) { return full(shape, 0); }
Tensor ones(const Shape& shape) { return full(shape, 1); }
Tensor scalar_tensor(scalar_t value) { return full(Shape{}, value); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape()); }

Tensor from_vector(const std::vector<scalar_t>& values, const Shape& shape) {
  TS_CHECK(static_cast<int64_t>(values.size()) == shape.numel(),
           "from_vector: {} values cannot fill shape {} ({} elements)", values.size(), shape,
           shape.numel());
  Tensor t = empty(shape);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}
Tensor from_vector(const std::vector<scalar_t>& values) {
  return from_vector(values, Shape{static_cast<int64_t>(values.size())});
}

Tensor arange(int64_t end) {
  Tensor t = empty({end});
  for (int64_t i = 0; i < end; ++i) t.data()[i] = static_cast<scalar_t>(i);
  return t;
}

Tensor randn(const Shape& shape, Generator* gen) {
  Tensor t = empty(shape);
  (gen ? *gen : default_generator()).fill_normal(t.data(), t.numel(), 0, 1);
  return t;
}
Tensor rand(const Shape& shape, Generator* gen) { return uniform(shape, 0, 1, gen); }
Tensor uniform(const Shape& shape, scalar_t low, scalar_t high, Generator* gen) {
  Tensor t = empty(shape);
  (gen ? *gen : default_generator()).fill_uniform(t.data(), t.numel(), low, high);
  return t;
}

// ---- IndexTensor ----
IndexTensor::IndexTensor(std::vector<int64_t> values, const Shape& shape) : shape_(shape) {
  TS_CHECK(static_cast<int64_t>(values.size()) == shape.numel(),
           "IndexTensor: {} values cannot fill shape {}", values.size(), shape);
  data_ = std::make_shared<std::vector<int64_t>>(std::move(values));
}
IndexTensor::IndexTensor(std::vector<int64_t> values)
    : IndexTensor(values, Shape{static_cast<int64_t>(values.size())}) {}
IndexTensor IndexTensor::reshape(const Shape& shape) const {
  TS_CHECK(shape.numel() == numel(), "IndexTensor::reshape: cannot view {} as {}", shape_, shape);
  IndexTensor out = *this;
  out.shape_ = shape;
  return out;
}

}  // namespace tessera
