// tests/test_internals_example.cpp — the worked example of docs/internals.md, number by number:
// softmax(Q Kᵀ / √d) V with Q = [1, 0], K = [[1, 2], [0, 1]], V = [[2], [3]].
#include <cmath>

#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

TEST_CASE("docs/internals.md: attention forward and backward by hand") {
  Tensor q = from_vector({1, 0}, {1, 2}).requires_grad_();
  Tensor k = from_vector({1, 2, 0, 1}, {2, 2}).requires_grad_();
  Tensor v = from_vector({2, 3}, {2, 1}).requires_grad_();

  Tensor scores = matmul(q, k, false, true) / std::sqrt(scalar_t(2));  // [1, 2]
  Tensor weights = softmax(scores, -1);                                 // [1, 2]
  Tensor out = matmul(weights, v);                                      // [1, 1]
  scores.retain_grad();
  weights.retain_grad();

  // forward, from the math: scores = [1/√2, 0]; w = e^s / Σ e^s; out = Σ w_i v_i
  const double s0 = 1 / std::sqrt(2.0);
  const double w0 = std::exp(s0) / (std::exp(s0) + 1), w1 = 1 - w0;
  const double o = 2 * w0 + 3 * w1;
  CHECK(all_close(scores, {s0, 0}, 1e-6));
  CHECK(all_close(weights, {w0, w1}, 1e-6));
  CHECK(all_close(out, {o}, 1e-6));
  // the rounded figures the page prints
  CHECK(weights.data()[0] == doctest::Approx(0.6698).epsilon(1e-4));
  CHECK(weights.data()[1] == doctest::Approx(0.3302).epsilon(1e-4));
  CHECK(out.item() == doctest::Approx(2.3302).epsilon(1e-4));

  out.backward();
  // dout/dw = v;  dout/ds_i = w_i (v_i − out);  dQ = Σ_i ds_i K_i / √2;  dK_i = ds_i Q / √2
  const double ds0 = w0 * (2 - o), ds1 = w1 * (3 - o);
  CHECK(all_close(weights.grad(), {2, 3}, 1e-6));
  CHECK(all_close(scores.grad(), {ds0, ds1}, 1e-6));
  CHECK(all_close(v.grad(), {w0, w1}, 1e-6));
  CHECK(all_close(q.grad(), {(ds0 * 1 + ds1 * 0) / std::sqrt(2.0), (ds0 * 2 + ds1 * 1) / std::sqrt(2.0)}, 1e-6));
  CHECK(all_close(k.grad(), {ds0 / std::sqrt(2.0), 0, ds1 / std::sqrt(2.0), 0}, 1e-6));
  CHECK(q.grad().data()[0] == doctest::Approx(-0.1564).epsilon(1e-3));
}

TEST_CASE("docs/internals.md: the same computation passes gradcheck") {
  Tensor q = from_vector({1, 0}, {1, 2}).requires_grad_();
  Tensor k = from_vector({1, 2, 0, 1}, {2, 2}).requires_grad_();
  Tensor v = from_vector({2, 3}, {2, 1}).requires_grad_();
  CHECK_GRAD([](const std::vector<Tensor>& in) {
    return matmul(softmax(matmul(in[0], in[1], false, true) / std::sqrt(scalar_t(2)), -1), in[2]);
  }, {q, k, v});
}
