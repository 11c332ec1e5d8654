#include "examples/translator/decode.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace translator {

using namespace tessera;

namespace {

constexpr int64_t kPad = 0, kBos = 1, kEos = 2;

// sources -> ids [B, S] padded with <pad>, and the mask [B, S] (1 = token)
IndexTensor pad_sources(const std::vector<std::vector<int64_t>>& sources, int64_t* longest) {
  int64_t s = 0;
  for (const auto& x : sources) s = std::max<int64_t>(s, static_cast<int64_t>(x.size()));
  TS_CHECK(s > 0, "translate: every source sentence is empty");
  std::vector<int64_t> ids(sources.size() * s, kPad);
  for (size_t b = 0; b < sources.size(); ++b) std::copy(sources[b].begin(), sources[b].end(), ids.begin() + b * s);
  *longest = s;
  return IndexTensor(std::move(ids), Shape{static_cast<int64_t>(sources.size()), s});
}

int64_t step_limit(const TranslatorModel& model, int64_t source_length, int64_t max_length) {
  const int64_t limit = max_length > 0 ? max_length : 2 * source_length + 10;
  return std::min(limit, model.config.max_length - 1);  // position of <bos> + generated tokens
}

IndexTensor as_index(const std::vector<int64_t>& rows) { return IndexTensor(rows); }

// log_softmax of one row of logits, in double
void log_softmax_row(const scalar_t* logits, int64_t n, std::vector<double>& out) {
  out.resize(n);
  double top = -std::numeric_limits<double>::infinity();
  for (int64_t v = 0; v < n; ++v) top = std::max(top, static_cast<double>(logits[v]));
  double total = 0;
  for (int64_t v = 0; v < n; ++v) total += std::exp(static_cast<double>(logits[v]) - top);
  const double log_total = top + std::log(total);
  for (int64_t v = 0; v < n; ++v) out[v] = static_cast<double>(logits[v]) - log_total;
}

}  // namespace

std::vector<std::vector<int64_t>> greedy_search(TranslatorModel& model, const std::vector<std::vector<int64_t>>& sources,
                                                int64_t max_length) {
  if (model.is_training()) model.eval();  // only written when needed: threads may share the model
  NoGradGuard no_grad;
  std::vector<std::vector<int64_t>> out(sources.size());
  if (sources.empty()) return out;
  int64_t s = 0;
  const IndexTensor source = pad_sources(sources, &s);
  Tensor mask = non_padding_mask(source);
  Tensor memory = model.encode(source, mask);
  const int64_t steps = step_limit(model, s, max_length), vocab = model.config.target_vocab_size;

  std::vector<int64_t> alive(sources.size());  // alive[r] = the sentence in batch row r
  std::iota(alive.begin(), alive.end(), 0);
  std::vector<int64_t> tokens(sources.size(), kBos);
  nn::DecoderCache cache;
  for (int64_t t = 0; t < steps && !alive.empty(); ++t) {
    const auto rows = static_cast<int64_t>(alive.size());
    const Tensor logits = model.decode(IndexTensor(tokens, Shape{rows, 1}), memory, mask, &cache);  // [R, 1, V]
    std::vector<int64_t> keep;
    for (int64_t r = 0; r < rows; ++r) {
      const scalar_t* row = logits.data() + r * vocab;
      const int64_t next = std::max_element(row + kBos + 1, row + vocab) - row;  // never <pad> or <bos>
      if (next == kEos) continue;
      out[alive[r]].push_back(next);
      tokens[keep.size()] = next;
      keep.push_back(r);
    }
    if (static_cast<int64_t>(keep.size()) == rows) continue;
    // drop the finished rows from the batch: cache, memory, mask and bookkeeping
    std::vector<int64_t> still;
    for (int64_t r : keep) still.push_back(alive[r]);
    alive = std::move(still);
    tokens.resize(alive.size());
    if (alive.empty()) break;
    const IndexTensor index = as_index(keep);
    cache.reorder(index);
    memory = index_select(memory, 0, index);
    mask = index_select(mask, 0, index);
  }
  return out;
}

