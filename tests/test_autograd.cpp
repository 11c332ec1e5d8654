// tests/test_autograd.cpp — the graph, backward, accumulation, retain_graph, grad mode, errors.
#include <memory>

#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

TEST_CASE("backward of y = x*x + 3x gives 2x + 3") {
  Tensor x = from_vector({1, -2, 0.5}).requires_grad_();
  Tensor y = sum(x * x + x * scalar_t(3));
  y.backward();
  CHECK(all_close(x.grad(), {5, -1, 4}));
}

TEST_CASE("a tensor used twice receives both contributions") {
  Tensor x = from_vector({2}).requires_grad_();
  Tensor a = x * scalar_t(3);  // da/dx = 3
  Tensor y = a * a + a;        // dy/da = 2a + 1 = 13  -> dy/dx = 39
  y.sum().backward();
  CHECK(x.grad().item() == doctest::Approx(39));
}

TEST_CASE("leaf gradients accumulate across backward calls until zero_grad") {
  Tensor x = from_vector({1, 2}).requires_grad_();
  sum(x * x).backward();
  sum(x * x).backward();
  CHECK(all_close(x.grad(), {4, 8}));
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  sum(x).backward();
  CHECK(all_close(x.grad(), {1, 1}));
}

TEST_CASE("two leaves fed the same gradient do not share a buffer") {
  Tensor a = from_vector({1}).requires_grad_(), b = from_vector({2}).requires_grad_();
  (a + b).sum().backward();
  CHECK(a.grad().data() != b.grad().data());
  { NoGradGuard ng; a.grad().fill_(5); }
  CHECK(b.grad().item() == 1);
}

TEST_CASE("retain_graph allows a second backward; without it the second one throws") {
  Tensor x = from_vector({3}).requires_grad_();
  Tensor y = (x * x).sum();
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  CHECK(x.grad().item() == doctest::Approx(12));
  CHECK(throws_with([&] { y.backward(); }, "second time"));
}

TEST_CASE("misuse gives clear errors") {
  Tensor x = from_vector({1, 2}).requires_grad_();
  Tensor y = x * x;
  CHECK(throws_with([&] { y.backward(); }, "only for a one-element output"));
  Tensor c = from_vector({1, 2});
  CHECK(throws_with([&] { c.sum().backward(); }, "does not require grad"));
  CHECK(throws_with([&] { (void)c.grad(); }, "requires_grad_()"));
  CHECK(throws_with([&] { y.sum().backward(ones({3})); }, "does not match"));
  CHECK(throws_with([&] { Tensor().shape(); }, "undefined"));
  CHECK(throws_with([&] { x.fill_(0); }, "in place"));
}

TEST_CASE("leaf vs interior, detach, NoGradGuard") {
  Tensor x = from_vector({1, 2}).requires_grad_();
  Tensor y = x * x;
  CHECK(x.is_leaf());
  CHECK_FALSE(y.is_leaf());
  CHECK(y.requires_grad());
  CHECK(std::string(y.grad_fn()->name()) == "mul");
  Tensor d = y.detach();
  CHECK(d.is_leaf());
  CHECK_FALSE(d.requires_grad());
  CHECK(d.data() == y.data());  // same storage
  {
    NoGradGuard no_grad;
    CHECK_FALSE(grad_enabled());
    Tensor z = x * x;
    CHECK_FALSE(z.requires_grad());
    CHECK(z.grad_fn() == nullptr);
  }
  CHECK(grad_enabled());
}

TEST_CASE("retain_grad keeps an interior tensor's gradient") {
  Tensor x = from_vector({1, 2}).requires_grad_();
  Tensor h = x * scalar_t(2);
  h.retain_grad();
  (h * h).sum().backward();
  CHECK(all_close(h.grad(), {4, 8}));  // d(h²)/dh = 2h
  CHECK(all_close(x.grad(), {8, 16}));
}

TEST_CASE("backward on a leaf seeds its gradient") {
  Tensor x = from_vector({1, 2}).requires_grad_();
  x.backward(from_vector({3, 4}));
  CHECK(all_close(x.grad(), {3, 4}));
}

