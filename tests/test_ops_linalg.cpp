// tests/test_ops_linalg.cpp — engine/ops_linalg.cpp: matmul.
//
// Gradient checks for every rank combination (1-D·1-D, 2-D, 1-D·2-D, 2-D·1-D, batched, broadcast
// batch dims) and every transpose flag combination, including the Linear-layer case
// [B, L, E] @ [F, E]ᵀ whose weight gradient takes the folded single-GEMM path; values against
// gemm_reference (engine/blas.h) on random shapes; known small products; shape errors.
#include <string>
#include <vector>

#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

// The stored shape of an operand whose last two dims are [rows, cols] before the optional
// transpose: a transposed operand is stored [cols, rows].
Shape stored(std::vector<int64_t> batch, int64_t rows, int64_t cols, bool transposed) {
  batch.push_back(transposed ? cols : rows);
  batch.push_back(transposed ? rows : cols);
  return Shape(batch);
}

// op(A) op(B) for one pair of matrices, by the textbook loop.
std::vector<scalar_t> reference_product(const scalar_t* a, const scalar_t* b, int64_t m, int64_t n, int64_t k,
                                        bool ta, bool tb) {
  std::vector<scalar_t> c(m * n);
  gemm_reference(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 0, c.data(), n);
  return c;
}

// The message of the tessera::Error that f throws ("" if none).
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// ---------------- gradient checks ----------------

TEST_CASE("matmul: gradcheck for every rank combination") {
  auto mm = [](auto& in) { return matmul(in[0], in[1]); };
  CHECK_GRAD(mm, {param({4}, 1), param({4}, 2)});                     // dot product
  CHECK_GRAD(mm, {param({3, 4}, 3), param({4, 2}, 4)});               // matrix product
  CHECK_GRAD(mm, {param({4}, 5), param({4, 3}, 6)});                  // row vector · matrix
  CHECK_GRAD(mm, {param({3, 4}, 7), param({4}, 8)});                  // matrix · column vector
  CHECK_GRAD(mm, {param({2, 3, 4}, 9), param({2, 4, 5}, 10)});        // batched
  CHECK_GRAD(mm, {param({2, 1, 3, 4}, 11), param({5, 4, 2}, 12)});    // broadcast batch dims
  CHECK_GRAD(mm, {param({2, 3, 4}, 13), param({4, 5}, 14)});          // batch @ shared matrix
  CHECK_GRAD(mm, {param({3, 4}, 15), param({2, 4, 5}, 16)});          // shared matrix @ batch
  CHECK_GRAD(mm, {param({4}, 17), param({2, 4, 3}, 18)});             // vector @ batch
  CHECK_GRAD(mm, {param({2, 3, 4}, 19), param({4}, 20)});             // batch @ vector
  CHECK_GRAD(mm, {param({3, 2, 4}, 21), param({1, 4, 2}, 22)});       // batch of 1 broadcast
  CHECK_GRAD(mm, {param({1, 2, 4}, 23), param({3, 4, 2}, 24)});
  CHECK_GRAD(mm, {param({2, 1, 2, 3}, 25), param({1, 3, 3, 2}, 26)}); // both sides broadcast
  CHECK_GRAD([](auto& in) { return matmul(in[0], in[0]); }, {param({3, 3}, 27)});  // one tensor, both sides
  CHECK_GRAD(mm, {param({3, 4}, 28), param({4, 2}, 29).detach()});    // only one side requires grad
  CHECK_GRAD(mm, {param({2, 3, 4}, 30).detach(), param({4, 2}, 31)});
  CHECK_GRAD([](auto& in) { return in[0].matmul(in[1]); }, {param({2, 3}, 32), param({3, 2}, 33)});
}

TEST_CASE("matmul: gradcheck for each transpose flag combination") {
  const int64_t m = 3, k = 4, n = 2;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      auto mm = [ta, tb](auto& in) { return matmul(in[0], in[1], ta, tb); };
      CHECK_GRAD(mm, {param(stored({}, m, k, ta), 40), param(stored({}, k, n, tb), 41)});
      CHECK_GRAD(mm, {param(stored({2}, m, k, ta), 42), param(stored({2}, k, n, tb), 43)});
      CHECK_GRAD(mm, {param(stored({2, 1}, m, k, ta), 44), param(stored({3}, k, n, tb), 45)});
      CHECK_GRAD(mm, {param(stored({2}, m, k, ta), 46), param(stored({}, k, n, tb), 47)});   // shared B
      CHECK_GRAD(mm, {param(stored({}, m, k, ta), 48), param(stored({2}, k, n, tb), 49)});   // shared A
      CHECK_GRAD(mm, {param(stored({2, 2}, m, k, ta), 50), param(stored({1}, k, n, tb), 51)});
      // a 1-D operand ignores its own flag; the other's flag still applies
      CHECK_GRAD(mm, {param({k}, 52), param(stored({}, k, n, tb), 53)});
      CHECK_GRAD(mm, {param(stored({}, m, k, ta), 54), param({k}, 55)});
    }
}

