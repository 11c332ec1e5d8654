// tessera/engine/blas.cpp — the one file that calls BLAS.
//
// BLAS itself runs single-threaded (gemm tells OpenBLAS so on first use); a product big enough to be
// worth two threads is cut here into blocks of C — rows of C, or columns when C has few rows —
// and the blocks go to the engine's pool. The cut depends only on the shapes (never on the number
// of threads), so the result is the same at any thread count; with OpenBLAS's AVX2 kernels a cut
// by rows even gives exactly the bits of the uncut product (columns and the AVX-512 kernels need
// not: their edge tiles add in another order). Each block packs its own copy of the shared
// operand, so blocks are kept large: at least kMinBlock rows and kBlockFlops of work.
#include "engine/blas.h"

#include <cblas.h>

#include <algorithm>

#include "engine/parallel.h"

namespace tessera {

namespace {

constexpr double kSplitFlops = 4e6;   // below this a product runs in one piece (~20-40 us)
constexpr double kBlockFlops = 2e6;   // a block does at least this much
constexpr int64_t kMinBlock = 32;     // rows (or columns) per block, a multiple of the kernels' tiles
constexpr int64_t kMaxBlocks = 8;

// How to cut a dim of `size` when each unit of it costs `unit_flops`: the block length (the whole
// dim when it should not be cut).
int64_t block_length(int64_t size, double unit_flops) {
  if (size * unit_flops < kSplitFlops) return size;  // (never the thread count: see the top)
  int64_t len = std::max<int64_t>(kMinBlock, (size + kMaxBlocks - 1) / kMaxBlocks);
  len = std::max<int64_t>(len, static_cast<int64_t>(kBlockFlops / std::max(unit_flops, 1.0)));
  len = (len + 15) / 16 * 16;
  return len >= size ? size : len;
}

// One call to BLAS: C = alpha op(A) op(B) + beta C.
void blas_gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, scalar_t alpha,
               const scalar_t* a, int64_t lda, const scalar_t* b, int64_t ldb, scalar_t beta,
               scalar_t* c, int64_t ldc) {
#ifdef TESSERA_DOUBLE
  cblas_dgemm(
#else
  cblas_sgemm(
#endif
      CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans,
      static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
      static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

// One call to BLAS: y = alpha op(M) x + beta y, M stored [rows, cols] row-major.
void blas_gemv(bool transposed, int64_t rows, int64_t cols, scalar_t alpha, const scalar_t* matrix, int64_t ld,
               const scalar_t* x, int64_t incx, scalar_t beta, scalar_t* y, int64_t incy) {
#ifdef TESSERA_DOUBLE
  cblas_dgemv(
#else
  cblas_sgemv(
#endif
      CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, static_cast<int>(rows), static_cast<int>(cols), alpha,
      matrix, static_cast<int>(ld), x, static_cast<int>(incx), beta, y, static_cast<int>(incy));
}

}  // namespace

void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, scalar_t alpha,
          const scalar_t* a, int64_t lda, const scalar_t* b, int64_t ldb, scalar_t beta,
          scalar_t* c, int64_t ldc) {
  // OpenBLAS stays single-threaded, even for a product made before anything started the pool:
  // threads are the pool's (engine/parallel.h), and OpenBLAS's own split would change the bits.
  static const bool single_threaded = (openblas_set_num_threads(1), true);
  (void)single_threaded;
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
    // Cut over the outputs: y's entries are M's rows, or its columns when transposed.
    const int64_t outputs = transposed ? cols : rows, inner = transposed ? rows : cols;
    const int64_t len = block_length(outputs, 2.0 * static_cast<double>(inner));
    parallel_for((outputs + len - 1) / len, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t o0 = blk * len, count = std::min(outputs, o0 + len) - o0;
        const scalar_t* sub = transposed ? matrix + o0 : matrix + o0 * ld;
        blas_gemv(transposed, transposed ? rows : count, transposed ? count : cols, alpha, sub, ld, x, incx, beta,
                  c + o0 * incy, incy);
      }
    });
    return;
  }
  // Rows of C, unless C has fewer rows than columns and too few rows to cut.
  const bool by_rows = m >= n || m >= 2 * kMinBlock;
  const int64_t size = by_rows ? m : n;
  const int64_t len = block_length(size, 2.0 * static_cast<double>(by_rows ? n : m) * static_cast<double>(k));
  parallel_for((size + len - 1) / len, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t s0 = blk * len, count = std::min(size, s0 + len) - s0;
      if (by_rows)  // rows s0.. of C = rows s0.. of op(A) times op(B)
        blas_gemm(transpose_a, transpose_b, count, n, k, alpha, transpose_a ? a + s0 : a + s0 * lda, lda, b, ldb,
                  beta, c + s0 * ldc, ldc);
      else  // columns s0.. of C = op(A) times columns s0.. of op(B)
        blas_gemm(transpose_a, transpose_b, m, count, k, alpha, a, lda, transpose_b ? b + s0 * ldb : b + s0, ldb,
                  beta, c + s0, ldc);
    }
  });
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
