#include "nn/dropout.h"

#include <memory>
#include <vector>

#include "engine/parallel.h"

namespace tessera::nn {

// y = x ⊙ m,  m_i = 1/(1−p) with probability 1−p, else 0;   dL/dx = g ⊙ m
// The mask is kept as one byte per element (keep or drop) and the scale applied on the fly: a
// quarter of the memory of a float mask, and one pass to draw it and apply it.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  TS_CHECK(p >= 0 && p <= 1, "dropout: probability {} is outside [0, 1]", p);
  if (!training || p == 0) return x;
  if (p == 1) return mul(x, scalar_t(0));
  const int64_t n = x.numel();
  auto keep = detail::make_small<ByteBuffer>(n);  // one byte per element, from the buffer cache
  (gen ? *gen : default_generator()).fill_bernoulli(keep->data, n, 1 - p);
  const scalar_t scale = static_cast<scalar_t>(1 / (1 - p));
  // out_i = x_i · (keep_i · scale)   (also the backward, with g for x). A multiply rather than a
  // select, as PyTorch computes it: a NaN in a dropped position stays NaN instead of being
  // hidden, and the loop vectorises (bytes widened to floats).
  auto apply = [scale, n](const uint8_t* k, const scalar_t* in, scalar_t* out) {
    parallel_for(n, 1 << 15, [&](int64_t i0, int64_t i1) {
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) out[i] = in[i] * (static_cast<scalar_t>(k[i]) * scale);
    });
  };
  Tensor out = empty(x.shape());
  apply(keep->data, x.data(), out.data());
  record(out, "dropout", {&x}, [keep, apply, shape = x.shape()](const Tensor& g, GradSink& sink) {
    Tensor dx = empty(shape);
    apply(keep->data, g.data(), dx.data());
    sink.add(0, dx);
  });
  return out;
}

Dropout::Dropout(double p_) : UnaryModule("Dropout"), p(p_) {
  TS_CHECK(p >= 0 && p <= 1, "Dropout: probability {} is outside [0, 1]", p);
}

}  // namespace tessera::nn
