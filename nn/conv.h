// tessera/nn/conv.h — 2-D convolution, like torch.nn.functional.conv2d and torch.nn.Conv2d.
//
// For x: [N, C, H, W] and weight: [O, C, KH, KW] (PyTorch's layouts, channels first):
//   y[n, o, p, q] = b[o] + Σ_{c, i, j} w[o, c, i, j] · x[n, c, p·sh − ph + i·dh, q·sw − pw + j·dw]
// with x read as 0 outside the image (zero padding), and output size
//   Hout = ⌊(H + 2 ph − dh (KH − 1) − 1) / sh⌋ + 1     (likewise Wout)
// (it is a cross-correlation, as in every framework: the kernel is not flipped).
//
// How it runs (docs/layers_cnn.md): im2col copies, for one image, every input value a kernel
// position sees into a column matrix col [C·KH·KW, Hout·Wout]; then the convolution is one
// matrix product  y_n = W col + b  with W viewed as [O, C·KH·KW], on OpenBLAS. The backward is two
// more products (dW += dy_n colᵀ, dcol = Wᵀ dy_n) and col2im, which adds dcol back onto the
// pixels it was copied from. Images run in parallel, one column buffer per thread, so a column
// matrix stays in cache; a 1×1 stride-1 unpadded convolution skips im2col (col is the image).
// A 3×3 stride-1 undilated convolution (the common case) with at least 16 input and output
// channels on a map of at least 4×4 (where it measured faster) runs Winograd's F(2×2, 3×3) instead:
// 16 multiplies per 2×2 outputs rather than 36, as 16 GEMMs per image; with stride 1 the input
// gradient is a convolution too (of dy with the flipped kernel) and runs the same way, and the
// weight gradient comes from the same transforms.
// conv2d_reference is the textbook loop above; the tests compare them.
#pragma once

#include <cstdint>
#include <string>

#include "nn/module.h"

namespace tessera::nn {

// A (height, width) pair, like PyTorch's int-or-tuple arguments: 3 means (3, 3), {2, 1} means
// height 2, width 1.
struct Size2d {
  int64_t h, w;
  Size2d(int64_t both) : h(both), w(both) {}  // NOLINT: implicit, as PyTorch accepts an int
  Size2d(int64_t height, int64_t width) : h(height), w(width) {}
  friend bool operator==(const Size2d&, const Size2d&) = default;
  std::string str() const { return fmt::format("({}, {})", h, w); }  // "(3, 3)", as PyTorch prints it
};

// x [N, C, H, W], weight [O, C, KH, KW], bias [O] or undefined -> [N, O, Hout, Wout].
// groups must be 1 (grouped and depthwise convolutions are not implemented).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Size2d stride = 1,
              Size2d padding = 0, Size2d dilation = 1, int64_t groups = 1);

// The same convolution as seven plain loops over the definition above (forward and backward, in
// double accumulators): slow, obviously right, for the tests.
Tensor conv2d_reference(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Size2d stride = 1,
                        Size2d padding = 0, Size2d dilation = 1);

struct Conv2dOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  Size2d kernel_size = 1;
  Size2d stride = 1;
  Size2d padding = 0;
  Size2d dilation = 1;
  int64_t groups = 1;  // only 1
  bool bias = true;
};

// Parameters as torch.nn.Conv2d: weight [O, C, KH, KW], bias [O]; PyTorch's default init,
// kaiming_uniform_(a = √5) for the weight (= U(−1/√fan_in, 1/√fan_in)) and U(−1/√fan_in, 1/√fan_in)
// for the bias, fan_in = C·KH·KW.
class Conv2d : public UnaryModule {
 public:
  explicit Conv2d(const Conv2dOptions& options);
  Conv2d(int64_t in_channels, int64_t out_channels, Size2d kernel_size, Size2d stride = 1, Size2d padding = 0,
         Size2d dilation = 1, bool bias = true);
  Tensor forward(const Tensor& x) override;

  Conv2dOptions options;
  Tensor weight;  // [out_channels, in_channels, KH, KW]
  Tensor bias;    // [out_channels], or undefined

 protected:
  std::string extra_repr() const override;
};

}  // namespace tessera::nn
