// examples/translator/batching.cpp — see batching.h.
#include "examples/translator/batching.h"

#include <algorithm>
#include <numeric>

#include "engine/error.h"
#include "engine/random.h"
#include "examples/translator/vocab.h"

namespace translator {

namespace {

constexpr int64_t kBatchesPerPool = 50;

// A seed for epoch `epoch` of a run seeded `seed` (splitmix64 of both, so nearby seeds and
// epochs give unrelated streams).
uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (static_cast<uint64_t>(epoch) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void check_ids(const char* op, const std::vector<int64_t>& ids, const char* side, size_t row) {
  for (const int64_t id : ids)
    TS_CHECK(id >= Vocab::kNumSpecial || id == Vocab::kUnk,
             "{}: {} {} contains the special id {}: pass the sentence's tokens only, without "
             "<pad>/<bos>/<eos> (batching adds them)", op, side, row, id);
}

// Rows `rows` of sources (with <eos> appended) as a [B, S] tensor padded with <pad>.
void fill_sources(Batch& batch, const std::vector<std::vector<int64_t>>& sources, const std::vector<int64_t>& rows) {
  int64_t width = 1;
  for (const int64_t r : rows) width = std::max<int64_t>(width, static_cast<int64_t>(sources[r].size()) + 1);
  std::vector<int64_t> ids(rows.size() * width, Vocab::kPad);
  for (size_t b = 0; b < rows.size(); ++b) {
    const auto& s = sources[rows[b]];
    std::copy(s.begin(), s.end(), ids.begin() + static_cast<int64_t>(b) * width);
    ids[b * width + s.size()] = Vocab::kEos;
    batch.source_lengths.push_back(static_cast<int64_t>(s.size()) + 1);
  }
  batch.source = tessera::IndexTensor(std::move(ids), {static_cast<int64_t>(rows.size()), width});
  batch.indices = rows;
}

}  // namespace

std::vector<Batch> make_batches(const std::vector<std::vector<int64_t>>& sources,
                                const std::vector<std::vector<int64_t>>& targets, int64_t batch_size, bool shuffle,
                                uint64_t seed, int64_t epoch) {
  TS_CHECK(sources.size() == targets.size(), "make_batches: {} sources but {} targets", sources.size(),
           targets.size());
  TS_CHECK(batch_size > 0, "make_batches: batch_size must be positive, got {}", batch_size);
  const int64_t n = static_cast<int64_t>(sources.size());
  for (int64_t i = 0; i < n; ++i) {
    check_ids("make_batches", sources[i], "source", static_cast<size_t>(i));
    check_ids("make_batches", targets[i], "target", static_cast<size_t>(i));
  }

  tessera::Generator gen(epoch_seed(seed, epoch));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle) order = gen.permutation(n);

  // Bucket within pools, then cut batches.
  const int64_t pool = batch_size * kBatchesPerPool;
  std::vector<std::vector<int64_t>> groups;
  for (int64_t start = 0; start < n; start += pool) {
    const auto first = order.begin() + start, last = order.begin() + std::min(n, start + pool);
    std::stable_sort(first, last, [&](int64_t a, int64_t b) {
      if (sources[a].size() != sources[b].size()) return sources[a].size() < sources[b].size();
      return targets[a].size() < targets[b].size();
    });
    for (auto it = first; it < last; it += std::min<int64_t>(batch_size, last - it)) groups.emplace_back(it, std::min(it + batch_size, last));
  }
  if (shuffle) {
    const std::vector<int64_t> batch_order = gen.permutation(static_cast<int64_t>(groups.size()));
    std::vector<std::vector<int64_t>> shuffled;
    shuffled.reserve(groups.size());
    for (const int64_t g : batch_order) shuffled.push_back(std::move(groups[g]));
    groups = std::move(shuffled);
  }

  std::vector<Batch> batches;
  batches.reserve(groups.size());
  for (const std::vector<int64_t>& rows : groups) {
    Batch batch;
    fill_sources(batch, sources, rows);
    int64_t width = 1;
    for (const int64_t r : rows) width = std::max<int64_t>(width, static_cast<int64_t>(targets[r].size()) + 1);
    std::vector<int64_t> input(rows.size() * width, Vocab::kPad), output(rows.size() * width, Vocab::kPad);
    for (size_t b = 0; b < rows.size(); ++b) {
      const auto& t = targets[rows[b]];
      const size_t row = b * width;
      input[row] = Vocab::kBos;
      std::copy(t.begin(), t.end(), input.begin() + static_cast<int64_t>(row) + 1);
      std::copy(t.begin(), t.end(), output.begin() + static_cast<int64_t>(row));
      output[row + t.size()] = Vocab::kEos;
      batch.target_lengths.push_back(static_cast<int64_t>(t.size()) + 1);
      batch.num_target_tokens += static_cast<int64_t>(t.size()) + 1;
    }
    const tessera::Shape shape{static_cast<int64_t>(rows.size()), width};
    batch.target_input = tessera::IndexTensor(std::move(input), shape);
    batch.target_output = tessera::IndexTensor(std::move(output), shape);
    batches.push_back(std::move(batch));
  }
  return batches;
}

Batch make_source_batch(const std::vector<std::vector<int64_t>>& sources) {
  TS_CHECK(!sources.empty(), "make_source_batch: no sentences");
  for (size_t i = 0; i < sources.size(); ++i) check_ids("make_source_batch", sources[i], "source", i);
  std::vector<int64_t> rows(sources.size());
  std::iota(rows.begin(), rows.end(), 0);
  Batch batch;
  fill_sources(batch, sources, rows);
  return batch;
}

namespace {
tessera::IndexTensor rows_of(const tessera::IndexTensor& t, int64_t begin, int64_t end) {
  if (!t.defined()) return t;
  const int64_t width = t.shape()[1];
  std::vector<int64_t> ids(t.values().begin() + begin * width, t.values().begin() + end * width);
  return tessera::IndexTensor(std::move(ids), tessera::Shape{end - begin, width});
}

template <class T>
std::vector<T> part(const std::vector<T>& v, int64_t begin, int64_t end) {
  return v.empty() ? v : std::vector<T>(v.begin() + begin, v.begin() + end);
}
}  // namespace

Batch slice_rows(const Batch& batch, int64_t begin, int64_t end) {
  TS_CHECK(0 <= begin && begin <= end && end <= batch.size(), "slice_rows: rows [{}, {}) of a batch of {}", begin,
           end, batch.size());
  Batch out;
  out.source = rows_of(batch.source, begin, end);
  out.target_input = rows_of(batch.target_input, begin, end);
  out.target_output = rows_of(batch.target_output, begin, end);
  out.source_lengths = part(batch.source_lengths, begin, end);
  out.target_lengths = part(batch.target_lengths, begin, end);
  out.indices = part(batch.indices, begin, end);
  for (const int64_t n : out.target_lengths) out.num_target_tokens += n;
  return out;
}

}  // namespace translator
