// tests/test_heads.cpp — examples/translator/heads.cpp: describing and clustering attention heads.
//
// Constructed maps whose features can be worked out by hand (a pure previous-token head, a pure
// diagonal, uniform attention, attention to <eos>, the causal and the cross-attention variants),
// then the clustering of such heads, which must group them by kind and name each group by what it
// does, and finally the whole analysis on a tiny untrained translator.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "examples/translator/heads.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;
using namespace translator;

namespace {

// rows × cols map with weight 1 on column column_of(i) in row i.
template <class F>
AttentionMap one_hot(int64_t rows, int64_t cols, F column_of, bool causal = false) {
  AttentionMap m;
  m.rows = rows, m.cols = cols, m.causal = causal;
  m.values.assign(rows * cols, 0.0);
  for (int64_t i = 0; i < rows; ++i) m.values[i * cols + column_of(i)] = 1;
  return m;
}

AttentionMap previous_token(int64_t n) {  // row 0 has no previous token: it attends to itself
  return one_hot(n, n, [](int64_t i) { return i == 0 ? 0 : i - 1; });
}
AttentionMap diagonal(int64_t n) { return one_hot(n, n, [](int64_t i) { return i; }); }
AttentionMap to_last(int64_t n) { return one_hot(n, n, [n](int64_t) { return n - 1; }); }
AttentionMap uniform(int64_t rows, int64_t cols) {
  AttentionMap m;
  m.rows = rows, m.cols = cols;
  m.values.assign(rows * cols, 1.0 / static_cast<double>(cols));
  return m;
}

}  // namespace

TEST_CASE("heads: features of a previous-token, a diagonal and a uniform map, worked out by hand") {
  // previous token, 5 × 5: rows 1–4 put 1 on i − 1, row 0 on itself.
  //   distance: rows 1–4 are 1 away, row 0 is 0 away: (4 / 5) / 5 = 0.16
  //   entropy 0 (one-hot rows); diagonal: only row 0, 1/5; previous 1 (rows 1–4); next 0 (rows 0–3)
  //   first: rows 0 and 1, 2/5; last: no row puts weight on key 4
  const HeadFeatures p = attention_features(previous_token(5));
  CHECK(p.distance == doctest::Approx(0.16));
  CHECK(p.entropy == doctest::Approx(0));
  CHECK(p.diagonal == doctest::Approx(0.2));
  CHECK(p.previous == doctest::Approx(1));
  CHECK(p.next == doctest::Approx(0));
  CHECK(p.first == doctest::Approx(0.4));
  CHECK(p.last == doctest::Approx(0));

  // diagonal, 5 × 5: distance 0, entropy 0, diagonal 1, and key 0 / key 4 only from rows 0 / 4
  const HeadFeatures d = attention_features(diagonal(5));
  CHECK(d.distance == doctest::Approx(0));
  CHECK(d.entropy == doctest::Approx(0));
  CHECK(d.diagonal == doctest::Approx(1));
  CHECK(d.previous == doctest::Approx(0));
  CHECK(d.next == doctest::Approx(0));
  CHECK(d.first == doctest::Approx(0.2));
  CHECK(d.last == doctest::Approx(0.2));

  // uniform, 5 × 5: every weight 1/5, entropy log 5 / log 5 = 1; distance: Σ_j |i − j| is
  // 10, 7, 6, 7, 10 for rows 0–4, so the mean is (40 / 5) · (1/5) / 5 = 0.32
  const HeadFeatures u = attention_features(uniform(5, 5));
  CHECK(u.distance == doctest::Approx(0.32));
  CHECK(u.entropy == doctest::Approx(1));
  for (const double w : {u.diagonal, u.previous, u.next, u.first, u.last}) CHECK(w == doctest::Approx(0.2));
}

