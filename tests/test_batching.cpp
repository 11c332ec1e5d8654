// Tests for examples/translator/batching.h.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "examples/translator/batching.h"
#include "examples/translator/vocab.h"
#include "tests/helpers.h"

using namespace translator;
using Ids = std::vector<int64_t>;

namespace {

// Row b of a [B, W] index tensor.
Ids row(const tessera::IndexTensor& t, int64_t b) {
  const int64_t width = t.shape()[1];
  return Ids(t.data() + b * width, t.data() + (b + 1) * width);
}

}  // namespace

TEST_CASE("batching: padding, <bos>, <eos> and lengths") {
  // Without shuffling, one pool: sorted by source length then target length.
  const std::vector<Ids> sources = {{10, 11, 12}, {20}, {30, 31}};
  const std::vector<Ids> targets = {{40, 41}, {50, 51, 52}, {60}};
  const auto batches = make_batches(sources, targets, 2, false, 0, 0);
  REQUIRE(batches.size() == 2);
  const Batch& first = batches[0];  // pairs 1 and 2 (source lengths 1 and 2)
  CHECK(first.indices == Ids{1, 2});
  CHECK(first.source.shape() == tessera::Shape{2, 3});
  CHECK(row(first.source, 0) == Ids{20, 2, 0});
  CHECK(row(first.source, 1) == Ids{30, 31, 2});
  CHECK(first.source_lengths == Ids{2, 3});
  CHECK(first.target_input.shape() == tessera::Shape{2, 4});
  CHECK(row(first.target_input, 0) == Ids{1, 50, 51, 52});
  CHECK(row(first.target_output, 0) == Ids{50, 51, 52, 2});
  CHECK(row(first.target_input, 1) == Ids{1, 60, 0, 0});
  CHECK(row(first.target_output, 1) == Ids{60, 2, 0, 0});
  CHECK(first.target_lengths == Ids{4, 2});
  CHECK(first.num_target_tokens == 6);
  CHECK(first.size() == 2);
  const Batch& second = batches[1];
  CHECK(second.indices == Ids{0});
  CHECK(row(second.source, 0) == Ids{10, 11, 12, 2});
  CHECK(row(second.target_output, 0) == Ids{40, 41, 2});
  // Empty sentences still get their <eos>.
  const auto empty = make_batches({{}}, {{}}, 4, false, 0, 0);
  CHECK(row(empty[0].source, 0) == Ids{2});
  CHECK(row(empty[0].target_input, 0) == Ids{1});
  CHECK(row(empty[0].target_output, 0) == Ids{2});
}

TEST_CASE("batching: shuffled buckets cover every pair once, depend on (seed, epoch) only") {
  std::vector<Ids> sources, targets;
  tessera::Generator gen(5);
  for (int i = 0; i < 1000; ++i) {
    sources.push_back(Ids(1 + gen.randint(20), 4 + i % 7));
    targets.push_back(Ids(1 + gen.randint(20), 5));
  }
  const auto a = make_batches(sources, targets, 16, true, 42, 3);
  const auto b = make_batches(sources, targets, 16, true, 42, 3);
  const auto c = make_batches(sources, targets, 16, true, 42, 4);
  std::multiset<int64_t> seen;
  int64_t padded = 0, real = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    CHECK(a[k].indices == b[k].indices);
    CHECK(a[k].size() <= 16);
    seen.insert(a[k].indices.begin(), a[k].indices.end());
    // Sorted by source length within the batch (bucketing).
    CHECK(std::is_sorted(a[k].source_lengths.begin(), a[k].source_lengths.end()));
    for (int64_t r = 0; r < a[k].size(); ++r) {
      const Ids ids = row(a[k].source, r);
      const int64_t length = a[k].source_lengths[r];
      CHECK(ids[length - 1] == Vocab::kEos);
      CHECK(std::all_of(ids.begin() + length, ids.end(), [](int64_t id) { return id == Vocab::kPad; }));
      CHECK(length == static_cast<int64_t>(sources[a[k].indices[r]].size()) + 1);
      real += length;
      padded += static_cast<int64_t>(ids.size());
    }
  }
  CHECK(seen.size() == 1000);
  CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 1000);
  CHECK(a.front().indices != c.front().indices);  // another epoch, another order
  CHECK(static_cast<double>(real) / static_cast<double>(padded) > 0.9);  // bucketing keeps padding small
}

TEST_CASE("batching: source batches for translation, and errors") {
  const Batch batch = make_source_batch({{7, 8}, {9}});
  CHECK(batch.source.shape() == tessera::Shape{2, 3});
  CHECK(row(batch.source, 1) == Ids{9, 2, 0});
  CHECK(batch.source_lengths == Ids{3, 2});
  CHECK(!batch.target_input.defined());
  using tessera::testing::throws_with;
  CHECK(throws_with([] { make_batches({{5}}, {}, 2, false, 0, 0); }, "1 sources but 0 targets"));
  CHECK(throws_with([] { make_batches({{5}}, {{5}}, 0, false, 0, 0); }, "batch_size must be positive"));
  CHECK(throws_with([] { make_batches({{5, 2}}, {{5}}, 2, false, 0, 0); }, "source 0 contains the special id 2"));
  CHECK(throws_with([] { make_batches({{5}}, {{1, 5}}, 2, false, 0, 0); }, "target 0 contains the special id 1"));
  CHECK(throws_with([] { make_source_batch({}); }, "no sentences"));
}
