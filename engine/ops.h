// tessera/engine/ops.h — the functional op set, named and behaving like PyTorch's.
//
// Every op here is differentiable unless it says otherwise: it computes its result and, when
// an input requires grad, records a backward lambda next to its forward code (autograd.h).
// Where each op lives:
//   ops_elementwise.cpp  add sub mul div neg pow exp log sqrt abs clamp tanh sigmoid relu gelu
//                        where masked_fill (binary ops broadcast like NumPy)
//   ops_reduce.cpp       sum mean max var
//   ops_linalg.cpp       matmul (cblas through engine/blas.h)
//   ops_shape.cpp        reshape transpose permute unsqueeze squeeze expand cat stack split chunk
//                        narrow index_select gather
//   ops_softmax.cpp      softmax log_softmax (optionally masked)
// Dims may be negative (-1 = last). Shapes are checked and a bad one throws tessera::Error with
// the op, the shapes and the fix.
#pragma once

#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace tessera {

// ---------------- elementwise (broadcasting) ----------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, scalar_t b);
Tensor mul(const Tensor& a, scalar_t b);
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, scalar_t exponent);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor clamp(const Tensor& a, scalar_t min, scalar_t max);
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor relu(const Tensor& a);
// GELU with the exact erf form, like torch.nn.functional.gelu(approximate='none').
Tensor gelu(const Tensor& a);
// condition ? a : b, elementwise, all three broadcast together. condition counts as true where
// it is non-zero; it is not differentiated.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
// a with value written where mask is non-zero (mask broadcasts to a's shape).
Tensor masked_fill(const Tensor& a, const Tensor& mask, scalar_t value);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, scalar_t b);
Tensor operator+(scalar_t a, const Tensor& b);
Tensor operator-(const Tensor& a, scalar_t b);
Tensor operator-(scalar_t a, const Tensor& b);
Tensor operator*(const Tensor& a, scalar_t b);
Tensor operator*(scalar_t a, const Tensor& b);
Tensor operator/(const Tensor& a, scalar_t b);
Tensor operator/(scalar_t a, const Tensor& b);

// ---------------- reductions ----------------
Tensor sum(const Tensor& a);  // over all elements: a rank-0 tensor
Tensor sum(const Tensor& a, const std::vector<int>& dims, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const std::vector<int>& dims, bool keepdim = false);
// Variance; correction = 1 is the unbiased (Bessel) estimate, torch.var's default.
// dims = {} means every dim, as for sum. (There is deliberately no var(a, int) overload: in
// PyTorch var(x, 1) means dim 1, so an int here would be read two ways.)
Tensor var(const Tensor& a, const std::vector<int>& dims = {}, bool keepdim = false, int correction = 1);
// Maximum over one dim: values (differentiable; the gradient goes to the first maximal entry)
// and their positions.
struct MaxResult {
  Tensor values;
  IndexTensor indices;
};
MaxResult max(const Tensor& a, int dim, bool keepdim = false);
Tensor max(const Tensor& a);  // over all elements
// Sum of broadcast dims so that `a` takes the given shape (the backward of broadcasting).
Tensor sum_to(const Tensor& a, const Shape& shape);

// ---------------- linear algebra ----------------
// Like torch.matmul: 1-D @ 1-D is a dot product, 2-D @ 2-D a matrix product, and batched
// products broadcast their batch dims ([B, 1, n, k] @ [H, k, m] -> [B, H, n, m]).
// transpose_a / transpose_b multiply by the transpose of the last two dims of a / b without
// copying (the flags go to BLAS): matmul(q, k, false, true) is q @ kᵀ.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);

// ---------------- shape ----------------
Tensor reshape(const Tensor& a, const Shape& shape);  // one size may be -1 (inferred)
Tensor transpose(const Tensor& a, int dim0, int dim1);
Tensor permute(const Tensor& a, const std::vector<int>& dims);
Tensor unsqueeze(const Tensor& a, int dim);
Tensor squeeze(const Tensor& a, int dim);
Tensor squeeze(const Tensor& a);  // every size-1 dim
Tensor expand(const Tensor& a, const Shape& shape);  // broadcast to shape (materialised); -1 keeps a size
Tensor cat(const std::vector<Tensor>& tensors, int dim);
Tensor stack(const std::vector<Tensor>& tensors, int dim);
std::vector<Tensor> split(const Tensor& a, int64_t split_size, int dim = 0);
std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int dim = 0);
std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int dim = 0);
Tensor narrow(const Tensor& a, int dim, int64_t start, int64_t length);
// Rows of `a` along dim picked by `index` (any shape): the result's dim is replaced by
// index's shape. index_select(weight, 0, ids) is an embedding lookup; its backward scatters
// (adds) the gradient rows back, so a repeated id gets the sum.
Tensor index_select(const Tensor& a, int dim, const IndexTensor& index);
// out[i][j] = a[i][index[i][j]] along dim (torch.gather); index has a's rank.
Tensor gather(const Tensor& a, int dim, const IndexTensor& index);

// ---------------- softmax ----------------
// Numerically stable: exp(x - max) / sum. With a mask (broadcast to x; non-zero = keep), masked
// entries get probability 0; a row whose every entry is masked gives all zeros, not NaN (a fully
// padded query attends to nothing; see docs/design.md).
Tensor softmax(const Tensor& x, int dim);
Tensor softmax(const Tensor& x, int dim, const Tensor& mask);
Tensor log_softmax(const Tensor& x, int dim);
// Masked entries (and fully masked rows) get -inf, as log(0).
Tensor log_softmax(const Tensor& x, int dim, const Tensor& mask);

}  // namespace tessera
