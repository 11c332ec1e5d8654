// tessera/engine/ops_elementwise.cpp — elementwise ops, each forward followed by its backward.
//
// Binary ops broadcast like NumPy; GradSink::add sums each input's gradient back to the input's
// own shape, so the backward lambdas below can be written as if no broadcasting happened.
#include <cmath>

#include "engine/autograd.h"
#include "engine/kernels.h"
#include "engine/ops.h"

namespace tessera {

using kernels::broadcast_binary;
using kernels::map_binary;
using kernels::map_unary;

// ---------------- binary ----------------

// out = a + b;  dL/da = g, dL/db = g (summed over broadcast dims by the sink)
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_binary(a, b, "add", [](scalar_t x, scalar_t y) { return x + y; });
  record(out, "add", {&a, &b}, [](const Tensor& g, GradSink& sink) {
    sink.add(0, g);
    sink.add(1, g);
  });
  return out;
}

// out = a - b;  dL/da = g, dL/db = -g
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_binary(a, b, "sub", [](scalar_t x, scalar_t y) { return x - y; });
  record(out, "sub", {&a, &b}, [](const Tensor& g, GradSink& sink) {
    sink.add(0, g);
    if (sink.needs(1)) sink.add(1, neg(g));
  });
  return out;
}

// out = a · b;  dL/da = g · b, dL/db = g · a
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_binary(a, b, "mul", [](scalar_t x, scalar_t y) { return x * y; });
  record(out, "mul", {&a, &b}, [a = a.detach(), b = b.detach()](const Tensor& g, GradSink& sink) {
    if (sink.needs(0)) sink.add(0, mul(g, b));
    if (sink.needs(1)) sink.add(1, mul(g, a));
  });
  return out;
}

// out = a / b;  dL/da = g / b, dL/db = -g · a / b² = -g · out / b
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_binary(a, b, "div", [](scalar_t x, scalar_t y) { return x / y; });
  record(out, "div", {&a, &b},
         [b = b.detach(), out_data = out.detach()](const Tensor& g, GradSink& sink) {
           if (sink.needs(0)) sink.add(0, div(g, b));
           if (sink.needs(1)) sink.add(1, neg(div(mul(g, out_data), b)));
         });
  return out;
}

// out = a + c for a constant c;  dL/da = g
Tensor add(const Tensor& a, scalar_t c) {
  Tensor out = map_unary(a, [c](scalar_t x) { return x + c; });
  record(out, "add_scalar", {&a}, [](const Tensor& g, GradSink& sink) { sink.add(0, g); });
  return out;
}

// out = a · c for a constant c;  dL/da = g · c
Tensor mul(const Tensor& a, scalar_t c) {
  Tensor out = map_unary(a, [c](scalar_t x) { return x * c; });
  record(out, "mul_scalar", {&a}, [c](const Tensor& g, GradSink& sink) { sink.add(0, mul(g, c)); });
  return out;
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, scalar_t b) { return add(a, b); }
Tensor operator+(scalar_t a, const Tensor& b) { return add(b, a); }
Tensor operator-(const Tensor& a, scalar_t b) { return add(a, -b); }
Tensor operator-(scalar_t a, const Tensor& b) { return add(neg(b), a); }
Tensor operator*(const Tensor& a, scalar_t b) { return mul(a, b); }
Tensor operator*(scalar_t a, const Tensor& b) { return mul(b, a); }
Tensor operator/(const Tensor& a, scalar_t b) { return mul(a, scalar_t(1) / b); }
Tensor operator/(scalar_t a, const Tensor& b) { return mul(pow(b, -1), a); }

// ---------------- unary ----------------

// out = -a;  dL/da = -g
Tensor neg(const Tensor& a) {
  Tensor out = map_unary(a, [](scalar_t x) { return -x; });
  record(out, "neg", {&a}, [](const Tensor& g, GradSink& sink) { sink.add(0, neg(g)); });
  return out;
}

