// tests/test_blas.cpp — the BLAS wrapper against the textbook triple loop.
#include <cmath>
#include <limits>
#include <utility>

#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

// Every transpose combination, beta 2 and beta 0 (with C poisoned by NaN, which must not leak),
// leading dims wider than the matrices, and the one-row / one-column shapes that go to GEMV.
TEST_CASE("gemm equals gemm_reference for every transpose combination, shape, alpha and beta") {
  const int64_t k = 9, pad = 3;
  for (auto [m, n] : {std::pair<int64_t, int64_t>{7, 5}, {1, 5}, {7, 1}, {1, 1}})
    for (double beta : {2.0, 0.0})
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          Generator gen(static_cast<uint64_t>(ta * 2 + tb + 4 * m + 40 * n));
          const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
          Tensor a = randn(ta ? Shape{k, lda} : Shape{m, lda}, &gen);
          Tensor b = randn(tb ? Shape{n, ldb} : Shape{k, ldb}, &gen);
          Tensor c0 = beta == 0 ? full({m, ldc}, std::numeric_limits<scalar_t>::quiet_NaN()) : randn({m, ldc}, &gen);
          Tensor fast = c0.clone(), slow = c0.clone();
          gemm(ta, tb, m, n, k, 0.5, a.data(), lda, b.data(), ldb, static_cast<scalar_t>(beta), fast.data(), ldc);
          gemm_reference(ta, tb, m, n, k, 0.5, a.data(), lda, b.data(), ldb, static_cast<scalar_t>(beta), slow.data(),
                         ldc);
          CAPTURE(m);
          CAPTURE(n);
          CAPTURE(beta);
          CAPTURE(ta);
          CAPTURE(tb);
          bool close = true;  // the m × n block; the padding columns are not C's and stay as they were
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              const double f = fast.data()[i * ldc + j], r = slow.data()[i * ldc + j];
              close = close && std::abs(f - r) <= 1e-5 + 1e-5 * std::abs(r);
            }
          CHECK(close);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = n; j < ldc; ++j) {
              const scalar_t before = c0.data()[i * ldc + j], after = fast.data()[i * ldc + j];
              CHECK((after == before || (std::isnan(after) && std::isnan(before))));
            }
        }
}

TEST_CASE("gemm with an empty inner dim scales C by beta") {
  Tensor c = from_vector({1, 2, 3, 4}, {2, 2});
  gemm(false, false, 2, 2, 0, 1, nullptr, 1, nullptr, 2, 0.5, c.data(), 2);
  CHECK(all_close(c, {0.5, 1, 1.5, 2}));
  gemm(false, false, 2, 2, 0, 1, nullptr, 1, nullptr, 2, 0, c.data(), 2);
  CHECK(all_close(c, {0, 0, 0, 0}));
}

TEST_CASE("gemm_reference on a hand-worked product") {
  // [[1, 2], [3, 4]] @ [[5], [6]] = [[17], [39]]
  const scalar_t a[] = {1, 2, 3, 4}, b[] = {5, 6};
  scalar_t c[2] = {0, 0};
  gemm_reference(false, false, 2, 1, 2, 1, a, 2, b, 1, 0, c, 1);
  CHECK(c[0] == 17);
  CHECK(c[1] == 39);
  gemm(false, false, 2, 1, 2, 1, a, 2, b, 1, 0, c, 1);
  CHECK(c[0] == 17);
  CHECK(c[1] == 39);
}
