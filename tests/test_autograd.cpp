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
