// examples/translator/batching.h — padded batches of sentence pairs for the encoder–decoder.
//
// For a pair (x1..xm, y1..yn) of token ids (without specials), a batch row holds
//   source         x1 .. xm <eos> <pad>...      the encoder's input; <eos> marks the end, as in d2l
//   target_input   <bos> y1 .. yn <pad>...      the decoder's input (teacher forcing)
//   target_output  y1 .. yn <eos> <pad>...      what the decoder must predict at each position
// with <pad> = 0, so the loss ignores index 0 and a key padding mask is nn::padding_mask(
// source_lengths, S) (1 = token). source_lengths count the <eos>; target_lengths = n + 1.
//
// Batches hold a fixed number of sentences (batch_size, e.g. 64), not a token budget: simpler
// to reason about, and with length bucketing padding stays small. Bucketing: the pairs are cut
// into pools of 50 batches; within a pool they are sorted by source length then target length,
// so a batch holds sentences of similar length; then the batches are cut.
// With shuffle, the order of pairs before pooling and the order of the batches are drawn from a
// generator seeded by (seed, epoch): epoch e of a resumed run sees exactly the batches it would
// have seen without the interruption. Without shuffle, pools follow the input order and batches
// come in pool order (for evaluation; `indices` maps rows back to the input).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace translator {

struct Batch {
  tessera::IndexTensor source;         // [B, S]
  tessera::IndexTensor target_input;   // [B, T]  <bos> y1..yn
  tessera::IndexTensor target_output;  // [B, T]  y1..yn <eos>
  std::vector<int64_t> source_lengths, target_lengths;  // [B] real tokens, with <eos> / <bos>
  int64_t num_target_tokens = 0;       // sum of target_lengths: the tokens the loss counts
  std::vector<int64_t> indices;        // [B] position of each row in the input lists
  int64_t size() const { return static_cast<int64_t>(source_lengths.size()); }
};

std::vector<Batch> make_batches(const std::vector<std::vector<int64_t>>& sources,
                                const std::vector<std::vector<int64_t>>& targets, int64_t batch_size, bool shuffle,
                                uint64_t seed, int64_t epoch);

// Rows [begin, end) of a batch, at the batch's width (so each row is computed exactly as in the
// whole batch): one rank's shard of a global batch in data-parallel training (nn/distributed.h).
Batch slice_rows(const Batch& batch, int64_t begin, int64_t end);

// Sources only, in the given order, for translation: `source` and `source_lengths` are filled
// (with the <eos> appended); the target fields are left empty.
Batch make_source_batch(const std::vector<std::vector<int64_t>>& sources);

}  // namespace translator
