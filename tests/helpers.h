// tests/helpers.h — the one gradient-check helper and a few comparisons shared by the tests.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/tessera.h"

namespace tessera::testing {

constexpr bool kDouble = sizeof(scalar_t) == 8;

// A leaf with values drawn from a fixed generator, requiring grad.
inline Tensor param(const Shape& shape, uint64_t seed, scalar_t low = -1, scalar_t high = 1) {
  Generator gen(seed);
  return uniform(shape, low, high, &gen).requires_grad_();
}

// Distinct values ±0.1, ±0.3, ±0.5, ... in a random order, requiring grad: at least 0.1 away
// from 0 and 0.2 apart, so relu/abs/clamp kinks and max ties are far from gradcheck's ±eps.
inline Tensor spaced(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  const int64_t n = shape.numel();
  const std::vector<int64_t> order = gen.permutation(n);
  std::vector<scalar_t> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = static_cast<scalar_t>(0.2 * static_cast<double>(order[i] - n / 2) + 0.1);
  return from_vector(values, shape).requires_grad_();
}

// Runs tessera::gradcheck and reports its message as a test failure instead of an exception.
inline bool grad_ok(const GradcheckFunction& fn, const std::vector<Tensor>& inputs,
                    const GradcheckOptions& options = {}) {
  try {
    return gradcheck(fn, inputs, options);
  } catch (const Error& e) {
    MESSAGE(std::string(e.what()));
    return false;
  }
}
#define CHECK_GRAD(fn, ...) CHECK(::tessera::testing::grad_ok(fn, __VA_ARGS__))

// Elementwise |a - b| <= atol + rtol |b|, reporting the first mismatch.
inline bool all_close(const Tensor& a, const std::vector<double>& b, double atol = 1e-5, double rtol = 1e-5) {
  if (a.numel() != static_cast<int64_t>(b.size())) {
    MESSAGE("size mismatch: " << a.numel() << " vs " << b.size());
    return false;
  }
  for (size_t i = 0; i < b.size(); ++i) {
    const double x = a.data()[i];
    if (!(std::abs(x - b[i]) <= atol + rtol * std::abs(b[i]))) {
      MESSAGE("element " << i << ": " << x << " vs expected " << b[i]);
      return false;
    }
  }
  return true;
}
inline bool all_close(const Tensor& a, const Tensor& b, double atol = 1e-5, double rtol = 1e-5) {
  if (a.shape() != b.shape()) {
    MESSAGE("shape mismatch: " << a.shape().str() << " vs " << b.shape().str());
    return false;
  }
  return all_close(a, std::vector<double>(b.data(), b.data() + b.numel()), atol, rtol);
}

// Does calling f throw a tessera::Error whose message contains `needle`?
template <class F>
bool throws_with(F&& f, const std::string& needle) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.find(needle) != std::string::npos) return true;
    MESSAGE("message was: " << msg);
    return false;
  }
  MESSAGE("no exception thrown");
  return false;
}

}  // namespace tessera::testing
