// tests/test_tensor.cpp — making tensors, views, printing, IndexTensor.
#include <algorithm>
#include <vector>

#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

TEST_CASE("factories fill as asked") {
  CHECK(all_close(zeros({2, 2}), {0, 0, 0, 0}));
  CHECK(all_close(ones({3}), {1, 1, 1}));
  CHECK(all_close(full({2}, 7), {7, 7}));
  CHECK(all_close(arange(4), {0, 1, 2, 3}));
  Tensor s = scalar_tensor(2.5);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 2.5);
  Tensor t = from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.size(-1) == 3);
  CHECK(t.at({1, 2}) == 6);
  CHECK(throws_with([] { from_vector({1, 2, 3}, {2, 2}); }, "3 values cannot fill shape [2, 2]"));
  CHECK(throws_with([&] { (void)t.item(); }, "exactly one"));
  CHECK(throws_with([&] { (void)t.at({2, 0}); }, "out of range"));
  CHECK(throws_with([&] { (void)t.size(2); }, "dim 2 is out of range"));
}

TEST_CASE("empty tensors are allowed") {
  Tensor e = zeros({0, 3});
  CHECK(e.numel() == 0);
  CHECK(sum(e).item() == 0);
  CHECK(add(e, e).numel() == 0);
}

TEST_CASE("reshape, unsqueeze, squeeze and a leading narrow are views sharing storage") {
  Tensor t = arange(6);
  Tensor r = t.reshape({2, 3});
  CHECK(r.data() == t.data());
  CHECK(unsqueeze(r, 0).data() == t.data());
  CHECK(squeeze(unsqueeze(r, 0), 0).shape() == Shape{2, 3});
  Tensor row = r.narrow(0, 1, 1);
  CHECK(row.data() == t.data() + 3);
  CHECK(all_close(row, {3, 4, 5}));
}

TEST_CASE("clone copies and stays differentiable; copy_ and fill_ write in place") {
  Tensor x = from_vector({1, 2}).requires_grad_();
  Tensor c = x.clone();
  CHECK(c.data() != x.data());
  (c * c).sum().backward();
  CHECK(all_close(x.grad(), {2, 4}));
  Tensor y = zeros({2});
  y.copy_(from_vector({5, 6}));
  CHECK(all_close(y, {5, 6}));
  y.fill_(1);
  CHECK(all_close(y, {1, 1}));
  CHECK(throws_with([&] { y.copy_(zeros({3})); }, "copy_"));
}

TEST_CASE("str prints values, shape and grad_fn") {
  Tensor t = from_vector({1, 2, 3, 4}, {2, 2});
  CHECK(t.str() == "tensor([[1.0000, 2.0000], [3.0000, 4.0000]], shape=[2, 2])");
  Tensor x = ones({2}).requires_grad_();
  CHECK(x.str().find("requires_grad=true") != std::string::npos);
  CHECK((x * x).str().find("grad_fn=mul") != std::string::npos);
  CHECK(arange(10).str().find("...") != std::string::npos);
  CHECK(Tensor().str() == "tensor(undefined)");
}

TEST_CASE("shape helpers") {
  CHECK(Shape{2, 3}.str() == "[2, 3]");
  CHECK(Shape{}.numel() == 1);
  CHECK(broadcast_shapes({2, 1, 4}, {3, 1}, "t") == Shape{2, 3, 4});
  CHECK(throws_with([] { broadcast_shapes({2, 3}, {4}, "add"); }, "add: shapes [2, 3] and [4] cannot be broadcast"));
  CHECK(normalize_dim(-1, 3, "t") == 2);
  CHECK(throws_with([] { Shape{1, 2, 3, 4, 5, 6, 7, 8}.insert(0, 1); }, "maximum"));
}

TEST_CASE("IndexTensor holds int64 values with a shape") {
  IndexTensor ix({1, 2, 3, 4}, {2, 2});
  CHECK(ix.shape() == Shape{2, 2});
  CHECK(ix.data()[3] == 4);
  CHECK(ix.reshape({4}).dim() == 1);
  CHECK(throws_with([] { IndexTensor({1, 2, 3}, {2, 2}); }, "cannot fill"));
}

// GCC 12 with AVX-512VL turns a constant vector whose second half is zero into a broadcast of
// its first value (meson.build turns AVX-512 code generation off for it). If this fails, the
// compiler miscompiles constants everywhere: rebuild with -Dnative=false.
TEST_CASE("the toolchain builds constant vectors correctly (GCC 12 AVX-512 miscompile)") {
  const std::vector<int> ints{3, 3, 3, 3, 0, 0, 0, 0};
  const std::vector<float> floats{1, 1, 1, 1, 1, 1, 0, 0};
  CHECK(ints[4] == 0);
  CHECK(floats[6] == 0);
  CHECK(std::count(ints.begin(), ints.end(), 0) == 4);
  CHECK(std::count(floats.begin(), floats.end(), 0.0f) == 2);
}
