// tests/test_ops_shape.cpp — engine/ops_shape.cpp: reshape transpose permute unsqueeze squeeze
// expand cat stack split chunk narrow index_select gather.
//
// Each op: a gradient check, a small table whose answer is written out by hand, which results
// are views (sharing storage) and which are copies, and the errors for bad dims, sizes and
// indices.
#include <vector>

#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

// [0, 1, ..., n-1] in the given shape: element values are their own flat positions.
Tensor iota(const Shape& shape) { return reshape(arange(shape.numel()), shape); }

bool shares_storage(const Tensor& a, const Tensor& b) { return a.impl().storage == b.impl().storage; }

}  // namespace

// ---------------- gradient checks ----------------

TEST_CASE("shape: view ops pass gradcheck") {
  CHECK_GRAD([](auto& in) { return reshape(in[0], Shape{4, 3}); }, {param({2, 6}, 1)});
  CHECK_GRAD([](auto& in) { return reshape(in[0], Shape{-1, 4}); }, {param({2, 3, 4}, 2)});
  CHECK_GRAD([](auto& in) { return reshape(in[0], Shape{2, -1}); }, {param({2, 3, 4}, 3)});
  CHECK_GRAD([](auto& in) { return in[0].flatten(); }, {param({2, 3}, 4)});
  CHECK_GRAD([](auto& in) { return unsqueeze(in[0], 0); }, {param({2, 3}, 5)});
  CHECK_GRAD([](auto& in) { return unsqueeze(in[0], -1); }, {param({2, 3}, 6)});
  CHECK_GRAD([](auto& in) { return squeeze(in[0], 1); }, {param({2, 1, 3}, 7)});
  CHECK_GRAD([](auto& in) { return squeeze(in[0]); }, {param({1, 2, 1, 3, 1}, 8)});
  // a view used after an op that reads it: gradients of both uses add up
  CHECK_GRAD([](auto& in) { return reshape(in[0], Shape{6}) * reshape(in[0] * in[0], Shape{6}); }, {param({2, 3}, 9)});
}

TEST_CASE("shape: transpose, permute and expand pass gradcheck") {
  CHECK_GRAD([](auto& in) { return transpose(in[0], 0, 1); }, {param({3, 4}, 10)});
  CHECK_GRAD([](auto& in) { return in[0].t(); }, {param({3, 4}, 11)});
  CHECK_GRAD([](auto& in) { return transpose(in[0], 0, -1); }, {param({2, 3, 4}, 12)});
  CHECK_GRAD([](auto& in) { return transpose(in[0], 1, 1); }, {param({2, 3, 4}, 13)});
  CHECK_GRAD([](auto& in) { return permute(in[0], {2, 0, 1}); }, {param({2, 3, 4}, 14)});
  CHECK_GRAD([](auto& in) { return permute(in[0], {1, 3, 0, 2}); }, {param({2, 3, 2, 2}, 15)});
  CHECK_GRAD([](auto& in) { return permute(in[0], {-1, 0, 1}); }, {param({2, 3, 4}, 16)});
  CHECK_GRAD([](auto& in) { return expand(in[0], {2, 3, 4}); }, {param({3, 1}, 17)});
  CHECK_GRAD([](auto& in) { return expand(in[0], {3, 4}); }, {param({4}, 18)});
  CHECK_GRAD([](auto& in) { return expand(in[0], {2, 3}); }, {param({}, 19)});
  CHECK_GRAD([](auto& in) { return expand(in[0], {2, 3, 4}); }, {param({2, 1, 4}, 20)});
  CHECK_GRAD([](auto& in) { return expand(in[0], {2, -1, 4}); }, {param({3, 1}, 21)});  // -1 keeps a size
}

