// tessera/engine/kernels.h — internal loop helpers shared by the op files (not public API).
//
// map_unary / map_binary run a scalar lambda over contiguous buffers, split across threads by
// parallel_for; the lambdas are inlined, so GCC vectorises the loops (AVX-512 with -march=native).
// broadcast_binary handles NumPy broadcasting for two inputs of different shapes.
// exp_fast is a vectorisable exp for float (Cephes' polynomial); the double build uses std::exp.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "engine/parallel.h"
#include "engine/tensor.h"

namespace tessera::kernels {

// out[i] = f(x[i])
template <class F>
Tensor map_unary(const Tensor& x, F f) {
  Tensor out = empty(x.shape());
  const scalar_t* xs = x.data();
  scalar_t* o = out.data();
  parallel_for(x.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) o[i] = f(xs[i]);
  });
  return out;
}

// out[i] = f(x[i], y[i]) for same-shaped x and y
template <class F>
Tensor map_binary(const Tensor& x, const Tensor& y, F f) {
  Tensor out = empty(x.shape());
  const scalar_t* xs = x.data();
  const scalar_t* ys = y.data();
  scalar_t* o = out.data();
  parallel_for(x.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) o[i] = f(xs[i], ys[i]);
  });
  return out;
}

// out = f(a, b) with NumPy broadcasting. Fast paths: equal shapes, and a one-element operand;
// otherwise the last dim is the inner loop (stride 0 or 1 for each input) and the other dims are
// walked with a counter.
template <class F>
Tensor broadcast_binary(const Tensor& a, const Tensor& b, const char* op, F f) {
  if (a.shape() == b.shape()) return map_binary(a, b, f);
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = empty(out_shape);
  const scalar_t* as = a.data();
  const scalar_t* bs = b.data();
  scalar_t* o = out.data();
  const int64_t n = out.numel();
  if (b.numel() == 1 && a.numel() == n) {
    const scalar_t bv = bs[0];
    parallel_for(n, kElementwiseGrain, [&](int64_t s, int64_t e) {
#pragma omp simd
      for (int64_t i = s; i < e; ++i) o[i] = f(as[i], bv);
    });
    return out;
  }
  if (a.numel() == 1 && b.numel() == n) {
    const scalar_t av = as[0];
    parallel_for(n, kElementwiseGrain, [&](int64_t s, int64_t e) {
#pragma omp simd
      for (int64_t i = s; i < e; ++i) o[i] = f(av, bs[i]);
    });
    return out;
  }
  // strides of a and b in the output's index space (0 where broadcast)
  const int rank = out_shape.rank();
  int64_t sa[Shape::kMaxRank], sb[Shape::kMaxRank];
  {
    int64_t stride_a = 1, stride_b = 1;
    for (int d = rank - 1; d >= 0; --d) {
      const int da = d - (rank - a.dim()), db = d - (rank - b.dim());
      const int64_t size_a = da >= 0 ? a.shape()[da] : 1, size_b = db >= 0 ? b.shape()[db] : 1;
      sa[d] = size_a == 1 ? 0 : stride_a;
      sb[d] = size_b == 1 ? 0 : stride_b;
      stride_a *= size_a;
      stride_b *= size_b;
    }
  }
  const int64_t inner = rank ? out_shape[rank - 1] : 1;
  const int64_t ia = rank ? sa[rank - 1] : 0, ib = rank ? sb[rank - 1] : 0;
  const int64_t rows = n / std::max<int64_t>(inner, 1);
  parallel_for(rows, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(inner, 1)),
               [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      // offsets of row r in a and b
      int64_t offset_a = 0, offset_b = 0, rem = r;
      for (int d = rank - 2; d >= 0; --d) {
        const int64_t idx = rem % out_shape[d];
        rem /= out_shape[d];
        offset_a += idx * sa[d];
        offset_b += idx * sb[d];
      }
      const scalar_t* pa = as + offset_a;
      const scalar_t* pb = bs + offset_b;
      scalar_t* po = o + r * inner;
      if (ia == 1 && ib == 1) {
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) po[i] = f(pa[i], pb[i]);
      } else if (ia == 1) {
        const scalar_t bv = pb[0];
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) po[i] = f(pa[i], bv);
      } else if (ib == 1) {
        const scalar_t av = pa[0];
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) po[i] = f(av, pb[i]);
      } else {
        const scalar_t v = f(pa[0], pb[0]);
        for (int64_t i = 0; i < inner; ++i) po[i] = v;
      }
    }
  });
  return out;
}

// exp(x) for float in a form GCC vectorises: x = n·ln2 + r with |r| ≤ ln2/2, exp(r) by Cephes'
// degree-6 polynomial (≈1 ulp), then scaled by 2^n built from exponent bits. 2^n is applied as
// two halves so that n from -150 (underflow) to 128 (overflow edge) stays representable.
inline float exp_fast(float x) {
  const float kHi = 88.72283935546875f, kLo = -103.97f;
  float xc = x > kHi ? kHi : (x < kLo ? kLo : x);
  const float kRound = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  const float n = (xc * 1.44269504088896341f + kRound) - kRound;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const float s1 = std::bit_cast<float>((n1 + 127) << 23);
  const float s2 = std::bit_cast<float>((n2 + 127) << 23);
  float y = p * s1 * s2;
  y = x > kHi ? std::numeric_limits<float>::infinity() : y;
  y = x < kLo ? 0.0f : y;
  y = x != x ? x : y;  // NaN stays NaN
  return y;
}

inline scalar_t exp_kernel(scalar_t x) {
#ifdef TESSERA_DOUBLE
  return std::exp(x);
#else
  return exp_fast(x);
#endif
}

}  // namespace tessera::kernels