TEST_CASE("matmul: gradcheck of the Linear case [B, L, E] @ [F, E]^T (folded weight gradient)") {
  // y = x Wᵀ + b with x [B, L, E], W [F, E]: the weight gradient Σ_{b,l} g[b,l]ᵀ x[b,l] is one
  // GEMM over all B·L rows
  CHECK_GRAD([](auto& in) { return matmul(in[0], in[1], false, true); }, {param({2, 3, 4}, 60), param({5, 4}, 61)});
  CHECK_GRAD([](auto& in) { return matmul(in[0], in[1], false, true) + in[2]; },
             {param({2, 3, 4}, 62), param({5, 4}, 63), param({5}, 64)});
  CHECK_GRAD([](auto& in) { return matmul(in[0], in[1], false, true); }, {param({2, 2, 3, 4}, 65), param({3, 4}, 66)});
  CHECK_GRAD([](auto& in) { return matmul(in[0], in[1], false, true); }, {param({2, 3, 4}, 67).detach(), param({5, 4}, 68)});
  // the untransposed weight [E, F] takes the same folded path
  CHECK_GRAD([](auto& in) { return matmul(in[0], in[1]); }, {param({2, 3, 4}, 69).detach(), param({4, 5}, 70)});
  // after a reshape/permute, as attention uses it
  CHECK_GRAD([](auto& in) { return matmul(permute(in[0], {1, 0, 2}), in[1], false, true); },
             {param({3, 2, 4}, 71), param({5, 4}, 72)});
  // deeper: q kᵀ then a product with v, all batched
  CHECK_GRAD([](auto& in) { return matmul(softmax(matmul(in[0], in[1], false, true), -1), in[2]); },
             {param({2, 3, 4}, 73), param({2, 3, 4}, 74), param({2, 3, 2}, 75)});
}

TEST_CASE("matmul: Linear-case gradients equal per-row sums computed by hand") {
  const int64_t B = 3, L = 4, E = 5, F = 6;
  Generator gen(77);
  const Tensor x = uniform({B, L, E}, -1, 1, &gen).requires_grad_();
  const Tensor g = uniform({B, L, F}, -1, 1, &gen);
  const double tol = kDouble ? 1e-12 : 1e-5;
  for (const bool tb : {true, false}) {
    CAPTURE(tb);
    const Tensor w = (tb ? uniform({F, E}, -1, 1, &gen) : uniform({E, F}, -1, 1, &gen)).requires_grad_();
    x.zero_grad();
    const Tensor y = matmul(x, w, false, tb);
    REQUIRE(y.shape() == Shape{B, L, F});
    // y[b][l][f] = Σ_e x[b][l][e] W[f][e]  (tb)  or  Σ_e x[b][l][e] W[e][f]
    auto weight = [&](int64_t e, int64_t f) { return tb ? w.at({f, e}) : w.at({e, f}); };
    std::vector<double> want_y(B * L * F, 0.0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t f = 0; f < F; ++f)
          for (int64_t e = 0; e < E; ++e) want_y[(b * L + l) * F + f] += x.at({b, l, e}) * weight(e, f);
    CHECK(all_close(y, want_y, tol, tol));
    y.backward(g);
    // dW[f][e] (or [e][f]) = Σ_{b,l} g[b][l][f] x[b][l][e];  dx[b][l][e] = Σ_f g[b][l][f] W(e, f)
    std::vector<double> want_w(E * F, 0.0), want_x(B * L * E, 0.0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t f = 0; f < F; ++f)
          for (int64_t e = 0; e < E; ++e) {
            want_w[tb ? f * E + e : e * F + f] += g.at({b, l, f}) * x.at({b, l, e});
            want_x[(b * L + l) * E + e] += g.at({b, l, f}) * weight(e, f);
          }
    CHECK(w.grad().shape() == w.shape());
    CHECK(all_close(w.grad(), want_w, tol, tol));
    CHECK(all_close(x.grad(), want_x, tol, tol));
  }
}

// ---------------- values ----------------

