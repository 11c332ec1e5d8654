// tests/test_embedding.cpp — nn/embedding.cpp: lookup, padding_idx, gradients, errors.
//
// Lookups and gradients worked out by hand (repeated ids sum, the padding row gets nothing),
// gradcheck on the weight, the default init, and errors that name the bad id and its position.
#include <cmath>
#include <optional>
#include <vector>

#include "nn/embedding.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

// Row r of a [rows, dim] table holds 10 r, 10 r + 1, ...: every value names its row.
Tensor numbered_table(int64_t rows, int64_t dim) {
  std::vector<scalar_t> values;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < dim; ++j) values.push_back(static_cast<scalar_t>(10 * r + j));
  return from_vector(values, {rows, dim});
}

std::vector<scalar_t> row_of(const Tensor& t, int64_t r) {
  const int64_t dim = t.shape()[1];
  return std::vector<scalar_t>(t.data() + r * dim, t.data() + (r + 1) * dim);
}

}  // namespace

TEST_CASE("embedding: lookup known answer") {
  const Tensor table = numbered_table(4, 2);
  const IndexTensor ids({2, 0, 1, 2}, {2, 2});
  const Tensor out = nn::embedding(ids, table);
  CHECK(out.shape() == Shape{2, 2, 2});
  CHECK(all_close(out, {20, 21, 0, 1, 10, 11, 20, 21}, 0, 0));
  // 1-D ids and a rank-0-like single id
  CHECK(all_close(nn::embedding(IndexTensor({3}), table), {30, 31}, 0, 0));
  CHECK(nn::embedding(IndexTensor({3, 3, 0}), table).shape() == Shape{3, 2});
  // the output is a copy: changing it leaves the table alone
  Tensor copy = nn::embedding(IndexTensor({1}), table);
  copy.fill_(-1);
  CHECK(table.at({1, 0}) == 10);
}

TEST_CASE("embedding: the module looks up its weight and names it 'weight'") {
  manual_seed(61);
  nn::Embedding emb(6, 3);
  CHECK(emb.weight.shape() == Shape{6, 3});
  CHECK(emb.weight.requires_grad());
  REQUIRE(emb.named_parameters().size() == 1);
  CHECK(emb.named_parameters()[0].first == "weight");
  CHECK(emb.num_parameters() == 18);
  const Tensor out = emb(IndexTensor({5, 2, 5}, {1, 3}));
  CHECK(out.shape() == Shape{1, 3, 3});
  std::vector<scalar_t> expected;
  for (int64_t r : {5, 2, 5})
    for (scalar_t v : row_of(emb.weight, r)) expected.push_back(v);
  CHECK(out.to_vector() == expected);
  CHECK(emb.str() == "Embedding(6, 3)  # 18 parameters\n");
}

TEST_CASE("embedding: default init is N(0, 1) with the padding row zeroed") {
  manual_seed(62);
  nn::Embedding emb(1000, 64, 7);
  const int64_t n = emb.weight.numel();
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum += emb.weight.data()[i];
    sq += static_cast<double>(emb.weight.data()[i]) * emb.weight.data()[i];
  }
  const double mean = sum / static_cast<double>(n);
  const double stddev = std::sqrt(sq / static_cast<double>(n) - mean * mean);
  CHECK(std::abs(mean) < 0.02);
  CHECK(std::abs(stddev - 1) < 0.02);
  CHECK(row_of(emb.weight, 7) == std::vector<scalar_t>(64, 0));
  for (int64_t r : {0, 6, 8, 999}) CHECK(row_of(emb.weight, r) != std::vector<scalar_t>(64, 0));
  // the padding id looks up the zero row
  CHECK(emb(IndexTensor({7, 7})).to_vector() == std::vector<scalar_t>(128, 0));
  // a seed fixes the table
  manual_seed(62);
  nn::Embedding again(1000, 64, 7);
  CHECK(again.weight.to_vector() == emb.weight.to_vector());
}

TEST_CASE("embedding: repeated ids sum their gradients; the padding row gets none") {
  nn::Embedding emb(5, 2, /*padding_idx=*/1);
  {
    NoGradGuard no_grad;
    emb.weight.copy_(numbered_table(5, 2));
  }
  const IndexTensor ids({0, 1, 3, 0, 1});
  const Tensor out = emb(ids);
  // the padding row is looked up like any other (its values, not forced zeros)
  CHECK(all_close(out, {0, 1, 10, 11, 30, 31, 0, 1, 10, 11}, 0, 0));
  out.backward(from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {5, 2}));
  // row 0: positions 0 and 3 -> [1 + 7, 2 + 8]; row 1 is padding (positions 1, 4) -> 0;
  // row 3: position 2 -> [5, 6]; rows 2 and 4 unused -> 0
  CHECK(all_close(emb.weight.grad(), {8, 10, 0, 0, 0, 0, 5, 6, 0, 0}, 0, 0));

  // without padding_idx the same ids give row 1 the sum of positions 1 and 4
  Tensor table = numbered_table(5, 2).requires_grad_();
  nn::embedding(ids, table).backward(from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {5, 2}));
  CHECK(all_close(table.grad(), {8, 10, 12, 14, 0, 0, 5, 6, 0, 0}, 0, 0));
}

