#include "nn/pooling.h"

#include <cmath>
#include <limits>
#include <vector>

namespace tessera::nn {

namespace {

// The windows of one axis: output i reads input [begin[i], end[i]) (clipped to the image), and
// count[i] is its factor in an average's divisor.
struct Windows {
  std::vector<int64_t> begin, end, count;
  int64_t size() const { return static_cast<int64_t>(begin.size()); }
};

// Sliding windows [i·s − p, i·s − p + k) ∩ [0, size), i < ⌊(size + 2p − k) / s⌋ + 1. count is k
// (padding counts, PyTorch's count_include_pad) or the clipped length.
Windows sliding_windows(int64_t size, int64_t kernel, int64_t stride, int64_t padding, bool count_padding) {
  Windows w;
  const int64_t out = (size + 2 * padding - kernel) / stride + 1;
  for (int64_t i = 0; i < out; ++i) {
    const int64_t begin = std::max<int64_t>(0, i * stride - padding);
    const int64_t end = std::min(size, i * stride - padding + kernel);
    w.begin.push_back(begin);
    w.end.push_back(end);
    w.count.push_back(count_padding ? kernel : end - begin);
  }
  return w;
}

// PyTorch's adaptive bins: [⌊i·size / out⌋, ⌈(i + 1)·size / out⌉).
Windows adaptive_windows(int64_t size, int64_t out) {
  Windows w;
  for (int64_t i = 0; i < out; ++i) {
    const int64_t begin = i * size / out, end = ((i + 1) * size + out - 1) / out;
    w.begin.push_back(begin);
    w.end.push_back(end);
    w.count.push_back(end - begin);
  }
  return w;
}

void check_input(const char* op, const Tensor& x) {
  TS_CHECK(x.dim() == 4, "{}: expected input [N, C, H, W], got {}", op, x.shape());
}

// Checks a sliding pool's settings against the input, as PyTorch does.
void check_sliding(const char* op, const Tensor& x, Size2d kernel, Size2d stride, Size2d padding) {
  check_input(op, x);
  TS_CHECK(kernel.h >= 1 && kernel.w >= 1, "{}: kernel_size {} must be positive", op, kernel.str());
  TS_CHECK(stride.h >= 1 && stride.w >= 1, "{}: stride {} must be positive", op, stride.str());
  TS_CHECK(padding.h >= 0 && padding.w >= 0 && 2 * padding.h <= kernel.h && 2 * padding.w <= kernel.w,
           "{}: padding {} must be between 0 and half the kernel_size {}", op, padding.str(), kernel.str());
  const int64_t h = x.shape()[2] + 2 * padding.h, w = x.shape()[3] + 2 * padding.w;
  TS_CHECK(kernel.h <= h && kernel.w <= w, "{}: kernel {}×{} is larger than the padded input {}×{} (input {}, padding {})",
           op, kernel.h, kernel.w, h, w, x.shape(), padding.str());
}

// Calls visit(o, plane_offset, p, q) for every output o = (plane·OH + p)·OW + q, in parallel over
// the N·C channel planes; plane_offset is where the output's input plane starts.
template <class F>
void for_each_window(const Shape& in_shape, const Windows& rows, const Windows& cols, F&& visit) {
  const int64_t planes = in_shape[0] * in_shape[1], plane_size = in_shape[2] * in_shape[3];
  const int64_t oh = rows.size(), ow = cols.size();
  parallel_for(planes, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, plane_size)),
               [&](int64_t b, int64_t e) {
                 for (int64_t n = b; n < e; ++n)
                   for (int64_t p = 0; p < oh; ++p)
                     for (int64_t q = 0; q < ow; ++q) visit((n * oh + p) * ow + q, n * plane_size, p, q);
               });
}

// Calls f(ih·W + iw) for every pixel of window (rows[p], cols[q]), in row-major order.
template <class F>
void for_each_pixel(const Windows& rows, const Windows& cols, int64_t p, int64_t q, int64_t w, F&& f) {
  for (int64_t ih = rows.begin[p]; ih < rows.end[p]; ++ih)
    for (int64_t iw = cols.begin[q]; iw < cols.end[q]; ++iw) f(ih * w + iw);
}

// y[plane, p, q] = Σ over window (rows[p], cols[q]) of x / d,  d = rows.count[p] · cols.count[q]
Tensor average_windows(const char* name, const Tensor& x, Windows rows, Windows cols) {
  const int64_t w = x.shape()[3];
  Tensor out = empty({x.shape()[0], x.shape()[1], rows.size(), cols.size()});
  const scalar_t* xs = x.data();
  scalar_t* ys = out.data();
  for_each_window(x.shape(), rows, cols, [&](int64_t o, int64_t plane, int64_t p, int64_t q) {
    scalar_t s = 0;
    for_each_pixel(rows, cols, p, q, w, [&](int64_t i) { s += xs[plane + i]; });
    ys[o] = s / static_cast<scalar_t>(rows.count[p] * cols.count[q]);
  });
  // Backward: y = Σ_window x / d  ⇒  dx[pixel] += dy / d for every window holding the pixel
  record(out, name, {&x}, [rows = std::move(rows), cols = std::move(cols), shape = x.shape()](const Tensor& g,
                                                                                               GradSink& sink) {
    Tensor dx = zeros(shape);
    const scalar_t* gs = g.data();
    scalar_t* d = dx.data();
    for_each_window(shape, rows, cols, [&](int64_t o, int64_t plane, int64_t p, int64_t q) {
      const scalar_t share = gs[o] / static_cast<scalar_t>(rows.count[p] * cols.count[q]);
      for_each_pixel(rows, cols, p, q, shape[3], [&](int64_t i) { d[plane + i] += share; });
    });
    sink.add(0, dx);
  });
  return out;
}

}  // namespace