TEST_CASE("a 100,000-op chain runs backward and is destroyed without recursion") {
  Tensor x = from_vector({1}).requires_grad_();
  {
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = y * scalar_t(1);
    y.sum().backward();
    CHECK(x.grad().item() == 1);
    // y (and the whole chain) is destroyed here; that must not overflow the stack
  }
  {
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = y + scalar_t(0);
  }  // destroyed without any backward
  CHECK(x.grad().item() == 1);
}

TEST_CASE("the graph is freed with its last tensor, and backward frees saved values") {
  Tensor x = from_vector({1, 2}).requires_grad_();
  std::weak_ptr<Node> node;
  std::weak_ptr<Storage> saved;  // saved values are kept by storage
  {
    Tensor h = x * scalar_t(2);
    Tensor y = h * h;  // saves h
    node = y.grad_fn();
    saved = h.impl().storage;
  }
  CHECK(node.expired());   // no cycle keeps the node alive
  CHECK(saved.expired());  // nor what it saved

  Tensor h = exp(x);
  saved = h.impl().storage;
  Tensor y = (h * h).sum();
  h = Tensor();
  CHECK_FALSE(saved.expired());  // still saved by the mul node
  y.backward();
  CHECK(saved.expired());        // freed by backward (no retain_graph)
}

TEST_CASE("only inputs that require grad receive gradients") {
  Tensor w = from_vector({2}).requires_grad_();
  Tensor c = from_vector({5});
  (w * c).sum().backward();
  CHECK(w.grad().item() == 5);
  CHECK_FALSE(c.requires_grad());
}

TEST_CASE("diamond graph: gradients meet at a shared node in the right order") {
  // x -> a = 2x -> (b = a², c = 3a) -> y = b + c ;  dy/dx = (2a + 3) · 2
  Tensor x = from_vector({1.5}).requires_grad_();
  Tensor a = x * scalar_t(2);
  Tensor y = (a * a + a * scalar_t(3)).sum();
  y.backward();
  CHECK(x.grad().item() == doctest::Approx((2 * 3.0 + 3) * 2));
}

// ---- grad(): gradients of chosen inputs, like torch.autograd.grad ----
TEST_CASE("grad returns d(output)/d(inputs) for leaves and intermediates and touches no .grad") {
  Tensor x = from_vector({1, -2, 0.5}).requires_grad_();
  Tensor w = from_vector({3, 1, 2}).requires_grad_();
  Tensor h = x * w;                  // intermediate
  Tensor y = sum(h * h);             // y = Σ (x w)²: dy/dh = 2h, dy/dx = 2 x w², dy/dw = 2 w x²
  const std::vector<Tensor> g = grad(y, {x, h}, Tensor(), /*retain_graph=*/true);
  CHECK(all_close(g[0], {2 * 1 * 9, 2 * -2 * 1, 2 * 0.5 * 4}));
  CHECK(all_close(g[1], {2 * 3, 2 * -2, 2 * 1}));
  CHECK_FALSE(x.grad().defined());   // nothing accumulated anywhere
  CHECK_FALSE(w.grad().defined());
  // the graph was kept: a second question works, and backward still fills .grad as usual
  CHECK(all_close(grad(y, {w}, Tensor(), true)[0], {2 * 3 * 1, 2 * 1 * 4, 2 * 2 * 0.25}));
  y.backward();
  CHECK(all_close(x.grad(), {18, -4, 4}));
}