std::vector<std::vector<int64_t>> beam_search(TranslatorModel& model, const std::vector<std::vector<int64_t>>& sources,
                                              int64_t k, double alpha, int64_t max_length) {
  TS_CHECK(k >= 1, "beam_search: beam size must be at least 1, got {}", k);
  TS_CHECK(alpha >= 0, "beam_search: length penalty must be >= 0, got {}", alpha);
  if (model.is_training()) model.eval();  // only written when needed: threads may share the model
  NoGradGuard no_grad;
  const auto batch = static_cast<int64_t>(sources.size());
  std::vector<std::vector<int64_t>> out(batch);
  if (batch == 0) return out;
  int64_t s = 0;
  const IndexTensor source = pad_sources(sources, &s);
  const Tensor source_mask = non_padding_mask(source);
  const Tensor source_memory = model.encode(source, source_mask);
  // row b·k + j holds beam j of sentence b; every beam of a sentence shares its memory
  std::vector<int64_t> expand(batch * k);
  for (int64_t r = 0; r < batch * k; ++r) expand[r] = r / k;
  const Tensor memory = index_select(source_memory, 0, as_index(expand));
  const Tensor mask = index_select(source_mask, 0, as_index(expand));
  const int64_t steps = step_limit(model, s, max_length), vocab = model.config.target_vocab_size;
  const double minus_inf = -std::numeric_limits<double>::infinity();
  auto penalty = [&](size_t length) { return std::pow((5.0 + static_cast<double>(length)) / 6.0, alpha); };

  struct Finished {
    double score;
    std::vector<int64_t> tokens;
  };
  std::vector<std::vector<Finished>> finished(batch);
  std::vector<char> done(batch, 0);
  std::vector<double> scores(batch * k, minus_inf);  // total log-probability of each alive beam
  for (int64_t b = 0; b < batch; ++b) scores[b * k] = 0;  // at first only beam 0 is real
  std::vector<std::vector<int64_t>> prefixes(batch * k);
  std::vector<int64_t> tokens(batch * k, kBos);
  nn::DecoderCache cache;
  std::vector<double> log_probs;
  struct Candidate {
    double score;
    int64_t beam, token;
  };

  for (int64_t t = 0; t < steps; ++t) {
    const Tensor logits = model.decode(IndexTensor(tokens, Shape{batch * k, 1}), memory, mask, &cache);  // [B·k, 1, V]
    std::vector<int64_t> origin(batch * k);
    std::vector<double> next_scores(batch * k, minus_inf);
    std::vector<std::vector<int64_t>> next_prefixes(batch * k);
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t j = 0; j < k; ++j) origin[b * k + j] = b * k;  // placeholders for finished sentences
      if (done[b]) continue;
      // the 2k best one-token extensions of the sentence's beams
      std::vector<Candidate> candidates;
      for (int64_t j = 0; j < k; ++j) {
        if (scores[b * k + j] == minus_inf) continue;
        log_softmax_row(logits.data() + (b * k + j) * vocab, vocab, log_probs);
        for (int64_t v = 0; v < vocab; ++v) candidates.push_back({scores[b * k + j] + log_probs[v], j, v});
      }
      const auto top = std::min<size_t>(2 * k, candidates.size());
      std::partial_sort(candidates.begin(), candidates.begin() + top, candidates.end(),
                        [](const Candidate& x, const Candidate& y) { return x.score > y.score; });
      int64_t filled = 0;
      for (size_t c = 0; c < top && filled < k; ++c) {
        const Candidate& cand = candidates[c];
        const std::vector<int64_t>& prefix = prefixes[b * k + cand.beam];
        if (cand.token == kEos) {  // finished, scored with the length penalty (|Y| counts <eos>)
          if (static_cast<int64_t>(c) < k) finished[b].push_back({cand.score / penalty(prefix.size() + 1), prefix});
          continue;
        }
        if (cand.token == kPad || cand.token == kBos) continue;  // never generated on purpose
        const int64_t row = b * k + filled++;
        origin[row] = b * k + cand.beam;
        next_scores[row] = cand.score;
        next_prefixes[row] = prefix;
        next_prefixes[row].push_back(cand.token);
      }
      if (static_cast<int64_t>(finished[b].size()) >= k || filled == 0) done[b] = 1;
    }
    scores = std::move(next_scores);
    prefixes = std::move(next_prefixes);
    if (std::all_of(done.begin(), done.end(), [](char d) { return d != 0; })) break;
    for (int64_t r = 0; r < batch * k; ++r) tokens[r] = prefixes[r].empty() ? kPad : prefixes[r].back();
    cache.reorder(as_index(origin));
  }
  for (int64_t b = 0; b < batch; ++b) {
    if (static_cast<int64_t>(finished[b].size()) < k)  // out of steps: alive beams compete too
      for (int64_t j = 0; j < k; ++j)
        if (scores[b * k + j] != minus_inf)
          finished[b].push_back({scores[b * k + j] / penalty(prefixes[b * k + j].size()), prefixes[b * k + j]});
    if (finished[b].empty()) continue;
    out[b] = std::max_element(finished[b].begin(), finished[b].end(),
                              [](const Finished& x, const Finished& y) { return x.score < y.score; })
                 ->tokens;
  }
  return out;
}

std::vector<std::vector<int64_t>> translate_ids(TranslatorModel& model, const std::vector<std::vector<int64_t>>& sources,
                                                const DecodeOptions& options) {
  int64_t longest = 0;
  for (const auto& x : sources) longest = std::max<int64_t>(longest, static_cast<int64_t>(x.size()));
  TS_CHECK(longest <= model.config.max_length,
           "translate: a source sentence has {} tokens but the model handles at most {}", longest,
           model.config.max_length);
  if (options.beam_size <= 1) return greedy_search(model, sources, options.max_length);
  return beam_search(model, sources, options.beam_size, options.length_penalty, options.max_length);
}

}  // namespace translator