TEST_CASE("embedding: gradients through a loss that uses the lookup twice add up") {
  Tensor table = numbered_table(3, 2).requires_grad_();
  const IndexTensor ids({2, 2});
  // L = Σ e(ids) + 2 Σ e([2]) -> row 2 gets 1 + 1 + 2 per element
  (nn::embedding(ids, table).sum() + 2 * nn::embedding(IndexTensor({2}), table).sum()).backward();
  CHECK(all_close(table.grad(), {0, 0, 0, 0, 4, 4}, 0, 0));
}

TEST_CASE("embedding: gradcheck on the weight") {
  const IndexTensor ids({0, 3, 3, 1, 0, 2}, {2, 3});
  CHECK_GRAD([ids](auto& in) { return nn::embedding(ids, in[0]); }, {param({4, 3}, 63)});
  // With padding_idx the padding row is looked up but gets no gradient (on purpose, as in
  // PyTorch), so gradcheck must not differentiate it: the table is the checked rows with a
  // constant padding row appended.
  CHECK_GRAD([ids](auto& in) { return nn::embedding(ids, cat({in[0], zeros({1, 3})}, 0), 3); },
             {param({3, 3}, 64)});
  // a larger lookup, checked through projections; padding given as -1
  const IndexTensor many({1, 4, 4, 0, 2, 7, 7, 7, 3, 5, 6, 1}, {3, 4});
  CHECK_GRAD([many](auto& in) { return nn::embedding(many, cat({in[0], full({1, 6}, 0.5)}, 0), -1); },
             {param({7, 6}, 65)});
  // the output feeding a non-linear function
  CHECK_GRAD([ids](auto& in) { return tanh(nn::embedding(ids, in[0]) * in[1]); },
             {param({4, 3}, 66), param({3}, 67)});
}

TEST_CASE("embedding: a negative padding_idx counts from the end") {
  nn::Embedding last(5, 3, -1);
  REQUIRE(last.padding_idx.has_value());
  CHECK(*last.padding_idx == 4);
  CHECK(row_of(last.weight, 4) == std::vector<scalar_t>(3, 0));
  CHECK(row_of(last.weight, 0) != std::vector<scalar_t>(3, 0));
  CHECK(last.str() == "Embedding(5, 3, padding_idx=4)  # 15 parameters\n");
  nn::Embedding first(5, 3, -5);
  CHECK(*first.padding_idx == 0);
  CHECK(row_of(first.weight, 0) == std::vector<scalar_t>(3, 0));
  // the normalised index is the one that gets no gradient
  last(IndexTensor({4, 2})).sum().backward();
  CHECK(row_of(last.weight.grad(), 4) == std::vector<scalar_t>(3, 0));
  CHECK(row_of(last.weight.grad(), 2) == std::vector<scalar_t>(3, 1));

  // the functional form reads a negative padding_idx the same way
  Tensor table = numbered_table(5, 3).requires_grad_();
  nn::embedding(IndexTensor({4, 2}), table, -1).sum().backward();
  CHECK(row_of(table.grad(), 4) == std::vector<scalar_t>(3, 0));
  CHECK(row_of(table.grad(), 2) == std::vector<scalar_t>(3, 1));
}

TEST_CASE("embedding: errors name the bad id and its position") {
  const Tensor table = numbered_table(5, 2);
  CHECK(throws_with([&] { nn::embedding(IndexTensor({0, 7, 1}), table); }, "id 7 at position 1"));
  CHECK(throws_with([&] { nn::embedding(IndexTensor({0, 7, 1}), table); }, "5 rows"));
  CHECK(throws_with([&] { nn::embedding(IndexTensor({0, 1, -2}), table); }, "id -2 at position 2"));
  CHECK(throws_with([&] { nn::embedding(IndexTensor({0, 1, 2, 5}, {2, 2}), table); }, "id 5 at position 3"));
  CHECK(throws_with([&] { nn::embedding(IndexTensor({0}), zeros({5})); }, "[5]"));
  nn::Embedding emb(5, 2);
  CHECK(throws_with([&] { emb(IndexTensor({5})); }, "id 5 at position 0"));
  CHECK(throws_with([] { nn::Embedding(5, 2, 5); }, "padding_idx 5"));
  CHECK(throws_with([] { nn::Embedding(5, 2, -6); }, "padding_idx -6"));
  CHECK(throws_with([&] { nn::embedding(IndexTensor({0}), table, 5); }, "padding_idx 5"));
  CHECK(throws_with([&] { nn::embedding(IndexTensor({0}), table, -6); }, "padding_idx -6"));
  CHECK(throws_with([] { nn::Embedding(0, 2); }, "num_embeddings (0)"));
  CHECK(throws_with([] { nn::Embedding(3, 0); }, "embedding_dim (0)"));
}