// y[n, c, p, q] = max over the window; the argmax (first in row-major order on ties, NaN wins, as
// PyTorch) is kept for the backward.
Tensor max_pool2d(const Tensor& x, Size2d kernel_size, std::optional<Size2d> stride_or_kernel, Size2d padding) {
  const Size2d stride = stride_or_kernel.value_or(kernel_size);
  check_sliding("max_pool2d", x, kernel_size, stride, padding);
  const Windows rows = sliding_windows(x.shape()[2], kernel_size.h, stride.h, padding.h, true);
  const Windows cols = sliding_windows(x.shape()[3], kernel_size.w, stride.w, padding.w, true);
  const Shape out_shape{x.shape()[0], x.shape()[1], rows.size(), cols.size()};
  Tensor out = empty(out_shape);
  IndexTensor argmax(std::vector<int64_t>(out_shape.numel()), out_shape);  // within the plane: ih·W + iw
  const scalar_t* xs = x.data();
  scalar_t* ys = out.data();
  int64_t* am = argmax.data();
  for_each_window(x.shape(), rows, cols, [&](int64_t o, int64_t plane, int64_t p, int64_t q) {
    scalar_t best = -std::numeric_limits<scalar_t>::infinity();
    int64_t best_index = rows.begin[p] * x.shape()[3] + cols.begin[q];
    for_each_pixel(rows, cols, p, q, x.shape()[3], [&](int64_t i) {
      if (xs[plane + i] > best || std::isnan(xs[plane + i])) {
        best = xs[plane + i];
        best_index = i;
      }
    });
    ys[o] = best;
    am[o] = best_index;
  });
  // Backward: y = x[argmax]  ⇒  dx[argmax] += dy (overlapping windows may share an argmax)
  record(out, "max_pool2d", {&x}, [argmax, shape = x.shape()](const Tensor& g, GradSink& sink) {
    const int64_t planes = shape[0] * shape[1], plane_size = shape[2] * shape[3];
    const int64_t outputs = g.numel() / std::max<int64_t>(1, planes);  // per plane
    Tensor dx = zeros(shape);
    const scalar_t* gs = g.data();
    const int64_t* am = argmax.data();
    scalar_t* d = dx.data();
    parallel_for(planes, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, plane_size)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t o = b * outputs; o < e * outputs; ++o) d[o / outputs * plane_size + am[o]] += gs[o];
                 });
    sink.add(0, dx);
  });
  return out;
}

Tensor avg_pool2d(const Tensor& x, Size2d kernel_size, std::optional<Size2d> stride_or_kernel, Size2d padding,
                  bool count_include_pad) {
  const Size2d stride = stride_or_kernel.value_or(kernel_size);
  check_sliding("avg_pool2d", x, kernel_size, stride, padding);
  return average_windows("avg_pool2d", x,
                         sliding_windows(x.shape()[2], kernel_size.h, stride.h, padding.h, count_include_pad),
                         sliding_windows(x.shape()[3], kernel_size.w, stride.w, padding.w, count_include_pad));
}

Tensor adaptive_avg_pool2d(const Tensor& x, Size2d output_size) {
  check_input("adaptive_avg_pool2d", x);
  TS_CHECK(output_size.h >= 1 && output_size.w >= 1, "adaptive_avg_pool2d: output_size {} must be positive",
           output_size.str());
  TS_CHECK(x.shape()[2] >= 1 && x.shape()[3] >= 1, "adaptive_avg_pool2d: input {} has an empty image", x.shape());
  return average_windows("adaptive_avg_pool2d", x, adaptive_windows(x.shape()[2], output_size.h),
                         adaptive_windows(x.shape()[3], output_size.w));
}

// ---------------- modules ----------------

MaxPool2d::MaxPool2d(Size2d kernel, std::optional<Size2d> stride_, Size2d padding_)
    : UnaryModule("MaxPool2d"), kernel_size(kernel), stride(stride_.value_or(kernel)), padding(padding_) {}

std::string MaxPool2d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}", kernel_size.str(), stride.str(), padding.str());
}

AvgPool2d::AvgPool2d(Size2d kernel, std::optional<Size2d> stride_, Size2d padding_, bool include_pad)
    : UnaryModule("AvgPool2d"),
      kernel_size(kernel),
      stride(stride_.value_or(kernel)),
      padding(padding_),
      count_include_pad(include_pad) {}

std::string AvgPool2d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}, count_include_pad={}", kernel_size.str(), stride.str(),
                     padding.str(), count_include_pad);
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Size2d output) : UnaryModule("AdaptiveAvgPool2d"), output_size(output) {}

std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + output_size.str(); }

Flatten::Flatten(int start, int end) : UnaryModule("Flatten"), start_dim(start), end_dim(end) {}

Tensor Flatten::forward(const Tensor& x) {
  const int start = normalize_dim(start_dim, x.dim(), "Flatten"), end = normalize_dim(end_dim, x.dim(), "Flatten");
  TS_CHECK(start <= end, "Flatten: start_dim {} comes after end_dim {} for input {}", start_dim, end_dim, x.shape());
  Shape shape;
  int64_t merged = 1;
  for (int d = 0; d < x.dim(); ++d) {
    if (d < start || d > end) {
      shape.push_back(x.shape()[d]);
    } else {
      merged *= x.shape()[d];
      if (d == end) shape.push_back(merged);
    }
  }
  if (x.dim() == 0) shape.push_back(1);  // a scalar flattens to [1], as torch.flatten
  return reshape(x, shape);
}

std::string Flatten::extra_repr() const { return fmt::format("start_dim={}, end_dim={}", start_dim, end_dim); }

}  // namespace tessera::nn