TEST_CASE("matmul: known small products") {
  const Tensor a = from_vector({1, 2, 3, 4}, {2, 2});
  const Tensor b = from_vector({5, 6, 7, 8}, {2, 2});
  CHECK(all_close(matmul(a, b), {19, 22, 43, 50}, 0, 0));
  CHECK(all_close(matmul(a, b, true, false), {26, 30, 38, 44}, 0, 0));   // Aᵀ B
  CHECK(all_close(matmul(a, b, false, true), {17, 23, 39, 53}, 0, 0));   // A Bᵀ
  CHECK(all_close(matmul(a, b, true, true), {23, 31, 34, 46}, 0, 0));    // Aᵀ Bᵀ
  const Tensor dot = matmul(from_vector({1, 2, 3}), from_vector({4, 5, 6}));
  CHECK(dot.shape() == Shape{});
  CHECK(dot.item() == 32);
  CHECK(all_close(matmul(from_vector({1, 2}), b), {19, 22}, 0, 0));      // [1, 2] as a row
  CHECK(all_close(matmul(a, from_vector({5, 6})), {17, 39}, 0, 0));      // [5, 6] as a column
  CHECK(matmul(from_vector({1, 2}), b).shape() == Shape{2});
  CHECK(all_close(matmul(from_vector({1, 2}), b, false, true), {17, 23}, 0, 0));
  CHECK(all_close(matmul(a, from_vector({5, 6}), true, false), {23, 34}, 0, 0));

  // d/dA Σ AB = 1 Bᵀ (every row holds the row sums of B); d/dB Σ AB = Aᵀ 1 (row k holds Σ_m A[m][k])
  const Tensor pa = a.detach().requires_grad_(), pb = b.detach().requires_grad_();
  matmul(pa, pb).sum().backward();
  CHECK(all_close(pa.grad(), {11, 15, 11, 15}, 0, 0));
  CHECK(all_close(pb.grad(), {4, 4, 6, 6}, 0, 0));
  // dot product: d(u·v)/du = v
  const Tensor u = from_vector({1, 2, 3}).requires_grad_(), v = from_vector({4, 5, 6}).requires_grad_();
  matmul(u, v).backward();
  CHECK(all_close(u.grad(), {4, 5, 6}, 0, 0));
  CHECK(all_close(v.grad(), {1, 2, 3}, 0, 0));
}

TEST_CASE("matmul: output shapes follow torch.matmul") {
  CHECK(matmul(zeros({2, 1, 3, 4}), zeros({5, 4, 2})).shape() == Shape{2, 5, 3, 2});
  CHECK(matmul(zeros({4}), zeros({2, 4, 3})).shape() == Shape{2, 3});
  CHECK(matmul(zeros({2, 3, 4}), zeros({4})).shape() == Shape{2, 3});
  CHECK(matmul(zeros({3, 4}), zeros({2, 4, 5})).shape() == Shape{2, 3, 5});
  CHECK(matmul(zeros({2, 3, 4}), zeros({6, 4}), false, true).shape() == Shape{2, 3, 6});
  CHECK(matmul(zeros({2, 4, 3}), zeros({4, 6}), true, false).shape() == Shape{2, 3, 6});
  CHECK(matmul(zeros({3, 0}), zeros({0, 2})).shape() == Shape{3, 2});
  CHECK(all_close(matmul(ones({3, 0}), ones({0, 2})), std::vector<double>(6, 0.0), 0, 0));  // empty sum
  CHECK(matmul(zeros({0, 4}), zeros({4, 2})).shape() == Shape{0, 2});
}

TEST_CASE("matmul: matches gemm_reference on random shapes, every flag combination") {
  Generator gen(100);
  const double tol = kDouble ? 1e-12 : 1e-4;
  for (int trial = 0; trial < 48; ++trial) {
    const bool ta = trial & 1, tb = trial & 2;
    const bool large = trial >= 40;  // a few shapes large enough for BLAS's blocked kernels
    const int64_t m = 1 + gen.randint(large ? 150 : 17);
    const int64_t n = 1 + gen.randint(large ? 150 : 17);
    const int64_t k = 1 + gen.randint(large ? 150 : 17);
    CAPTURE(trial);
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    const Tensor a = uniform(stored({}, m, k, ta), -1, 1, &gen);
    const Tensor b = uniform(stored({}, k, n, tb), -1, 1, &gen);
    const std::vector<scalar_t> want = reference_product(a.data(), b.data(), m, n, k, ta, tb);
    const Tensor c = matmul(a, b, ta, tb);
    REQUIRE(c.shape() == Shape{m, n});
    CHECK(all_close(c, std::vector<double>(want.begin(), want.end()), tol, tol));
  }
}

