// examples/translator/bleu.cpp — see bleu.h.
#include "examples/translator/bleu.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "engine/error.h"

namespace translator {

namespace {

constexpr int kMaxOrder = 4;

// Every n-gram of order 1..4 of `tokens`, counted; the key is the order then the tokens, joined
// by a byte that never occurs in UTF-8 text.
std::unordered_map<std::string, int64_t> count_ngrams(const std::vector<std::string>& tokens) {
  std::unordered_map<std::string, int64_t> counts;
  for (size_t start = 0; start < tokens.size(); ++start) {
    std::string key;
    for (int n = 1; n <= kMaxOrder && start + n <= tokens.size(); ++n) {
      key += '\xff';
      key += tokens[start + n - 1];
      ++counts[std::to_string(n) + key];
    }
  }
  return counts;
}

// Adds one sentence's clipped matches and totals to the running statistics.
void accumulate(const std::vector<std::string>& hypothesis, const std::vector<std::string>& reference,
                BleuScore& stats) {
  const auto reference_counts = count_ngrams(reference);
  for (const auto& [ngram, count] : count_ngrams(hypothesis)) {
    const int order = ngram[0] - '1';
    stats.totals[order] += count;
    const auto it = reference_counts.find(ngram);
    if (it != reference_counts.end()) stats.matches[order] += std::min(count, it->second);
  }
  stats.hypothesis_length += static_cast<int64_t>(hypothesis.size());
  stats.reference_length += static_cast<int64_t>(reference.size());
}

// sacreBLEU's BLEU.compute_bleu with smooth_method='exp'.
void finish(BleuScore& s, bool effective_order) {
  const double c = static_cast<double>(s.hypothesis_length), r = static_cast<double>(s.reference_length);
  s.brevity_penalty = c < r ? (c > 0 ? std::exp(1 - r / c) : 0.0) : 1.0;
  s.ratio = r > 0 ? c / r : 0.0;
  s.precisions = {};
  s.score = 0;
  if (std::all_of(s.matches.begin(), s.matches.end(), [](int64_t m) { return m == 0; })) return;
  double smooth = 1;
  int orders = kMaxOrder;
  for (int n = 0; n < kMaxOrder; ++n) {
    if (s.totals[n] == 0) break;
    if (effective_order) orders = n + 1;
    const double total = static_cast<double>(s.totals[n]);
    if (s.matches[n] == 0) {
      smooth *= 2;
      s.precisions[n] = 100.0 / (smooth * total);
    } else {
      s.precisions[n] = 100.0 * static_cast<double>(s.matches[n]) / total;
    }
  }
  double log_sum = 0;
  for (int n = 0; n < orders; ++n) log_sum += s.precisions[n] > 0 ? std::log(s.precisions[n]) : -9999999999.0;
  s.score = s.brevity_penalty * std::exp(log_sum / orders);
}

}  // namespace

BleuScore corpus_bleu(const std::vector<std::vector<std::string>>& hypotheses,
                      const std::vector<std::vector<std::string>>& references) {
  TS_CHECK(hypotheses.size() == references.size(), "corpus_bleu: {} hypotheses but {} references",
           hypotheses.size(), references.size());
  BleuScore score;
  for (size_t i = 0; i < hypotheses.size(); ++i) accumulate(hypotheses[i], references[i], score);
  finish(score, false);
  return score;
}

BleuScore sentence_bleu(const std::vector<std::string>& hypothesis, const std::vector<std::string>& reference) {
  BleuScore score;
  accumulate(hypothesis, reference, score);
  finish(score, true);
  return score;
}

}  // namespace translator