// out = aᵖ;  dL/da = g · p · aᵖ⁻¹  (0 for p = 0: aᵖ is the constant 1, and 0 · a⁻¹ would be NaN
// at a = 0; PyTorch gives 0 too)
Tensor pow(const Tensor& a, scalar_t p) {
  Tensor out;
  if (p == 2) out = map_unary(a, [](scalar_t x) { return x * x; });
  else if (p == 1) out = map_unary(a, [](scalar_t x) { return x; });
  else if (p == -1) out = map_unary(a, [](scalar_t x) { return scalar_t(1) / x; });
  else if (p == 0.5) out = map_unary(a, [](scalar_t x) { return std::sqrt(x); });
  else out = map_unary(a, [p](scalar_t x) { return std::pow(x, p); });
  record(out, "pow", {&a}, [a = a.detach(), p](const Tensor& g, GradSink& sink) {
    sink.add(0, map_binary(g, a, [p](scalar_t gv, scalar_t x) {
               return p == 2 ? gv * 2 * x : (p == 0 ? scalar_t(0) : gv * p * std::pow(x, p - 1));
             }));
  });
  return out;
}

// out = eᵃ;  dL/da = g · out
Tensor exp(const Tensor& a) {
  // a lambda, not the function pointer: the call must inline for the loop to vectorise
  Tensor out = map_unary(a, [](scalar_t x) { return kernels::exp_kernel(x); });
  record(out, "exp", {&a}, [y = out.detach()](const Tensor& g, GradSink& sink) {
    sink.add(0, mul(g, y));
  });
  return out;
}

// out = ln a;  dL/da = g / a
Tensor log(const Tensor& a) {
  Tensor out = map_unary(a, [](scalar_t x) { return std::log(x); });
  record(out, "log", {&a}, [a = a.detach()](const Tensor& g, GradSink& sink) {
    sink.add(0, div(g, a));
  });
  return out;
}

// out = √a;  dL/da = g / (2 out)
Tensor sqrt(const Tensor& a) {
  Tensor out = map_unary(a, [](scalar_t x) { return std::sqrt(x); });
  record(out, "sqrt", {&a}, [y = out.detach()](const Tensor& g, GradSink& sink) {
    sink.add(0, map_binary(g, y, [](scalar_t gv, scalar_t yv) { return gv / (2 * yv); }));
  });
  return out;
}

// out = |a|;  dL/da = g · sign(a)  (0 at a = 0, as in PyTorch)
Tensor abs(const Tensor& a) {
  Tensor out = map_unary(a, [](scalar_t x) { return std::abs(x); });
  record(out, "abs", {&a}, [a = a.detach()](const Tensor& g, GradSink& sink) {
    sink.add(0, map_binary(g, a, [](scalar_t gv, scalar_t x) {
               return x > 0 ? gv : (x < 0 ? -gv : scalar_t(0));
             }));
  });
  return out;
}

// out = min(max(a, lo), hi);  dL/da = g where lo ≤ a ≤ hi, else 0
Tensor clamp(const Tensor& a, scalar_t lo, scalar_t hi) {
  TS_CHECK(!(lo > hi), "clamp: min {} is greater than max {}", lo, hi);
  Tensor out = map_unary(a, [lo, hi](scalar_t x) { return x < lo ? lo : (x > hi ? hi : x); });
  record(out, "clamp", {&a}, [a = a.detach(), lo, hi](const Tensor& g, GradSink& sink) {
    sink.add(0, map_binary(g, a, [lo, hi](scalar_t gv, scalar_t x) {
               return (x >= lo && x <= hi) ? gv : scalar_t(0);
             }));
  });
  return out;
}

// out = tanh a;  dL/da = g · (1 − out²)
Tensor tanh(const Tensor& a) {
  Tensor out = map_unary(a, [](scalar_t x) { return std::tanh(x); });
  record(out, "tanh", {&a}, [y = out.detach()](const Tensor& g, GradSink& sink) {
    sink.add(0, map_binary(g, y, [](scalar_t gv, scalar_t yv) { return gv * (1 - yv * yv); }));
  });
  return out;
}

// out = 1 / (1 + e⁻ᵃ);  dL/da = g · out · (1 − out)
Tensor sigmoid(const Tensor& a) {
  Tensor out = map_unary(a, [](scalar_t x) { return scalar_t(1) / (1 + kernels::exp_kernel(-x)); });
  record(out, "sigmoid", {&a}, [y = out.detach()](const Tensor& g, GradSink& sink) {
    sink.add(0, map_binary(g, y, [](scalar_t gv, scalar_t yv) { return gv * yv * (1 - yv); }));
  });
  return out;
}

