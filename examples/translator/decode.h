// examples/translator/decode.h — turning a trained model into translations: greedy search and
// beam search, both batched over sentences and both using the decoder's key/value cache
// (nn::DecoderCache), so step t feeds one token per row and attends to t cached keys instead of
// re-running the whole prefix.
//
// Greedy: y_t = argmax_v p(v | y_<t, x) over v ∉ {<pad>, <bos>}, until <eos> or max_length tokens. Rows that finished
// are dropped from the batch (the cache is reordered to the rows still going).
// Beam search keeps the beam_size best prefixes per sentence by total log-probability; a prefix
// that emits <eos> is finished and scored with GNMT's length penalty (Wu et al., 2016):
//   score(Y) = log p(Y | x) / lp(Y),   lp(Y) = ((5 + |Y|) / 6)^α      (α = 0: no normalisation)
// A sentence stops when beam_size hypotheses have finished (or at max_length); the best score wins.
#pragma once

#include <cstdint>
#include <vector>

#include "examples/translator/model.h"

namespace translator {

struct DecodeOptions {
  int64_t beam_size = 1;          // 1 = greedy
  double length_penalty = 0.6;    // α above (beam search only)
  int64_t max_length = 0;         // tokens to generate at most; 0 = 2·source length + 10 (capped by the model)
};

// sources: token ids without <bos>; each ends with <eos> (as the training batches do).
// Returns the generated ids per sentence, without <bos> and <eos>. The model is put in eval mode.
std::vector<std::vector<int64_t>> translate_ids(TranslatorModel& model, const std::vector<std::vector<int64_t>>& sources,
                                                const DecodeOptions& options = {});

std::vector<std::vector<int64_t>> greedy_search(TranslatorModel& model, const std::vector<std::vector<int64_t>>& sources,
                                                int64_t max_length);
std::vector<std::vector<int64_t>> beam_search(TranslatorModel& model, const std::vector<std::vector<int64_t>>& sources,
                                              int64_t beam_size, double length_penalty, int64_t max_length);

}  // namespace translator
