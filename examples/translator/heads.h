// examples/translator/heads.h — which attention heads do the same job? (`translator heads`)
//
// Every head of the translator — encoder self-attention (E), decoder self-attention (D) and
// decoder cross-attention (X), "E1.2" being encoder layer 1 head 2 — is run over a set of
// sentences (each teacher-forced on the model's own greedy translation, as `translator
// attention` does) and described by features that do not depend on the sentence's length.
// For a map A [Lq, Lk] (row i: query i's weights over the keys, Σ_j A_ij = 1), with the
// diagonal column of row i
//     self-attention   d(i) = i
//     cross-attention  d(i) = ⌊(i + ½)·Lk / Lq⌋      (the length-scaled diagonal: the key whose
//                                                    share of the source holds the query's centre)
// and, for a causal map, only keys j ≤ i visible, each feature is a mean over the rows where it
// is defined:
//     distance   Σ_j A_ij |j − c(i)| / Lk, with c(i) = (i + ½)·Lk/Lq − ½ (= i for self-attention)
//     entropy    −Σ_j A_ij log A_ij / log(visible keys)   (rows seeing 2 or more keys; 0 = one
//                key, 1 = uniform)
//     diagonal   A_i,d(i)          previous  A_i,d(i)−1        next  A_i,d(i)+1 (when visible)
//     first      A_i,0 (<bos> in the decoder)   last  A_i,Lk−1: the source's <eos> (0 for a causal
//                                            map, where only the last row sees the last key,
//                                            as its own diagonal)
//     pattern    A resampled to a kPatternGrid × kPatternGrid grid: both axes scaled to [0, 1],
//                cell (a, b) = the weight row band a puts on column band b (rows sum to 1), so
//                a diagonal map gives the identity and a uniform one 1/kPatternGrid everywhere.
// A head's features are the means over the sentences (each sentence counts once).
//
// The heads are then clustered with k-means (nn/analysis.h, seeded) on standardised features:
// each scalar feature as a z-score over the heads, and the pattern's cells centred and divided by
// one pooled standard deviation, then scaled so that the whole pattern weighs as much as the
// seven scalar features together. A cluster is named after its mean features (name_cluster).
// The figure places each head at its first two principal components (nn::pca of the same
// standardised features), coloured by cluster, and draws one representative head per cluster
// (the one nearest its centroid) on the first sentence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "examples/translator/model.h"
#include "examples/translator/vocab.h"

namespace translator {

constexpr int64_t kPatternGrid = 6;

// One head's weights on one sentence: rows × cols, row-major, each row summing to 1.
struct AttentionMap {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;
  bool causal = false;  // query i sees keys 0 … i only (decoder self-attention)
};

struct HeadFeatures {
  double distance = 0, entropy = 0, diagonal = 0, previous = 0, next = 0, first = 0, last = 0;
  std::vector<double> pattern = std::vector<double>(kPatternGrid * kPatternGrid, 0.0);  // row-major

  static constexpr int kScalars = 7;
  // distance, entropy, diagonal, previous, next, first, last — in that order, with their names
  std::vector<double> scalars() const;
  static std::vector<std::string> scalar_names();
};

// The features of one map (see the top of this file). Throws tessera::Error on an empty map or
// one whose values do not match rows × cols.
HeadFeatures attention_features(const AttentionMap& map);
// The elementwise mean (one head over several sentences, or the heads of one cluster).
HeadFeatures mean_features(const std::vector<HeadFeatures>& features);

enum class AttentionKind { EncoderSelf, DecoderSelf, Cross };

struct HeadId {
  AttentionKind kind = AttentionKind::EncoderSelf;
  int64_t layer = 0, head = 0;  // from 1, as printed
  std::string label() const;    // "E1.2", "D1.2", "X1.2"
};

// A cluster's name from its mean features, the first rule that applies:
//   normalised entropy ≥ 0.85                      "broad: spreads over the sentence"
//   the largest of previous / diagonal / next /    "attends to the previous token", "diagonal
//   last / first weights ≥ 0.4                      alignment", "attends to <eos>", …
//   normalised entropy ≥ 0.6                       "broad: spreads over the sentence"
//   mean distance ≤ 0.15                           "local: within a few tokens of the diagonal"
//   otherwise                                      "mixed: most on the … (weight)"
// short_name is one or two words for figure titles ("previous token").
std::string name_cluster(const HeadFeatures& mean, std::string* short_name = nullptr);

struct HeadClusters {
  tessera::Tensor standardised;            // [heads, 7 + kPatternGrid²]: what k-means and PCA see
  std::vector<int64_t> labels;             // per head: its cluster
  std::vector<std::string> names, short_names;  // per cluster
  std::vector<HeadFeatures> means;         // per cluster: the mean raw features of its heads
  std::vector<int64_t> representatives;    // per cluster: the head nearest its centroid
  std::vector<double> x, y;                // per head: first two principal components (0 if undefined)
  std::vector<double> explained_variance_ratio;  // of those two components
};

// Standardises, clusters (k-means, k = clusters, seeded) and projects the heads' features.
// Clusters are numbered by their first head, so the numbering follows the heads' order. When two
// clusters get the same name, each gets the group its heads share appended (groups: one name per
// head, e.g. "cross-attention"; optional), or else its entropy.
HeadClusters cluster_heads(const std::vector<HeadFeatures>& heads, int64_t clusters, uint64_t seed,
                           const std::vector<std::string>& groups = {});

struct HeadAnalysis {
  std::string summary;  // printable text: the clusters, their heads and features
  std::string svg;      // the figure: PCA scatter over the representative heatmaps
  std::string scatter_svg, heatmaps_svg;  // its two parts, as standalone SVGs
  std::vector<std::string> entropy_header;              // "layer", "head 1", …
  std::vector<std::vector<std::string>> entropy_rows;   // "encoder 1", "0.42", … (normalised entropy)
  std::vector<HeadId> heads;
  std::vector<HeadFeatures> features;  // per head, averaged over the sentences
  HeadClusters clusters;
  size_t sentences = 0;                // sentences used (too long or empty ones are skipped)
};

// Runs the model over the sentences (raw English; translated greedily, then teacher-forced),
// collects every head's attention, and clusters the heads. Heads without per-position weights
// (Linformer / Performer attention) are left out. Throws tessera::Error when no sentence can be
// used or clusters is not between 1 and the number of heads.
HeadAnalysis analyze_heads(TranslatorModel& model, const Vocab& source_vocab, const Vocab& target_vocab,
                           const std::vector<std::string>& sentences, int clusters, uint64_t seed);

// The entropy table as aligned text columns.
std::string format_entropy_table(const HeadAnalysis& analysis);

}  // namespace translator