// out = max(a, 0);  dL/da = g where a > 0, else 0 (out > 0 ⇔ a > 0, so out is what is saved)
Tensor relu(const Tensor& a) {
  Tensor out = map_unary(a, [](scalar_t x) { return x > 0 ? x : scalar_t(0); });
  record(out, "relu", {&a}, [y = out.detach()](const Tensor& g, GradSink& sink) {
    sink.add(0, map_binary(g, y, [](scalar_t gv, scalar_t yv) { return yv > 0 ? gv : scalar_t(0); }));
  });
  return out;
}

// out = a · Φ(a) with Φ the standard normal CDF: Φ(a) = ½ (1 + erf(a / √2))
// dL/da = g · (Φ(a) + a · φ(a)), φ(a) = e^(−a²/2) / √(2π)
Tensor gelu(const Tensor& a) {
  constexpr double kInvSqrt2 = 0.70710678118654752440, kInvSqrt2Pi = 0.39894228040143267794;
  Tensor out = map_unary(a, [](scalar_t x) {
    return static_cast<scalar_t>(0.5 * x * (1 + std::erf(x * kInvSqrt2)));
  });
  record(out, "gelu", {&a}, [a = a.detach()](const Tensor& g, GradSink& sink) {
    sink.add(0, map_binary(g, a, [](scalar_t gv, scalar_t x) {
               const double cdf = 0.5 * (1 + std::erf(x * kInvSqrt2));
               const double pdf = std::exp(-0.5 * x * x) * kInvSqrt2Pi;
               return static_cast<scalar_t>(gv * (cdf + x * pdf));
             }));
  });
  return out;
}

// ---------------- selection ----------------

// out = c ? a : b;  dL/da = g where c, dL/db = g where not c
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  const Shape shape = broadcast_shapes(broadcast_shapes(condition.shape(), a.shape(), "where"),
                                       b.shape(), "where");
  const Tensor c = condition.shape() == shape ? condition.detach() : expand(condition.detach(), shape);
  const Tensor ea = a.shape() == shape ? a.detach() : expand(a.detach(), shape);
  const Tensor eb = b.shape() == shape ? b.detach() : expand(b.detach(), shape);
  Tensor out = empty(shape);
  const scalar_t *cs = c.data(), *as = ea.data(), *bs = eb.data();
  scalar_t* o = out.data();
  parallel_for(out.numel(), kElementwiseGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) o[i] = cs[i] != 0 ? as[i] : bs[i];
  });
  record(out, "where", {&a, &b}, [c](const Tensor& g, GradSink& sink) {
    if (sink.needs(0))
      sink.add(0, map_binary(g, c, [](scalar_t gv, scalar_t cv) { return cv != 0 ? gv : scalar_t(0); }));
    if (sink.needs(1))
      sink.add(1, map_binary(g, c, [](scalar_t gv, scalar_t cv) { return cv != 0 ? scalar_t(0) : gv; }));
  });
  return out;
}

// out = mask ? value : a;  dL/da = g where the mask is 0
Tensor masked_fill(const Tensor& a, const Tensor& mask, scalar_t value) {
  const Shape shape = broadcast_shapes(a.shape(), mask.shape(), "masked_fill");
  TS_CHECK(shape == a.shape(), "masked_fill: mask of shape {} does not broadcast to the input's shape {}",
           mask.shape(), a.shape());
  const Tensor m = mask.shape() == shape ? mask.detach() : expand(mask.detach(), shape);
  Tensor out = map_binary(a, m, [value](scalar_t x, scalar_t mv) { return mv != 0 ? value : x; });
  record(out, "masked_fill", {&a}, [m](const Tensor& g, GradSink& sink) {
    sink.add(0, map_binary(g, m, [](scalar_t gv, scalar_t mv) { return mv != 0 ? scalar_t(0) : gv; }));
  });
  return out;
}

}  // namespace tessera
