#include "nn/dropout.h"

#include "engine/kernels.h"

namespace tessera::nn {

// y = x ⊙ m,  m_i = 1/(1−p) with probability 1−p, else 0;   dL/dx = g ⊙ m
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  TS_CHECK(p >= 0 && p <= 1, "dropout: probability {} is outside [0, 1]", p);
  if (!training || p == 0) return x;
  if (p == 1) return mul(x, scalar_t(0));
  Tensor mask = empty(x.shape());
  (gen ? *gen : default_generator()).fill_bernoulli(mask.data(), mask.numel(), static_cast<scalar_t>(1 - p));
  const scalar_t scale = static_cast<scalar_t>(1 / (1 - p));
  {
    scalar_t* m = mask.data();
    const int64_t n = mask.numel();
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) m[i] *= scale;
  }
  Tensor out = kernels::map_binary(x, mask, [](scalar_t a, scalar_t b) { return a * b; });
  record(out, "dropout", {&x}, [mask](const Tensor& g, GradSink& sink) {
    sink.add(0, kernels::map_binary(g, mask, [](scalar_t a, scalar_t b) { return a * b; }));
  });
  return out;
}

Dropout::Dropout(double p_) : UnaryModule("Dropout"), p(p_) {
  TS_CHECK(p >= 0 && p <= 1, "Dropout: probability {} is outside [0, 1]", p);
}

}  // namespace tessera::nn