TEST_CASE("heads: the pattern is the map resampled to a fixed grid, whatever the length") {
  // a diagonal of exactly kPatternGrid positions is the identity; of twice as many, still the identity
  for (const int64_t n : {kPatternGrid, 2 * kPatternGrid}) {
    const HeadFeatures d = attention_features(diagonal(n));
    for (int64_t a = 0; a < kPatternGrid; ++a)
      for (int64_t b = 0; b < kPatternGrid; ++b)
        CHECK(d.pattern[a * kPatternGrid + b] == doctest::Approx(a == b ? 1.0 : 0.0));
  }
  // uniform attention over any length: 1/G in every cell, and each grid row sums to 1
  for (const int64_t n : {3, 5, 7}) {
    const HeadFeatures u = attention_features(uniform(n, n));
    for (const double cell : u.pattern) CHECK(cell == doctest::Approx(1.0 / kPatternGrid));
  }
  const HeadFeatures p = attention_features(previous_token(7));
  for (int64_t a = 0; a < kPatternGrid; ++a) {
    double row = 0;
    for (int64_t b = 0; b < kPatternGrid; ++b) row += p.pattern[a * kPatternGrid + b];
    CHECK(row == doctest::Approx(1));
  }
}

TEST_CASE("heads: causal maps count only the visible keys; cross-attention uses the length-scaled diagonal") {
  // causal uniform, 4 × 4: row i spreads 1/(i + 1) over keys 0 … i. Each row with 2+ visible keys
  // is uniform over them: entropy 1. No row can see its next token (next = 0); the last key is
  // not <eos> and only row 3 sees it (last = 0); diagonal = mean of 1, 1/2, 1/3, 1/4 = 25/48.
  AttentionMap causal;
  causal.rows = causal.cols = 4, causal.causal = true;
  causal.values.assign(16, 0.0);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j <= i; ++j) causal.values[i * 4 + j] = 1.0 / static_cast<double>(i + 1);
  const HeadFeatures c = attention_features(causal);
  CHECK(c.entropy == doctest::Approx(1));
  CHECK(c.next == doctest::Approx(0));
  CHECK(c.last == doctest::Approx(0));
  CHECK(c.diagonal == doctest::Approx(25.0 / 48));

  // cross-attention 3 target × 6 source positions: the diagonal of row i is ⌊(i + ½)·6/3⌋ = 2i + 1,
  // half a key from the continuous diagonal c(i) = 2i + ½: distance 0.5 / 6
  const HeadFeatures x = attention_features(one_hot(3, 6, [](int64_t i) { return 2 * i + 1; }));
  CHECK(x.diagonal == doctest::Approx(1));
  CHECK(x.previous == doctest::Approx(0));
  CHECK(x.distance == doctest::Approx(0.5 / 6));
  CHECK(x.last == doctest::Approx(1.0 / 3));  // row 2's diagonal is the last key

  CHECK_THROWS_AS(attention_features(AttentionMap{}), Error);
}

TEST_CASE("heads: hand-made heads are clustered by kind and each cluster is named for what it does") {
  // twelve heads: previous-token, diagonal, uniform and to-<eos> maps of lengths 5, 6 and 8, interleaved
  std::vector<HeadFeatures> heads;
  std::vector<int> kind;
  for (const int64_t n : {5, 6, 8}) {
    heads.push_back(attention_features(previous_token(n))), kind.push_back(0);
    heads.push_back(attention_features(diagonal(n))), kind.push_back(1);
    heads.push_back(attention_features(uniform(n, n))), kind.push_back(2);
    heads.push_back(attention_features(to_last(n))), kind.push_back(3);
  }
  const char* expected[] = {"attends to the previous token", "diagonal alignment", "broad: spreads over the sentence",
                            "attends to <eos>"};
  for (const uint64_t seed : {1, 2, 3}) {
    const HeadClusters c = cluster_heads(heads, 4, seed);
    REQUIRE(c.labels.size() == heads.size());
    // numbered by first head: the kinds come in the order 0, 1, 2, 3
    for (size_t h = 0; h < heads.size(); ++h) CHECK(c.labels[h] == kind[h]);
    REQUIRE(c.names.size() == 4);
    for (int k = 0; k < 4; ++k) {
      CHECK(c.names[k] == expected[k]);
      CHECK(kind[static_cast<size_t>(c.representatives[k])] == k);
    }
    CHECK(c.x.size() == heads.size());
    CHECK(c.y.size() == heads.size());
    CHECK(cluster_heads(heads, 4, seed).labels == c.labels);
  }
  CHECK_THROWS_AS(cluster_heads(heads, 0, 1), Error);
  CHECK_THROWS_AS(cluster_heads(heads, 13, 1), Error);
}

