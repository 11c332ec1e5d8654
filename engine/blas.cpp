// tessera/engine/blas.cpp — the one file that calls BLAS.
#include "engine/blas.h"

#include <cblas.h>

namespace tessera {

void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, scalar_t alpha,
          const scalar_t* a, int64_t lda, const scalar_t* b, int64_t ldb, scalar_t beta,
          scalar_t* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // empty inner dim: C = beta * C (BLAS may not touch C at all here)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
    return;
  }
#ifdef TESSERA_DOUBLE
  cblas_dgemm(
#else
  cblas_sgemm(
#endif
      CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans,
      static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
      static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

void gemm_reference(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
                    scalar_t alpha, const scalar_t* a, int64_t lda, const scalar_t* b, int64_t ldb,
                    scalar_t beta, scalar_t* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;  // C[i][j] = Σ_p op(A)[i][p] · op(B)[p][j]
      for (int64_t p = 0; p < k; ++p) {
        const double av = transpose_a ? a[p * lda + i] : a[i * lda + p];
        const double bv = transpose_b ? b[j * ldb + p] : b[p * ldb + j];
        acc += av * bv;
      }
      c[i * ldc + j] = static_cast<scalar_t>(alpha * acc + (beta == 0 ? 0.0 : beta * c[i * ldc + j]));
    }
  }
}

}  // namespace tessera
