// tests/test_blas.cpp — the BLAS wrapper against the textbook triple loop.
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

TEST_CASE("gemm equals gemm_reference for every transpose combination, alpha and beta") {
  const int64_t m = 7, n = 5, k = 9;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Generator gen(ta * 2 + tb);
      Tensor a = randn(ta ? Shape{k, m} : Shape{m, k}, &gen);
      Tensor b = randn(tb ? Shape{n, k} : Shape{k, n}, &gen);
      Tensor c0 = randn({m, n}, &gen);
      Tensor fast = c0.clone(), slow = c0.clone();
      const int64_t lda = ta ? m : k, ldb = tb ? k : n;
      gemm(ta, tb, m, n, k, 0.5, a.data(), lda, b.data(), ldb, 2, fast.data(), n);
      gemm_reference(ta, tb, m, n, k, 0.5, a.data(), lda, b.data(), ldb, 2, slow.data(), n);
      CAPTURE(ta);
      CAPTURE(tb);
      CHECK(all_close(fast, slow, 1e-5, 1e-5));
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
