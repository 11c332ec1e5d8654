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
  if (m == 1 || n == 1) {
    // A matrix-vector product. GEMM would pack the whole matrix operand into its blocked layout
    // first, which for one row (a decoding step through the output projection) costs more than
    // the product itself; GEMV streams the matrix once. C is cleared first when beta = 0, so a
    // stale buffer is never read (BLAS may compute beta·C, and 0·NaN = NaN).
    if (beta == 0)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = 0;
    // the matrix operand M, stored row-major with leading dim ld, and whether y = Mᵀ x
    const scalar_t *matrix, *x;
    int64_t rows, cols, ld, incx, incy;
    bool transposed;
    if (m == 1) {  // c[0, :] = op(A)[0, :] · op(B): y = op(B)ᵀ x with x the row of op(A)
      x = a, incx = transpose_a ? lda : 1;
      matrix = b, ld = ldb, incy = 1;
      transposed = !transpose_b;  // B is [k, n]: y = Bᵀ x;  B stored [n, k]: y = B x
      rows = transpose_b ? n : k, cols = transpose_b ? k : n;
    } else {  // c[:, 0] = op(A) · op(B)[:, 0]: y = op(A) x with x the column of op(B)
      x = b, incx = transpose_b ? 1 : ldb;
      matrix = a, ld = lda, incy = ldc;
      transposed = transpose_a;  // A stored [k, m]: y = Aᵀ x
      rows = transpose_a ? k : m, cols = transpose_a ? m : k;
    }
#ifdef TESSERA_DOUBLE
    cblas_dgemv(
#else
    cblas_sgemv(
#endif
        CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, static_cast<int>(rows), static_cast<int>(cols), alpha,
        matrix, static_cast<int>(ld), x, static_cast<int>(incx), beta, c, static_cast<int>(incy));
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
