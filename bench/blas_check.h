// tessera/bench/blas_check.h — "are the BLAS kernels this benchmark runs on computing the right
// numbers?", asked once at the start of every benchmark process.
//
// The environment of the project machine forces OpenBLAS's AVX2 kernels (OPENBLAS_CORETYPE)
// because some OpenBLAS builds compute wrong results on some processors; the benchmarks are also
// run with it unset, as on a user's machine, where OpenBLAS picks its own kernels. A fast wrong
// answer is worth nothing, so each process compares tessera::gemm (OpenBLAS, cut across the
// pool) with the textbook loop (gemm_reference) on shapes that cover all four transpose cases,
// GEMV, odd sizes and the products of the Transformer step, and reports the core name and the
// largest relative error, ‖C − C_ref‖_F / ‖C_ref‖_F, for the runner to print in its table.
#pragma once

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/blas.h"
#include "engine/random.h"

namespace tessera::bench {

struct BlasCheck {
  std::string corename;
  double max_relative_error = 0;
  bool ok = false;
  // {"corename": "...", "blas_check_error": 1e-7, "blas_check_ok": true} without braces, to
  // splice into a meta line
  std::string json_fields() const {
    char buffer[160];
    std::snprintf(buffer, sizeof buffer, "\"corename\": \"%s\", \"blas_check_error\": %.3g, \"blas_check_ok\": %s",
                  corename.c_str(), max_relative_error, ok ? "true" : "false");
    return buffer;
  }
};

inline BlasCheck check_blas() {
  struct Shape {
    bool ta, tb;
    int64_t m, n, k;
  };
  // (m, n, k): odd sizes, GEMV both ways, and products shaped like the Transformer steps' Linears
  // (tokens × d_model × ffn and their transposes in the backward; kept small: the reference loop
  // is slow)
  const std::vector<Shape> shapes = {
      {false, false, 33, 65, 17},    {true, false, 47, 31, 129},  {false, true, 129, 95, 63},
      {true, true, 64, 64, 64},      {false, false, 1, 300, 200}, {false, true, 300, 1, 200},
      {false, true, 512, 512, 128},  {true, false, 128, 512, 512}, {false, false, 768, 512, 256},
      {true, false, 256, 512, 768},  {false, true, 768, 256, 512},
  };
  Generator gen(12345);
  BlasCheck result;
  result.corename = openblas_get_corename();
  for (const Shape& s : shapes) {
    std::vector<scalar_t> a(s.m * s.k), b(s.k * s.n), c(s.m * s.n, 0), ref(s.m * s.n, 0);
    gen.fill_uniform(a.data(), int64_t(a.size()), -1, 1);
    gen.fill_uniform(b.data(), int64_t(b.size()), -1, 1);
    const int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
    gemm(s.ta, s.tb, s.m, s.n, s.k, 1, a.data(), lda, b.data(), ldb, 0, c.data(), s.n);
    gemm_reference(s.ta, s.tb, s.m, s.n, s.k, 1, a.data(), lda, b.data(), ldb, 0, ref.data(), s.n);
    double diff = 0, norm = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      diff += (double(c[i]) - ref[i]) * (double(c[i]) - ref[i]);
      norm += double(ref[i]) * ref[i];
    }
    const double error = norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
    result.max_relative_error = std::max(result.max_relative_error, std::isfinite(error) ? error : 1e30);
  }
  // float32 sums of up to 768 products: rounding gives ~1e-7 relative; a wrong kernel gives O(1)
  result.ok = result.max_relative_error < 1e-5;
  return result;
}

}  // namespace tessera::bench