TEST_CASE("heads: cluster names for the in-between cases") {
  HeadFeatures local;
  local.entropy = 0.4, local.distance = 0.1, local.diagonal = 0.3, local.previous = 0.25;
  std::string brief;
  CHECK(name_cluster(local, &brief) == "local: within a few tokens of the diagonal");
  CHECK(brief == "local");
  HeadFeatures mixed;
  mixed.entropy = 0.5, mixed.distance = 0.3, mixed.first = 0.35;
  CHECK(name_cluster(mixed) == "mixed: most on the first token (0.35)");
  HeadFeatures spread;  // a short sentence: uniform attention still gives each key 1/2
  spread.entropy = 0.95, spread.previous = 0.5, spread.diagonal = 0.5;
  CHECK(name_cluster(spread) == "broad: spreads over the sentence");
}

TEST_CASE("heads: analyze_heads on a tiny untrained translator gives one point per head") {
  const std::vector<std::vector<std::string>> english = {{"i", "am", "a", "student", "."}, {"she", "is", "happy", "."}};
  const std::vector<std::vector<std::string>> french = {{"je", "suis", "étudiant", "."}, {"elle", "est", "heureuse", "."}};
  const Vocab source_vocab = Vocab::build(english), target_vocab = Vocab::build(french);
  ModelConfig config;
  config.source_vocab_size = source_vocab.size();
  config.target_vocab_size = target_vocab.size();
  config.d_model = 8, config.nhead = 2, config.encoder_layers = 2, config.decoder_layers = 1;
  config.dim_feedforward = 16, config.dropout = 0, config.max_length = 24;
  manual_seed(5);
  TranslatorModel model(config);
  const std::vector<std::string> sentences = {"I am a student.", "She is happy.", "I am happy."};
  const HeadAnalysis a = analyze_heads(model, source_vocab, target_vocab, sentences, 3, 7);
  // 2 encoder layers + 1 decoder layer with self- and cross-attention, 2 heads each
  REQUIRE(a.heads.size() == 8);
  CHECK(a.sentences == 3);
  CHECK(a.clusters.labels.size() == 8);
  CHECK(a.clusters.x.size() == 8);
  CHECK(a.clusters.names.size() == 3);
  std::vector<std::string> labels;
  for (const HeadId& h : a.heads) labels.push_back(h.label());
  CHECK(labels == std::vector<std::string>{"E1.1", "E1.2", "E2.1", "E2.2", "D1.1", "D1.2", "X1.1", "X1.2"});
  for (const HeadFeatures& f : a.features) {
    CHECK(f.entropy >= 0);
    CHECK(f.entropy <= 1 + 1e-6);
    CHECK(f.diagonal >= 0);
  }
  // the figure: one circle per head (plus one per legend entry), labelled, scatter over heatmaps
  for (const std::string& label : labels) CHECK(a.scatter_svg.find(">" + label + "</text>") != std::string::npos);
  size_t circles = 0;
  for (size_t at = a.scatter_svg.find("<circle"); at != std::string::npos; at = a.scatter_svg.find("<circle", at + 1))
    ++circles;
  CHECK(circles == 8 + 3);
  CHECK(a.svg.find("<svg x=\"0\" y=\"0\"") != std::string::npos);
  CHECK(a.svg.find("representative head") != std::string::npos);
  // the entropy table: a row per attention layer, a column per head
  CHECK(a.entropy_header == std::vector<std::string>{"layer", "head 1", "head 2"});
  REQUIRE(a.entropy_rows.size() == 4);
  CHECK(a.entropy_rows[0][0] == "encoder 1");
  CHECK(a.entropy_rows[2][0] == "decoder self 1");
  CHECK(a.entropy_rows[3][0] == "cross 1");
  for (const auto& row : a.entropy_rows) CHECK(row.size() == 3);
  CHECK(format_entropy_table(a).find("cross 1") != std::string::npos);
  CHECK(a.summary.find("cluster 3") != std::string::npos);
  // the same seed, the same clusters
  CHECK(analyze_heads(model, source_vocab, target_vocab, sentences, 3, 7).clusters.labels == a.clusters.labels);
  CHECK_THROWS_AS(analyze_heads(model, source_vocab, target_vocab, sentences, 9, 7), Error);
  CHECK_THROWS_AS(analyze_heads(model, source_vocab, target_vocab, {"", "  "}, 2, 7), Error);
}
