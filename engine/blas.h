// tessera/engine/blas.h — the only door to BLAS. Nothing else in tessera calls cblas_*.
//
// gemm computes C = alpha * op(A) op(B) + beta * C for row-major matrices, with op(X) = X or Xᵀ:
//   op(A) is [m, k], op(B) is [k, n], C is [m, n]. A is stored [m, k] (or [k, m] when
//   transposed), B likewise. Leading dimensions are those of the stored (row-major) matrices.
// gemm_reference is the textbook triple loop the tests compare against.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace tessera {

void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, scalar_t alpha,
          const scalar_t* a, int64_t lda, const scalar_t* b, int64_t ldb, scalar_t beta,
          scalar_t* c, int64_t ldc);

void gemm_reference(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
                    scalar_t alpha, const scalar_t* a, int64_t lda, const scalar_t* b, int64_t ldb,
                    scalar_t beta, scalar_t* c, int64_t ldc);

}  // namespace tessera
