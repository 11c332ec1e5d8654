// tessera/nn/pooling.h — pooling over H and W of [N, C, H, W] maps, and Flatten; like
// torch.nn.MaxPool2d, AvgPool2d, AdaptiveAvgPool2d and Flatten.
//
// Every pool reduces a window of each channel plane to one value. Along one axis of size S, the
// window of output i is
//   sliding (max, avg):  [i·s − p, i·s − p + k) ∩ [0, S),   Sout = ⌊(S + 2p − k) / s⌋ + 1
//   adaptive:            [⌊i·S / Sout⌋, ⌈(i + 1)·S / Sout⌉)     (PyTorch's bins: they may overlap)
// and the 2-D window is the product of the row and column windows.
//   max:      y = max over the window (padding never wins); backward sends dy to the argmax, the
//             first one in row-major order on ties, as PyTorch
//   avg:      y = Σ window / d, d = k_h·k_w (count_include_pad, PyTorch's default: padding counts
//             as zeros) or the number of pixels inside the image; backward spreads dy / d
//   adaptive: y = mean of the bin; backward spreads dy / (bin area)
// As PyTorch, padding may be at most half the kernel (so no window lies wholly in the padding).
// Not implemented: ceil_mode, max pool dilation and return_indices, divisor_override.
#pragma once

#include <optional>

#include "nn/conv.h"
#include "nn/module.h"

namespace tessera::nn {

// x [N, C, H, W] -> [N, C, Hout, Wout]. stride defaults to kernel_size (non-overlapping windows).
Tensor max_pool2d(const Tensor& x, Size2d kernel_size, std::optional<Size2d> stride = std::nullopt,
                  Size2d padding = 0);
Tensor avg_pool2d(const Tensor& x, Size2d kernel_size, std::optional<Size2d> stride = std::nullopt,
                  Size2d padding = 0, bool count_include_pad = true);
// x [N, C, H, W] -> [N, C, output_size.h, output_size.w]; (1, 1) is global average pooling.
Tensor adaptive_avg_pool2d(const Tensor& x, Size2d output_size);

class MaxPool2d : public UnaryModule {
 public:
  explicit MaxPool2d(Size2d kernel_size, std::optional<Size2d> stride = std::nullopt, Size2d padding = 0);
  Tensor forward(const Tensor& x) override { return max_pool2d(x, kernel_size, stride, padding); }
  Size2d kernel_size, stride, padding;

 protected:
  std::string extra_repr() const override;
};

class AvgPool2d : public UnaryModule {
 public:
  explicit AvgPool2d(Size2d kernel_size, std::optional<Size2d> stride = std::nullopt, Size2d padding = 0,
                     bool count_include_pad = true);
  Tensor forward(const Tensor& x) override {
    return avg_pool2d(x, kernel_size, stride, padding, count_include_pad);
  }
  Size2d kernel_size, stride, padding;
  bool count_include_pad;

 protected:
  std::string extra_repr() const override;
};

class AdaptiveAvgPool2d : public UnaryModule {
 public:
  explicit AdaptiveAvgPool2d(Size2d output_size);
  Tensor forward(const Tensor& x) override { return adaptive_avg_pool2d(x, output_size); }
  Size2d output_size;

 protected:
  std::string extra_repr() const override;
};

// Flattens dims start_dim..end_dim into one: [N, C, H, W] -> [N, C·H·W] by default. A view (no copy).
class Flatten : public UnaryModule {
 public:
  explicit Flatten(int start_dim = 1, int end_dim = -1);
  Tensor forward(const Tensor& x) override;
  int start_dim, end_dim;

 protected:
  std::string extra_repr() const override;
};

}  // namespace tessera::nn