TEST_CASE("shape: cat and stack pass gradcheck") {
  CHECK_GRAD([](auto& in) { return cat({in[0], in[1], in[2]}, 0); },
             {param({2, 3}, 30), param({1, 3}, 31), param({3, 3}, 32)});
  CHECK_GRAD([](auto& in) { return cat({in[0], in[1]}, 1); }, {param({2, 3, 2}, 33), param({2, 1, 2}, 34)});
  CHECK_GRAD([](auto& in) { return cat({in[0], in[1]}, -1); }, {param({2, 3}, 35), param({2, 4}, 36)});
  CHECK_GRAD([](auto& in) { return cat({in[0], in[0]}, 0); }, {param({2, 3}, 37)});  // same tensor twice
  CHECK_GRAD([](auto& in) { return cat({in[0], in[1]}, 0); }, {param({2, 3}, 38), param({1, 3}, 39).detach()});
  CHECK_GRAD([](auto& in) { return stack({in[0], in[1]}, 0); }, {param({2, 3}, 40), param({2, 3}, 41)});
  CHECK_GRAD([](auto& in) { return stack({in[0], in[1], in[2]}, 1); },
             {param({2, 3}, 42), param({2, 3}, 43), param({2, 3}, 44)});
  CHECK_GRAD([](auto& in) { return stack({in[0], in[1]}, -1); }, {param({2, 3}, 45), param({2, 3}, 46)});
}

TEST_CASE("shape: split, chunk and narrow pass gradcheck") {
  // pieces put back in another order, so each piece's gradient must land in its own slice
  CHECK_GRAD([](auto& in) {
    const std::vector<Tensor> p = split(in[0], 2, 1);  // sizes 2, 2, 1
    return cat({p[2], p[0], p[1]}, 1);
  }, {param({3, 5}, 50)});
  CHECK_GRAD([](auto& in) {
    const std::vector<Tensor> p = split(in[0], std::vector<int64_t>{1, 3}, 0);
    return cat({p[1] * p[1], p[0]}, 0);
  }, {param({4, 2}, 51)});
  CHECK_GRAD([](auto& in) { return split(in[0], 2, -1)[1]; }, {param({2, 3, 4}, 52)});  // unused pieces
  CHECK_GRAD([](auto& in) {
    const std::vector<Tensor> c = chunk(in[0], 3, 0);
    return c[0] + c[1] * c[2];
  }, {param({6, 2}, 53)});
  // narrow: a view along dim 0 (and any dim preceded only by size-1 dims), a copy elsewhere
  CHECK_GRAD([](auto& in) { return narrow(in[0], 0, 1, 2); }, {param({4, 3}, 54)});
  CHECK_GRAD([](auto& in) { return narrow(in[0], 1, 1, 2); }, {param({4, 3}, 55)});
  CHECK_GRAD([](auto& in) { return narrow(in[0], -1, 2, 2); }, {param({2, 3, 4}, 56)});
  CHECK_GRAD([](auto& in) { return narrow(in[0], 1, 0, 2); }, {param({1, 3, 4}, 57)});
  CHECK_GRAD([](auto& in) { return in[0].narrow(0, 0, 1) * in[0].narrow(0, 2, 1); }, {param({3, 2}, 58)});
  CHECK_GRAD([](auto& in) { return narrow(narrow(in[0], 0, 1, 3), 1, 1, 2); }, {param({4, 3}, 59)});
}

