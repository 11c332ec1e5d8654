// tessera/engine/ops_linalg.cpp — matmul, forward and backward, on BLAS through engine/blas.h.
#include <algorithm>

#include "engine/autograd.h"
#include "engine/blas.h"
#include "engine/ops.h"
#include "engine/parallel.h"

namespace tessera {

namespace {

// The core: a and b of rank ≥ 2. op(A) = A or Aᵀ over the last two dims, likewise op(B).
//   op(A): [..., m, k]   op(B): [..., k, n]   out: [broadcast(...), m, n]
Tensor matmul_nd(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const int ra = sa.rank(), rb = sb.rank();
  const int64_t m = ta ? sa[ra - 1] : sa[ra - 2], k = ta ? sa[ra - 2] : sa[ra - 1];
  const int64_t kb = tb ? sb[rb - 1] : sb[rb - 2], n = tb ? sb[rb - 2] : sb[rb - 1];
  TS_CHECK(k == kb, "matmul: cannot multiply {}{} by {}{}: inner sizes {} and {} differ", sa,
           ta ? " (transposed)" : "", sb, tb ? " (transposed)" : "", k, kb);

  // batch dims broadcast like elementwise ops
  Shape batch_a, batch_b;
  for (int i = 0; i < ra - 2; ++i) batch_a.push_back(sa[i]);
  for (int i = 0; i < rb - 2; ++i) batch_b.push_back(sb[i]);
  const Shape batch = broadcast_shapes(batch_a, batch_b, "matmul (batch dims)");
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = empty(out_shape);
  const int64_t batches = batch.numel();
  const int64_t lda = sa[ra - 1], ldb = sb[rb - 1];

  if (batch_b.numel() == 1 && !ta && batches > 1 && batch_a == batch) {
    // [..., m, k] @ [k, n]: fold the batch into the rows, one big GEMM (the Linear-layer case)
    gemm(false, tb, batches * m, n, k, 1, a.data(), lda, b.data(), ldb, 0, out.data(), n);
  } else {
    // offsets of each batch's matrix in a and b (0 stride on broadcast batch dims)
    std::vector<int64_t> offset_a(batches), offset_b(batches);
    const int rank = batch.rank();
    for (int64_t t = 0; t < batches; ++t) {
      int64_t rem = t, oa = 0, ob = 0, stride_a = m * k, stride_b = k * n;
      for (int d = rank - 1; d >= 0; --d) {
        const int64_t idx = rem % batch[d];
        rem /= batch[d];
        const int da = d - (rank - batch_a.rank()), db = d - (rank - batch_b.rank());
        const int64_t size_a = da >= 0 ? batch_a[da] : 1, size_b = db >= 0 ? batch_b[db] : 1;
        if (size_a != 1) oa += idx * stride_a;
        if (size_b != 1) ob += idx * stride_b;
        stride_a *= size_a;
        stride_b *= size_b;
      }
      offset_a[t] = oa;
      offset_b[t] = ob;
    }
    const scalar_t* pa = a.data();
    const scalar_t* pb = b.data();
    scalar_t* po = out.data();
    auto one = [&](int64_t t) {
      gemm(ta, tb, m, n, k, 1, pa + offset_a[t], lda, pb + offset_b[t], ldb, 0, po + t * m * n, n);
    };
    // Small matrices: one GEMM per thread at a time (BLAS runs single-threaded inside a parallel
    // region). Large ones: one after another, each using every thread.
    // Tiny ones (below ~128K multiply-adds per thread) stay on one thread: waking a second
    // costs more than it saves.
    if (batches > 1 && m * n * k < (int64_t{1} << 21)) {
      const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 17) / std::max<int64_t>(1, m * n * k));
      parallel_for(batches, grain, [&](int64_t b0, int64_t b1) {
        for (int64_t t = b0; t < b1; ++t) one(t);
      });
    } else {
      for (int64_t t = 0; t < batches; ++t) one(t);
    }
  }

  // Backward, with G = dL/d(out):
  //   out = op(A) op(B)  ⇒  dL/dop(A) = G op(B)ᵀ,  dL/dop(B) = op(A)ᵀ G
  //   so dL/dA = G op(B)ᵀ           (or, if A was transposed, op(B) Gᵀ)
  //      dL/dB = op(A)ᵀ G           (or, if B was transposed, Gᵀ op(A))
  // expressed as matmuls with transpose flags, so nothing is copied. Broadcast batch dims are
  // summed back by the sink.
  record(out, "matmul", {&a, &b}, [a = a.detach(), b = b.detach(), ta, tb](const Tensor& g, GradSink& sink) {
    if (sink.needs(0)) sink.add(0, ta ? matmul_nd(b, g, tb, true) : matmul_nd(g, b, false, !tb));
    if (sink.needs(1)) {
      if (b.dim() == 2 && a.dim() > 2 && !ta) {
        // weight shared over a batch: fold the batch into one GEMM over all rows
        const int64_t rows = a.numel() / a.shape()[a.dim() - 1];
        const Tensor a2 = reshape(a, Shape{rows, a.shape()[a.dim() - 1]});
        const Tensor g2 = reshape(g, Shape{rows, g.shape()[g.dim() - 1]});
        sink.add(1, tb ? matmul_nd(g2, a2, true, false) : matmul_nd(a2, g2, true, false));
      } else {
        sink.add(1, tb ? matmul_nd(g, a, true, ta) : matmul_nd(a, g, !ta, false));
      }
    }
  });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  TS_CHECK(a.dim() >= 1 && b.dim() >= 1,
           "matmul: both arguments need at least one dim, got shapes {} and {}", a.shape(), b.shape());
  if (a.dim() == 1 && b.dim() == 1) {
    TS_CHECK(a.numel() == b.numel(), "matmul: cannot take the dot product of {} and {}: sizes {} and {} differ",
             a.shape(), b.shape(), a.numel(), b.numel());
    return reshape(matmul_nd(reshape(a, Shape{1, a.numel()}), reshape(b, Shape{b.numel(), 1}), false, false),
                   Shape{});
  }
  // A 1-D operand is a row (left) or column (right) vector whose extra dim is removed afterwards.
  if (a.dim() == 1) return squeeze(matmul_nd(unsqueeze(a, 0), b, false, transpose_b), -2);
  if (b.dim() == 1) return squeeze(matmul_nd(a, unsqueeze(b, -1), transpose_a, false), -1);
  return matmul_nd(a, b, transpose_a, transpose_b);
}

}  // namespace tessera