TEST_CASE("grad with an explicit output gradient, a broadcast input and an input used twice") {
  Tensor a = from_vector({1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor b = from_vector({10, 20}, {2}).requires_grad_();  // broadcast over rows
  Tensor out = a * b + a;                                   // a used twice
  const Tensor seed = from_vector({1, 0, 0, 2}, {2, 2});
  const std::vector<Tensor> g = grad(out, {a, b}, seed);
  CHECK(all_close(g[0], {1 * 11, 0, 0, 2 * 21}));          // seed ⊙ (b + 1)
  CHECK(all_close(g[1], {1 * 1 + 0 * 3, 0 * 2 + 2 * 4}));  // Σ_rows seed ⊙ a
}

TEST_CASE("grad: unused inputs, inputs without grad and a leaf output") {
  Tensor x = from_vector({1, 2}).requires_grad_();
  Tensor unused = from_vector({5}).requires_grad_();
  Tensor y = sum(x * x);
  CHECK(throws_with([&] { grad(y, {unused}, Tensor(), true); }, "not used"));
  const std::vector<Tensor> g = grad(y, {x, unused}, Tensor(), true, /*allow_unused=*/true);
  CHECK(all_close(g[0], {2, 4}));
  CHECK_FALSE(g[1].defined());
  CHECK(throws_with([&] { grad(y, {from_vector({1})}, Tensor(), true); }, "does not require grad"));
  CHECK(throws_with([&] { grad(x, {x}); }, "one-element"));
  CHECK(all_close(grad(x, {x}, from_vector({3, 4}))[0], {3, 4}));  // a leaf's own gradient is the seed
}

TEST_CASE("grad agrees with backward on a small network, gradient for gradient") {
  Tensor x = param({4, 3}, 1), w1 = param({3, 5}, 2), w2 = param({5, 2}, 3);
  auto f = [&] { return sum(tanh(matmul(tanh(matmul(x, w1)), w2))); };
  Tensor y = f();
  const std::vector<Tensor> g = grad(y, {x, w1, w2});
  f().backward();
  CHECK(all_close(g[0], x.grad(), 1e-6, 1e-6));
  CHECK(all_close(g[1], w1.grad(), 1e-6, 1e-6));
  CHECK(all_close(g[2], w2.grad(), 1e-6, 1e-6));
}

TEST_CASE("post-accumulate-grad hooks fire once per pass, after the leaf's last contribution") {
  // w is used three times (two of them late in the forward, so early in the backward), b once.
  Tensor w = from_vector({2}).requires_grad_();
  Tensor b = from_vector({1}).requires_grad_();
  Tensor unused = from_vector({5}).requires_grad_();
  std::vector<std::string> order;
  std::vector<scalar_t> w_grad_seen;
  w.register_post_accumulate_grad_hook([&](Tensor& t) {
    order.push_back("w");
    w_grad_seen.push_back(t.grad().item());
  });
  b.register_post_accumulate_grad_hook([&](Tensor&) { order.push_back("b"); });
  unused.register_post_accumulate_grad_hook([&](Tensor&) { order.push_back("unused"); });
  Tensor h = w * b + b * scalar_t(0);  // dh/dw = b = 1, dh/db = w = 2
  Tensor y = h * w + w;                // dy/dw = h + w·b + 1 = 2 + 2 + 1 = 5; dy/db = w·w = 4
  y.backward();
  // w's hook ran once, with the complete gradient (all three contributions summed)
  REQUIRE(w_grad_seen.size() == 1);
  CHECK(w_grad_seen[0] == doctest::Approx(5));
  CHECK(b.grad().item() == doctest::Approx(4));
  CHECK(order.size() == 2);  // no call for a leaf the pass never reached
  // a second pass calls the hooks again; grad() calls none
  (w * w).sum().backward();
  CHECK(w_grad_seen.size() == 2);
  CHECK(w_grad_seen[1] == doctest::Approx(5 + 4));
  tessera::grad((w * w).sum(), {w});
  CHECK(w_grad_seen.size() == 2);
  // removed with an empty function; only leaves that require grad take a hook
  w.register_post_accumulate_grad_hook(nullptr);
  (w * w).sum().backward();
  CHECK(w_grad_seen.size() == 2);
  CHECK_THROWS_AS(h.register_post_accumulate_grad_hook([](Tensor&) {}), Error);
  CHECK_THROWS_AS(from_vector({1}).register_post_accumulate_grad_hook([](Tensor&) {}), Error);
}

TEST_CASE("a hook on a late layer's weight fires while the backward has not reached early layers") {
  Tensor first = from_vector({3}).requires_grad_();
  Tensor last = from_vector({2}).requires_grad_();
  bool first_had_grad_when_last_fired = true;
  last.register_post_accumulate_grad_hook([&](Tensor&) { first_had_grad_when_last_fired = first.grad().defined(); });
  Tensor x = from_vector({1});
  ((x * first).relu() * last).sum().backward();
  CHECK_FALSE(first_had_grad_when_last_fired);
  CHECK(first.grad().item() == doctest::Approx(2));
}