TEST_CASE("matmul: batched products match a per-matrix reference, with broadcast batch dims") {
  Generator gen(200);
  const double tol = kDouble ? 1e-12 : 1e-4;
  const int64_t m = 3, k = 4, n = 2;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      // [2, 1, m, k] @ [5, k, n] -> [2, 5, m, n]: out[i][j] = A[i][0] @ B[j]
      const Tensor a = uniform(stored({2, 1}, m, k, ta), -1, 1, &gen);
      const Tensor b = uniform(stored({5}, k, n, tb), -1, 1, &gen);
      const Tensor c = matmul(a, b, ta, tb);
      REQUIRE(c.shape() == Shape{2, 5, m, n});
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t j = 0; j < 5; ++j) {
          const std::vector<scalar_t> want = reference_product(a.data() + i * m * k, b.data() + j * k * n, m, n, k, ta, tb);
          const Tensor got = narrow(narrow(c, 0, i, 1), 1, j, 1);
          CHECK(all_close(got, std::vector<double>(want.begin(), want.end()), tol, tol));
        }
      // [3, m, k] @ [k, n] (the folded forward when not ta) and [m, k] @ [3, k, n]
      const Tensor a3 = uniform(stored({3}, m, k, ta), -1, 1, &gen);
      const Tensor b2 = uniform(stored({}, k, n, tb), -1, 1, &gen);
      const Tensor c3 = matmul(a3, b2, ta, tb);
      const Tensor a2 = uniform(stored({}, m, k, ta), -1, 1, &gen);
      const Tensor b3 = uniform(stored({3}, k, n, tb), -1, 1, &gen);
      const Tensor d3 = matmul(a2, b3, ta, tb);
      for (int64_t i = 0; i < 3; ++i) {
        const std::vector<scalar_t> want = reference_product(a3.data() + i * m * k, b2.data(), m, n, k, ta, tb);
        CHECK(all_close(narrow(c3, 0, i, 1), std::vector<double>(want.begin(), want.end()), tol, tol));
        const std::vector<scalar_t> want2 = reference_product(a2.data(), b3.data() + i * k * n, m, n, k, ta, tb);
        CHECK(all_close(narrow(d3, 0, i, 1), std::vector<double>(want2.begin(), want2.end()), tol, tol));
      }
    }
}

TEST_CASE("matmul: many small and a few large batched products (both threading paths)") {
  Generator gen(300);
  struct Case {
    int64_t batch, m, k, n;
  };
  // small: one GEMM per thread; large (m·n·k ≥ 2²¹): one GEMM at a time on every thread
  for (const Case& cs : {Case{16, 20, 30, 10}, Case{2, 128, 128, 129}}) {
    CAPTURE(cs.m);
    const Tensor a = uniform({cs.batch, cs.m, cs.k}, -1, 1, &gen);
    const Tensor b = uniform({cs.batch, cs.n, cs.k}, -1, 1, &gen);
    const Tensor c = matmul(a, b, false, true);
    REQUIRE(c.shape() == Shape{cs.batch, cs.m, cs.n});
    const double tol = kDouble ? 1e-11 : 1e-3;
    for (int64_t t = 0; t < cs.batch; ++t) {
      const std::vector<scalar_t> want =
          reference_product(a.data() + t * cs.m * cs.k, b.data() + t * cs.n * cs.k, cs.m, cs.n, cs.k, false, true);
      CHECK(all_close(narrow(c, 0, t, 1), std::vector<double>(want.begin(), want.end()), tol, tol));
    }
  }
}

// ---------------- errors ----------------

TEST_CASE("matmul: mismatched shapes throw errors that name both shapes") {
  CHECK(error_message([] { (void)matmul(zeros({2, 3}), zeros({4, 5})); }) ==
        "matmul: cannot multiply [2, 3] by [4, 5]: inner sizes 3 and 4 differ");
  CHECK(throws_with([] { (void)matmul(zeros({2, 3}), zeros({4, 5})); },
                    "matmul: cannot multiply [2, 3] by [4, 5]: inner sizes 3 and 4 differ"));
  CHECK(throws_with([] { (void)matmul(zeros({2, 3}), zeros({4, 5}), true, false); },
                    "matmul: cannot multiply [2, 3] (transposed) by [4, 5]: inner sizes 2 and 4 differ"));
  CHECK(throws_with([] { (void)matmul(zeros({2, 3}), zeros({5, 4}), false, true); },
                    "matmul: cannot multiply [2, 3] by [5, 4] (transposed): inner sizes 3 and 4 differ"));
  CHECK(throws_with([] { (void)matmul(zeros({2, 3, 4}), zeros({2, 5, 6})); }, "inner sizes 4 and 5 differ"));
  CHECK(throws_with([] { (void)matmul(zeros({3}), zeros({4})); },
                    "matmul: cannot take the dot product of [3] and [4]: sizes 3 and 4 differ"));
  CHECK(throws_with([] { (void)matmul(zeros({3}), zeros({4, 5})); }, "inner sizes 3 and 4 differ"));
  CHECK(throws_with([] { (void)matmul(zeros({4, 5}), zeros({3})); }, "inner sizes 5 and 3 differ"));
  CHECK(throws_with([] { (void)matmul(zeros({2, 3, 4}), zeros({3, 4, 5})); },
                    "matmul (batch dims): shapes [2] and [3] cannot be broadcast"));
  CHECK(throws_with([] { (void)matmul(scalar_tensor(1), zeros({3})); },
                    "matmul: both arguments need at least one dim, got shapes [] and [3]"));
}