TEST_CASE("shape: index_select and gather pass gradcheck, with repeated indices") {
  const IndexTensor rows({2, 0, 2, 3, 2});
  CHECK_GRAD([rows](auto& in) { return index_select(in[0], 0, rows); }, {param({4, 3}, 60)});
  const IndexTensor columns({1, 1, 0});
  CHECK_GRAD([columns](auto& in) { return index_select(in[0], 1, columns); }, {param({2, 3, 2}, 61)});
  CHECK_GRAD([columns](auto& in) { return index_select(in[0], -1, columns); }, {param({2, 3}, 62)});
  const IndexTensor ids({1, 3, 1, 1, 0, 3}, {2, 3});  // an embedding lookup with a [2, 3] batch of ids
  CHECK_GRAD([ids](auto& in) { return index_select(in[0], 0, ids); }, {param({4, 2}, 63)});
  const IndexTensor middle({3, 0, 3, 3}, {2, 2});  // a 2-D index along a middle dim: [2, 4, 3] -> [2, 2, 2, 3]
  CHECK_GRAD([middle](auto& in) { return index_select(in[0], 1, middle); }, {param({2, 4, 3}, 67)});

  const IndexTensor g1({0, 0, 2, 1, 2, 2}, {2, 3});
  CHECK_GRAD([g1](auto& in) { return gather(in[0], 1, g1); }, {param({2, 3}, 64)});
  const IndexTensor g0({1, 0, 1, 1}, {1, 4});
  CHECK_GRAD([g0](auto& in) { return gather(in[0], 0, g0); }, {param({2, 4}, 65)});
  const IndexTensor g2({0, 3, 3, 1, 2, 0, 0, 0}, {2, 2, 2});  // index smaller than the input in dim 1
  CHECK_GRAD([g2](auto& in) { return gather(in[0], -1, g2); }, {param({2, 3, 4}, 66)});
  const IndexTensor g3({2, 2, 0, 1, 1, 1}, {1, 3, 2});  // along a middle dim, smaller in dims 0 and 2
  CHECK_GRAD([g3](auto& in) { return gather(in[0], 1, g3); }, {param({2, 3, 4}, 68)});
}

// ---------------- known values, views and copies ----------------

TEST_CASE("shape: reshape is a view; -1 is inferred") {
  const Tensor x = iota({2, 3, 4});
  const Tensor a = reshape(x, Shape{-1, 4});
  CHECK(a.shape() == Shape{6, 4});
  CHECK(a.data() == x.data());
  CHECK(reshape(x, Shape{2, -1}).shape() == Shape{2, 12});
  CHECK(reshape(x, Shape{-1}).shape() == Shape{24});
  CHECK(reshape(x, Shape{4, -1, 3}).shape() == Shape{4, 2, 3});
  CHECK(reshape(x, Shape{-1, 6}).shape() == Shape{4, 6});  // a Shape may hold the -1 too
  CHECK(x.reshape({3, -1}).shape() == Shape{3, 8});
  CHECK(x.view({-1}).shape() == Shape{24});
  CHECK(reshape(zeros({0, 3}), Shape{3, -1}).shape() == Shape{3, 0});
  CHECK(reshape(scalar_tensor(5), Shape{1, 1}).shape() == Shape{1, 1});
  CHECK(reshape(x, Shape{24}).at({17}) == 17);
  CHECK(x.view({4, 6}).at({2, 1}) == 13);
  // writing through the view changes the original
  Tensor v = reshape(x, Shape{24});
  v.data()[5] = -1;
  CHECK(x.at({0, 1, 1}) == -1);
}

