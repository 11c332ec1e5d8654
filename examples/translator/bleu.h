// examples/translator/bleu.h — BLEU (Papineni et al., 2002) exactly as sacreBLEU computes it on
// text that is already tokenised (sacreBLEU's tokenize='none', one reference per sentence).
//
// Corpus BLEU sums, over all sentences, the clipped n-gram matches m_n (each hypothesis n-gram
// counts at most as often as it occurs in the reference) and the hypothesis n-gram totals t_n,
// n = 1..4, and the lengths c (hypotheses) and r (references). Then
//   p_n  = 100 m_n / t_n                                  (percent)
//   BP   = 1 if c >= r, exp(1 - r / c) if 0 < c < r, 0 if c = 0
//   BLEU = BP exp( (1/4) sum_n log p_n )                    in 0..100
// with sacreBLEU's default smoothing 'exp' (NIST, Chen & Cherry 2014 method 3): the k-th order
// n with m_n = 0 (and t_n > 0) gets p_n = 100 / (2^k t_n) instead of 0. Edge cases as sacreBLEU:
// no match of any order gives 0; if t_n = 0 (every hypothesis shorter than n words) p_n and all
// higher orders stay 0 and, since log 0 is floored to -9999999999, BLEU is 0 for corpus BLEU.
// sentence_bleu uses sacreBLEU's sentence_bleu default, effective order: only the orders with
// t_n > 0 are averaged, so a 3-word hypothesis can still score.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace translator {

struct BleuScore {
  double score = 0;            // 0..100
  double brevity_penalty = 0;  // BP
  double ratio = 0;            // c / r (0 when r = 0)
  std::array<double, 4> precisions{};  // p_1..p_4 in percent, after smoothing
  int64_t hypothesis_length = 0, reference_length = 0;  // c, r
  std::array<int64_t, 4> matches{}, totals{};  // m_n, t_n
};

BleuScore corpus_bleu(const std::vector<std::vector<std::string>>& hypotheses,
                      const std::vector<std::vector<std::string>>& references);

BleuScore sentence_bleu(const std::vector<std::string>& hypothesis, const std::vector<std::string>& reference);

}  // namespace translator