TEST_CASE("shape: transpose and permute give known layouts (copies)") {
  const Tensor m = iota({2, 3});  // [[0, 1, 2], [3, 4, 5]]
  const Tensor t = transpose(m, 0, 1);
  CHECK(t.shape() == Shape{3, 2});
  CHECK(all_close(t, {0, 3, 1, 4, 2, 5}, 0, 0));
  CHECK_FALSE(shares_storage(t, m));

  // x[i][j][k] = 12i + 4j + k; permute {2, 0, 1}: out[k][i][j] = x[i][j][k]
  const Tensor x = iota({2, 3, 4});
  const Tensor p = permute(x, {2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(all_close(p, {0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23}, 0, 0));
  // permute {1, 0, 2}: out[j][i][k]
  CHECK(all_close(permute(x, {1, 0, 2}),
                  {0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7, 16, 17, 18, 19, 8, 9, 10, 11, 20, 21, 22, 23}, 0, 0));
  // transpose(0, 2): out[k][j][i]
  const Tensor t02 = transpose(x, 0, 2);
  CHECK(t02.shape() == Shape{4, 3, 2});
  CHECK(t02.at({1, 2, 1}) == 12 + 8 + 1);
  CHECK(all_close(permute(permute(x, {2, 0, 1}), {1, 2, 0}), x, 0, 0));  // inverse permutations
  CHECK(all_close(permute(x, {0, 1, 2}), x, 0, 0));

  // the backward applies the inverse permutation
  const Tensor leaf = iota({2, 3, 4}).detach().requires_grad_();
  permute(leaf, {2, 0, 1}).backward(permute(x, {2, 0, 1}));
  CHECK(all_close(leaf.grad(), x, 0, 0));
}

TEST_CASE("shape: unsqueeze and squeeze") {
  const Tensor x = iota({2, 3});
  CHECK(unsqueeze(x, 0).shape() == Shape{1, 2, 3});
  CHECK(unsqueeze(x, 1).shape() == Shape{2, 1, 3});
  CHECK(unsqueeze(x, 2).shape() == Shape{2, 3, 1});
  CHECK(unsqueeze(x, -1).shape() == Shape{2, 3, 1});
  CHECK(unsqueeze(x, -3).shape() == Shape{1, 2, 3});
  CHECK(unsqueeze(scalar_tensor(1), 0).shape() == Shape{1});
  CHECK(unsqueeze(x, 1).data() == x.data());  // a view
  const Tensor y = zeros({1, 2, 1, 3});
  CHECK(squeeze(y, 0).shape() == Shape{2, 1, 3});
  CHECK(squeeze(y, -2).shape() == Shape{1, 2, 3});
  CHECK(squeeze(y, 1).shape() == Shape{1, 2, 1, 3});  // not size 1: unchanged, like torch
  CHECK(squeeze(y).shape() == Shape{2, 3});
  CHECK(squeeze(ones({1, 1})).shape() == Shape{});
  CHECK(squeeze(unsqueeze(x, 1), 1).shape() == x.shape());
}

TEST_CASE("shape: expand broadcasts by copying; its gradient sums back") {
  const Tensor c = from_vector({1, 2, 3}, {3, 1}).requires_grad_();
  const Tensor e = expand(c, {2, 3, 2});
  CHECK(e.shape() == Shape{2, 3, 2});
  CHECK(all_close(e, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}, 0, 0));
  e.sum().backward();
  CHECK(c.grad().shape() == Shape{3, 1});
  CHECK(all_close(c.grad(), {4, 4, 4}, 0, 0));
  CHECK(all_close(expand(from_vector({1, 2}), {2, 2}), {1, 2, 1, 2}, 0, 0));
  CHECK(all_close(expand(scalar_tensor(7), {2}), {7, 7}, 0, 0));
  CHECK(expand(c, {3, 1}).same(c));  // already that shape
  CHECK(expand(c, {-1, 2}).shape() == Shape{3, 2});  // -1 keeps the input's size
  CHECK(all_close(expand(c, {2, -1, -1}), {1, 2, 3, 1, 2, 3}, 0, 0));
}

TEST_CASE("shape: cat and stack give known values; cat and split round-trip") {
  const Tensor a = from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = from_vector({7, 8, 9}, {1, 3});
  const Tensor c = from_vector({10, 11, 12, 13}, {2, 2});
  CHECK(all_close(cat({a, b}, 0), {1, 2, 3, 4, 5, 6, 7, 8, 9}, 0, 0));
  CHECK(cat({a, b}, 0).shape() == Shape{3, 3});
  CHECK(all_close(cat({a, c}, 1), {1, 2, 3, 10, 11, 4, 5, 6, 12, 13}, 0, 0));
  CHECK(cat({a, c}, -1).shape() == Shape{2, 5});
  CHECK(all_close(cat({a}, 0), a, 0, 0));

  const Tensor d = from_vector({7, 8, 9, 10, 11, 12}, {2, 3});
  CHECK(all_close(stack({a, d}, 0), {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 0, 0));
  CHECK(stack({a, d}, 0).shape() == Shape{2, 2, 3});
  CHECK(all_close(stack({a, d}, 1), {1, 2, 3, 7, 8, 9, 4, 5, 6, 10, 11, 12}, 0, 0));
  CHECK(all_close(stack({a, d}, 2), {1, 7, 2, 8, 3, 9, 4, 10, 5, 11, 6, 12}, 0, 0));
  CHECK(stack({a, d}, -1).shape() == Shape{2, 3, 2});
  CHECK(stack({scalar_tensor(1), scalar_tensor(2)}, 0).shape() == Shape{2});

  // round trips: split then cat gives back the tensor, along every dim
  const Tensor x = iota({5, 4, 3});
  for (int dim = 0; dim < 3; ++dim) {
    CAPTURE(dim);
    const std::vector<Tensor> pieces = split(x, 2, dim);
    CHECK(pieces.size() == static_cast<size_t>((x.shape()[dim] + 1) / 2));
    CHECK(all_close(cat(pieces, dim), x, 0, 0));
    CHECK(all_close(cat(chunk(x, 2, dim), dim), x, 0, 0));
  }
  const std::vector<Tensor> s = split(x, std::vector<int64_t>{1, 0, 3}, 1);
  REQUIRE(s.size() == 3);
  CHECK(s[0].shape() == Shape{5, 1, 3});
  CHECK(s[1].shape() == Shape{5, 0, 3});
  CHECK(s[2].shape() == Shape{5, 3, 3});
  CHECK(all_close(cat(s, 1), x, 0, 0));
}

TEST_CASE("shape: split and chunk sizes follow torch") {
  const Tensor x = iota({5, 2});
  const std::vector<Tensor> s = split(x, 2, 0);  // 2, 2, 1
  REQUIRE(s.size() == 3);
  CHECK(all_close(s[0], {0, 1, 2, 3}, 0, 0));
  CHECK(all_close(s[1], {4, 5, 6, 7}, 0, 0));
  CHECK(all_close(s[2], {8, 9}, 0, 0));
  CHECK(split(x, 7, 0).size() == 1);
  const std::vector<Tensor> c = chunk(x, 3, 0);  // ceil(5 / 3) = 2: sizes 2, 2, 1
  REQUIRE(c.size() == 3);
  CHECK(c[2].shape() == Shape{1, 2});
  CHECK(chunk(arange(6), 4).size() == 3);  // ceil(6 / 4) = 2: three pieces, as torch.chunk
  CHECK(chunk(arange(6), 6).size() == 6);
  CHECK(chunk(arange(2), 5).size() == 2);
  const std::vector<Tensor> cols = chunk(x, 2, 1);
  REQUIRE(cols.size() == 2);
  CHECK(all_close(cols[1], {1, 3, 5, 7, 9}, 0, 0));
}

TEST_CASE("shape: narrow is a view along dim 0 and a copy along later dims") {
  const Tensor x = iota({4, 3});  // [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
  const Tensor rows = narrow(x, 0, 1, 2);
  CHECK(rows.shape() == Shape{2, 3});
  CHECK(all_close(rows, {3, 4, 5, 6, 7, 8}, 0, 0));
  CHECK(shares_storage(rows, x));
  CHECK(rows.data() == x.data() + 3);
  const Tensor cols = narrow(x, 1, 1, 2);
  CHECK(cols.shape() == Shape{4, 2});
  CHECK(all_close(cols, {1, 2, 4, 5, 7, 8, 10, 11}, 0, 0));
  CHECK_FALSE(shares_storage(cols, x));
  // preceded only by size-1 dims: still one contiguous block, so a view
  const Tensor y = iota({1, 4, 3});
  CHECK(shares_storage(narrow(y, 1, 2, 2), y));
  CHECK(all_close(narrow(y, 1, 2, 2), {6, 7, 8, 9, 10, 11}, 0, 0));
  CHECK(narrow(x, 0, 4, 0).shape() == Shape{0, 3});
  // a narrow of a view (non-zero offset), both view and copy
  CHECK(all_close(narrow(narrow(x, 0, 1, 3), 0, 1, 2), {6, 7, 8, 9, 10, 11}, 0, 0));
  CHECK(all_close(narrow(narrow(x, 0, 1, 3), 1, 2, 1), {5, 8, 11}, 0, 0));
  CHECK(all_close(cat({narrow(x, 0, 3, 1), narrow(x, 0, 0, 1)}, 0), {9, 10, 11, 0, 1, 2}, 0, 0));

  // gradients land in the slice, zeros elsewhere, for both the view and the copy
  const Tensor leaf = iota({4, 3}).detach().requires_grad_();
  narrow(leaf, 0, 1, 2).sum().backward();
  CHECK(all_close(leaf.grad(), {0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0}, 0, 0));
  leaf.zero_grad();
  narrow(leaf, 1, 2, 1).backward(from_vector({1, 2, 3, 4}, {4, 1}));
  CHECK(all_close(leaf.grad(), {0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4}, 0, 0));
  // a view's gradient must be a fresh buffer: accumulating into it must not write through
  leaf.zero_grad();
  const Tensor g = from_vector({1, 1, 1, 1, 1, 1}, {2, 3});
  narrow(leaf, 0, 0, 2).backward(g);
  narrow(leaf, 0, 0, 2).backward(g);
  CHECK(all_close(g, {1, 1, 1, 1, 1, 1}, 0, 0));
  CHECK(all_close(leaf.grad(), {2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0}, 0, 0));
}

TEST_CASE("shape: index_select picks rows and scatter-adds their gradients") {
  const Tensor table = iota({4, 3}).detach().requires_grad_();  // row r = [3r, 3r + 1, 3r + 2]
  const Tensor picked = index_select(table, 0, IndexTensor({2, 0, 2}));
  CHECK(picked.shape() == Shape{3, 3});
  CHECK(all_close(picked, {6, 7, 8, 0, 1, 2, 6, 7, 8}, 0, 0));
  picked.sum().backward();
  CHECK(all_close(table.grad(), {1, 1, 1, 0, 0, 0, 2, 2, 2, 0, 0, 0}, 0, 0));

  // an embedding lookup: a [2, 2] batch of ids gives [2, 2, 3]
  const Tensor emb = index_select(table.detach(), 0, IndexTensor({3, 1, 1, 0}, {2, 2}));
  CHECK(emb.shape() == Shape{2, 2, 3});
  CHECK(all_close(emb, {9, 10, 11, 3, 4, 5, 3, 4, 5, 0, 1, 2}, 0, 0));
  // along dim 1, with a repeated index
  const Tensor cols = index_select(table.detach(), 1, IndexTensor({2, 2, 0}));
  CHECK(cols.shape() == Shape{4, 3});
  CHECK(all_close(cols, {2, 2, 0, 5, 5, 3, 8, 8, 6, 11, 11, 9}, 0, 0));
  table.zero_grad();
  index_select(table, -1, IndexTensor({2, 2, 0})).backward(full({4, 3}, 0.5));
  CHECK(all_close(table.grad(), {0.5, 0, 1, 0.5, 0, 1, 0.5, 0, 1, 0.5, 0, 1}, 0, 0));
  // a rank-0 index removes the dim
  CHECK(index_select(table.detach(), 0, IndexTensor({1}, Shape{})).shape() == Shape{3});
  CHECK(index_select(table.detach(), 0, IndexTensor(std::vector<int64_t>{})).shape() == Shape{0, 3});
}

TEST_CASE("shape: gather picks along a dim and scatter-adds its gradient") {
  // torch.gather's doc example: gather([[1, 2], [3, 4]], 1, [[0, 0], [1, 0]]) = [[1, 1], [4, 3]]
  const Tensor a = from_vector({1, 2, 3, 4}, {2, 2}).requires_grad_();
  const Tensor out = gather(a, 1, IndexTensor({0, 0, 1, 0}, {2, 2}));
  CHECK(out.shape() == Shape{2, 2});
  CHECK(all_close(out, {1, 1, 4, 3}, 0, 0));
  out.sum().backward();
  CHECK(all_close(a.grad(), {2, 0, 1, 1}, 0, 0));

  // along dim 0: out[0][j] = x[index[0][j]][j] on x = iota([3, 3])
  const Tensor x = iota({3, 3});
  CHECK(all_close(gather(x, 0, IndexTensor({2, 1, 0}, {1, 3})), {6, 4, 2}, 0, 0));
  // the index may be smaller than the input in the other dims
  CHECK(all_close(gather(x, 1, IndexTensor({2, 0}, {2, 1})), {2, 3}, 0, 0));
  // picking the target class's log-probability, as a loss does
  const Tensor logp = from_vector({-0.1, -2, -3, -1.5, -0.5, -4}, {2, 3});
  CHECK(all_close(gather(logp, 1, IndexTensor({0, 1}, {2, 1})), {-0.1, -0.5}, 1e-7, 1e-6));
}

// ---------------- errors ----------------

TEST_CASE("shape: bad shapes, dims and indices throw errors that name the op") {
  const Tensor x = zeros({2, 3});
  SUBCASE("reshape") {
    CHECK(throws_with([&] { (void)reshape(x, Shape{4, 2}); },
                      "reshape: cannot view shape [2, 3] (6 elements) as [4, 2] (8 elements)"));
    CHECK(throws_with([&] { (void)reshape(x, Shape{-1, 4}); },
                      "reshape: cannot view shape [2, 3] as [-1, 4]: 6 elements do not divide into chunks of 4"));
    CHECK(throws_with([&] { (void)reshape(x, Shape{5, -1}); }, "reshape: cannot view shape [2, 3] as [5, -1]"));
    CHECK(throws_with([&] { (void)reshape(x, Shape{-1, -1}); }, "reshape: only one size may be -1, got [-1, -1]"));
    CHECK(throws_with([&] { (void)reshape(x, Shape{-2, 3}); }, "shape: size -2 is negative"));
    CHECK(throws_with([&] { (void)reshape(x, Shape{0, -1}); }, "reshape: cannot view shape [2, 3] as [0, -1]"));
    CHECK(throws_with([&] { (void)x.reshape({7}); }, "reshape: cannot view shape [2, 3] (6 elements) as [7] (7 elements)"));
  }
  SUBCASE("dims out of range") {
    CHECK(throws_with([&] { (void)transpose(x, 0, 2); },
                      "transpose: dim 2 is out of range for a tensor of rank 2 (valid: -2..1)"));
    CHECK(throws_with([&] { (void)transpose(x, -3, 0); }, "transpose: dim -3 is out of range"));
    CHECK(throws_with([&] { (void)permute(x, {0}); }, "permute: 1 dims given for a tensor of rank 2 (shape [2, 3])"));
    CHECK(throws_with([&] { (void)permute(x, {1, 1}); }, "permute: dim 1 appears twice in the permutation"));
    CHECK(throws_with([&] { (void)permute(x, {0, 2}); }, "permute: dim 2 is out of range"));
    CHECK(throws_with([&] { (void)unsqueeze(x, 3); }, "unsqueeze: dim 3 is out of range"));
    CHECK(throws_with([&] { (void)unsqueeze(x, -4); }, "unsqueeze: dim -4 is out of range"));
    CHECK(throws_with([&] { (void)squeeze(x, 2); }, "squeeze: dim 2 is out of range"));
    CHECK(throws_with([&] { (void)narrow(x, 2, 0, 1); }, "narrow: dim 2 is out of range"));
    CHECK(throws_with([&] { (void)split(x, 1, 5); }, "split: dim 5 is out of range"));
    CHECK(throws_with([&] { (void)chunk(x, 2, -3); }, "chunk: dim -3 is out of range"));
    CHECK(throws_with([&] { (void)index_select(x, 2, IndexTensor({0})); }, "index_select: dim 2 is out of range"));
    CHECK(throws_with([&] { (void)gather(x, 2, IndexTensor({0, 0}, {1, 2})); }, "gather: dim 2 is out of range"));
    CHECK(throws_with([&] { (void)cat({x, x}, 2); }, "cat: dim 2 is out of range"));
    CHECK(throws_with([&] { (void)stack({x, x}, 3); }, "stack: dim 3 is out of range"));
  }
  SUBCASE("expand") {
    CHECK(throws_with([&] { (void)expand(x, {4, 3}); },
                      "expand: shape [2, 3] cannot be expanded to [4, 3]: size 2 at dim 0 must be 1 or 4"));
    CHECK(throws_with([&] { (void)expand(x, {3}); }, "expand: cannot expand shape [2, 3] to the smaller rank of [3]"));
    CHECK(throws_with([&] { (void)expand(x, {-1, 2, 3}); },
                      "expand: -1 at dim 0 of [-1, 2, 3] has no matching dim in the input [2, 3]"));
  }
  SUBCASE("cat and stack") {
    CHECK(throws_with([&] { (void)cat({x, zeros({3})}, 0); },
                      "cat: tensor 1 has rank 1 but tensor 0 has rank 2 (shapes [3] and [2, 3])"));
    CHECK(throws_with([&] { (void)cat({x, zeros({2, 4})}, 0); },
                      "cat: sizes must match except in dim 0, but tensor 1 has shape [2, 4] and tensor 0 has [2, 3]"));
    CHECK(throws_with([&] { (void)cat({x, x, zeros({3, 3})}, 1); },
                      "cat: sizes must match except in dim 1, but tensor 2 has shape [3, 3]"));
    CHECK(throws_with([&] { (void)cat({}, 0); }, "cat: expected a non-empty list of tensors"));
    CHECK(throws_with([&] { (void)stack({x, zeros({3, 2})}, 0); },
                      "stack: all tensors must have the same shape, but tensor 1 has [3, 2] and tensor 0 has [2, 3]"));
    CHECK(throws_with([&] { (void)stack({}, 0); }, "stack: expected a non-empty list of tensors"));
  }
  SUBCASE("split, chunk and narrow") {
    const Tensor y = zeros({5, 4});
    CHECK(throws_with([&] { (void)split(y, std::vector<int64_t>{1, 3}, 0); },
                      "split: sizes sum to 4 but dim 0 has size 5 (shape [5, 4])"));
    CHECK(throws_with([&] { (void)split(y, 0, 0); }, "split: split_size must be positive, got 0"));
    CHECK(throws_with([&] { (void)chunk(y, 0, 0); }, "chunk: number of chunks must be positive, got 0"));
    CHECK(throws_with([&] { (void)narrow(y, 0, 3, 3); },
                      "narrow: slice [3, 6) is out of range for dim 0 of size 5 (shape [5, 4])"));
    CHECK(throws_with([&] { (void)narrow(y, 1, -1, 2); }, "narrow: slice [-1, 1) is out of range for dim 1 of size 4"));
    CHECK(throws_with([&] { (void)narrow(y, 1, 1, -1); }, "narrow: slice [1, 0) is out of range"));
  }
  SUBCASE("index_select and gather indices") {
    const Tensor t = zeros({4, 3});
    CHECK(throws_with([&] { (void)index_select(t, 0, IndexTensor({1, 4})); },
                      "index_select: index 4 (at position 1) is out of range for dim 0 of size 4 (shape [4, 3])"));
    CHECK(throws_with([&] { (void)index_select(t, 1, IndexTensor({-1})); },
                      "index_select: index -1 (at position 0) is out of range for dim 1 of size 3"));
    const Tensor a = zeros({2, 2});
    CHECK(throws_with([&] { (void)gather(a, 1, IndexTensor({0, 2}, {1, 2})); },
                      "gather: index 2 is out of range for dim 1 of size 2"));
    CHECK(throws_with([&] { (void)gather(a, 0, IndexTensor({-1, 0}, {1, 2})); },
                      "gather: index -1 is out of range for dim 0 of size 2"));
    CHECK(throws_with([&] { (void)gather(a, 1, IndexTensor({0, 1})); },
                      "gather: index has rank 1 but the input has rank 2 (shapes [2] and [2, 2])"));
    CHECK(throws_with([&] { (void)gather(a, 1, IndexTensor({0, 0, 0}, {3, 1})); },
                      "gather: index shape [3, 1] is larger than input shape [2, 2] at dim 0"));
  }
}
