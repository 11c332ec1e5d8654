// examples/translator/heads.cpp — see heads.h.
#include "examples/translator/heads.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "examples/common/svg.h"
#include "examples/translator/decode.h"
#include "examples/translator/train.h"
#include "nn/analysis.h"

namespace translator {

using namespace tessera;

namespace {

// The qualitative colours of svg.cpp (matplotlib's tab10), one per cluster.
constexpr std::array<const char*, 10> kPalette = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr double kCharWidth = 6.6;  // average width of an 11-px sans-serif character

// The mean of the values added so far; 0 when a feature was defined on no row.
struct RowMean {
  double sum = 0;
  int64_t count = 0;
  void add(double value) { sum += value, ++count; }
  double value() const { return count > 0 ? sum / static_cast<double>(count) : 0.0; }
};

// |[a0, a1] ∩ [b0, b1]|
double overlap(double a0, double a1, double b0, double b1) { return std::max(0.0, std::min(a1, b1) - std::max(a0, b0)); }

// band_weight[g * n + i] = |[i/n, (i+1)/n] ∩ [g/G, (g+1)/G]|: how much of position i falls in band g
// when n positions and G bands both cover [0, 1].
std::vector<double> band_weights(int64_t n) {
  std::vector<double> w(kPatternGrid * n);
  for (int64_t g = 0; g < kPatternGrid; ++g)
    for (int64_t i = 0; i < n; ++i)
      w[g * n + i] = overlap(static_cast<double>(i) / static_cast<double>(n), static_cast<double>(i + 1) / static_cast<double>(n),
                             static_cast<double>(g) / kPatternGrid, static_cast<double>(g + 1) / kPatternGrid);
  return w;
}

const char* kind_letter(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::EncoderSelf: return "E";
    case AttentionKind::DecoderSelf: return "D";
    case AttentionKind::Cross: return "X";
  }
  return "?";
}

const char* kind_name(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::EncoderSelf: return "encoder";
    case AttentionKind::DecoderSelf: return "decoder self";
    case AttentionKind::Cross: return "cross";
  }
  return "?";
}

// ---------------- the figure ----------------


std::string text(double x, double y, const std::string& content, const char* anchor, double size,
                 const std::string& extra = "") {
  return fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{}\" text-anchor=\"{}\"{}>{}</text>\n", x, y, size,
                     anchor, extra, examples::xml_escape(content));
}

// One point per head at its first two principal components, coloured by cluster and labelled,
// with round ticks on both axes and a legend naming the clusters.
std::string draw_scatter(const std::vector<HeadId>& heads, const HeadClusters& c, const std::string& title) {
  const double left = 70, top = 50, plot_width = 560, plot_height = 420;
  size_t longest = 0;
  std::vector<std::string> legend;
  for (size_t k = 0; k < c.names.size(); ++k) {
    const auto members = std::count(c.labels.begin(), c.labels.end(), static_cast<int64_t>(k));
    legend.push_back(fmt::format("{}  {} ({} head{})", k + 1, c.names[k], members, members == 1 ? "" : "s"));
    longest = std::max(longest, legend.back().size());
  }
  const double legend_x = left + plot_width + 30;
  const double width = legend_x + 24 + kCharWidth * static_cast<double>(longest) + 20;
  const double height = std::max(top + plot_height + 60, top + 22.0 * static_cast<double>(legend.size()) + 40);

  // axes: the data's range with a margin, extended to round ticks
  auto axis = [](const std::vector<double>& v) {
    double low = v.empty() ? 0 : *std::min_element(v.begin(), v.end());
    double high = v.empty() ? 0 : *std::max_element(v.begin(), v.end());
    const double pad = std::max(0.08 * (high - low), 0.5);
    return examples::nice_ticks(low - pad, high + pad, 7);
  };
  const std::vector<double> xt = axis(c.x), yt = axis(c.y);
  auto px = [&](double x) { return left + (x - xt.front()) / (xt.back() - xt.front()) * plot_width; };
  auto py = [&](double y) { return top + plot_height - (y - yt.front()) / (yt.back() - yt.front()) * plot_height; };

  std::string svg = examples::svg_document_open(width, height);
  svg += text(width / 2, 26, title, "middle", 15, " font-weight=\"bold\"");
  svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#444\"/>\n",
                     left, top, plot_width, plot_height);
  auto tick_text = [](double v) {
    std::string s = fmt::format("{:.3g}", v);
    return s == "-0" ? std::string("0") : s;
  };
  for (const double t : xt) {
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#eee\"/>\n", px(t), top,
                       top + plot_height);
    svg += text(px(t), top + plot_height + 16, tick_text(t), "middle", 11);
  }
  for (const double t : yt) {
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#eee\"/>\n", left, py(t),
                       left + plot_width);
    svg += text(left - 6, py(t) + 4, tick_text(t), "end", 11);
  }
  auto share = [&](size_t i) {
    return i < c.explained_variance_ratio.size() ? fmt::format(" ({:.0f}% of the variance)", 100 * c.explained_variance_ratio[i])
                                                 : std::string();
  };
  svg += text(left + plot_width / 2, top + plot_height + 40, "principal component 1" + share(0), "middle", 12);
  const double yx = 20, yy = top + plot_height / 2;
  svg += text(yx, yy, "principal component 2" + share(1), "middle", 12,
              fmt::format(" transform=\"rotate(-90 {:.1f} {:.1f})\"", yx, yy));
  for (size_t h = 0; h < heads.size(); ++h) {
    const int64_t k = c.labels[h];
    const char* colour = kPalette[static_cast<size_t>(k) % kPalette.size()];
    const bool representative = std::find(c.representatives.begin(), c.representatives.end(),
                                          static_cast<int64_t>(h)) != c.representatives.end();
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"6\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\">"
                       "<title>{} — cluster {}: {}</title></circle>\n",
                       px(c.x[h]), py(c.y[h]), colour, representative ? "black" : "white", representative ? 2 : 1,
                       heads[h].label(), k + 1, examples::xml_escape(c.names[static_cast<size_t>(k)]));
    svg += text(px(c.x[h]) + 8, py(c.y[h]) + 4, heads[h].label(), "start", 10, " fill=\"#333\"");
  }
  for (size_t k = 0; k < legend.size(); ++k) {
    const double y = top + 10 + 22.0 * static_cast<double>(k);
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"6\" fill=\"{}\"/>\n", legend_x + 6, y,
                       kPalette[k % kPalette.size()]);
    svg += text(legend_x + 18, y + 4, legend[k], "start", 11);
  }
  svg += text(legend_x, top + 22.0 * static_cast<double>(legend.size()) + 20,
              "E encoder, D decoder self-, X cross-attention; E1.2 = layer 1, head 2", "start", 10, " fill=\"#555\"");
  svg += text(legend_x, top + 22.0 * static_cast<double>(legend.size()) + 36,
              "black ring: the cluster's representative (drawn below)", "start", 10, " fill=\"#555\"");
  svg += "</svg>\n";
  return svg;
}

// The value of attribute `name` in the first <svg ...> tag of a document, as a number.
double svg_size(const std::string& svg, const std::string& name) {
  const size_t tag = svg.find("<svg");
  const size_t end = svg.find('>', tag);
  const size_t at = svg.find(" " + name + "=\"", tag);
  TS_CHECK(tag != std::string::npos && at != std::string::npos && at < end, "heads: an SVG part has no {}", name);
  return std::stod(svg.substr(at + name.size() + 3));
}

// Standalone SVG documents one under the other in one document: each becomes a nested <svg>
// element placed with x and y (its own viewBox and ids stay as they were).
std::string stack_svgs(const std::vector<std::string>& parts) {
  double width = 0, height = 0;
  std::string body;
  for (const std::string& part : parts) {
    const size_t tag = part.find("<svg");
    TS_CHECK(tag != std::string::npos, "heads: an SVG part has no <svg> element");
    body += fmt::format("<svg x=\"0\" y=\"{:.0f}\"", height) + part.substr(tag + 4);
    width = std::max(width, svg_size(part, "width"));
    height += svg_size(part, "height");
  }
  return examples::svg_document_open(width, height) + body + "</svg>\n";
}

}  // namespace

// ---------------- features ----------------

std::vector<double> HeadFeatures::scalars() const { return {distance, entropy, diagonal, previous, next, first, last}; }

std::vector<std::string> HeadFeatures::scalar_names() {
  return {"distance", "entropy", "diagonal", "previous", "next", "first", "last"};
}

HeadFeatures attention_features(const AttentionMap& map) {
  TS_CHECK(map.rows >= 1 && map.cols >= 1, "attention_features: empty map ({} x {})", map.rows, map.cols);
  TS_CHECK(static_cast<int64_t>(map.values.size()) == map.rows * map.cols,
           "attention_features: {} values for a {} x {} map", map.values.size(), map.rows, map.cols);
  const int64_t lq = map.rows, lk = map.cols;
  auto a = [&](int64_t i, int64_t j) { return map.values[i * lk + j]; };
  RowMean distance, entropy, diagonal, previous, next, first, last;
  for (int64_t i = 0; i < lq; ++i) {
    const int64_t visible = map.causal ? std::min(i + 1, lk) : lk;  // keys 0 … visible − 1
    const int64_t d = ((2 * i + 1) * lk) / (2 * lq);                 // ⌊(i + ½)·Lk/Lq⌋, exact in integers
    const double centre = (static_cast<double>(i) + 0.5) * static_cast<double>(lk) / static_cast<double>(lq) - 0.5;
    double spread = 0, h = 0;
    for (int64_t j = 0; j < lk; ++j) {
      const double w = a(i, j);
      spread += w * std::abs(static_cast<double>(j) - centre);
      if (w > 0) h -= w * std::log(w);  // 0 log 0 = 0
    }
    distance.add(spread / static_cast<double>(lk));
    if (visible >= 2) entropy.add(h / std::log(static_cast<double>(visible)));
    diagonal.add(a(i, d));
    if (d >= 1) previous.add(a(i, d - 1));
    if (d + 1 < visible) next.add(a(i, d + 1));
    first.add(a(i, 0));
    if (!map.causal) last.add(a(i, lk - 1));  // causal: only the last row sees it, as its own diagonal
  }
  HeadFeatures f;
  f.distance = distance.value(), f.entropy = entropy.value(), f.diagonal = diagonal.value();
  f.previous = previous.value(), f.next = next.value(), f.first = first.value(), f.last = last.value();
  // pattern(a, b) = G · Σ_i Σ_j rows(a, i) · cols(b, j) · A_ij · Lk: the density A_ij·Lk (a row
  // integrates to 1 over [0, 1]) averaged over the cell, divided by G so a grid row sums to 1.
  const std::vector<double> rows = band_weights(lq), cols = band_weights(lk);
  std::vector<double> banded(kPatternGrid * lk, 0.0);  // Σ_i rows(a, i) A_ij   [G, Lk]
  for (int64_t g = 0; g < kPatternGrid; ++g)
    for (int64_t i = 0; i < lq; ++i)
      for (int64_t j = 0; j < lk; ++j) banded[g * lk + j] += rows[g * lq + i] * a(i, j);
  for (int64_t g = 0; g < kPatternGrid; ++g)
    for (int64_t b = 0; b < kPatternGrid; ++b) {
      double cell = 0;
      for (int64_t j = 0; j < lk; ++j) cell += banded[g * lk + j] * cols[b * lk + j];
      f.pattern[g * kPatternGrid + b] = kPatternGrid * cell * static_cast<double>(lk);
    }
  return f;
}

HeadFeatures mean_features(const std::vector<HeadFeatures>& features) {
  TS_CHECK(!features.empty(), "mean_features: no features to average");
  HeadFeatures mean;
  const double n = static_cast<double>(features.size());
  for (const HeadFeatures& f : features) {
    mean.distance += f.distance / n, mean.entropy += f.entropy / n, mean.diagonal += f.diagonal / n;
    mean.previous += f.previous / n, mean.next += f.next / n, mean.first += f.first / n, mean.last += f.last / n;
    for (size_t i = 0; i < mean.pattern.size(); ++i) mean.pattern[i] += f.pattern[i] / n;
  }
  return mean;
}

std::string HeadId::label() const { return fmt::format("{}{}.{}", kind_letter(kind), layer, head); }

// ---------------- naming and clustering ----------------

std::string name_cluster(const HeadFeatures& mean, std::string* short_name) {
  struct Trait {
    double weight;
    const char *name, *short_name;
  };
  // the positions a head can put most of its weight on; the first wins a tie
  const Trait traits[] = {{mean.previous, "attends to the previous token", "previous token"},
                          {mean.diagonal, "diagonal alignment", "diagonal"},
                          {mean.next, "attends to the next token", "next token"},
                          {mean.last, "attends to <eos>", "<eos>"},
                          {mean.first, "attends to the first token", "first token"}};
  const Trait* top = &traits[0];
  for (const Trait& t : traits)
    if (t.weight > top->weight) top = &t;
  std::string name, brief;
  if (mean.entropy >= 0.85) {  // nearly uniform: no key can hold much weight
    name = "broad: spreads over the sentence", brief = "broad";
  } else if (top->weight >= 0.4) {
    name = top->name, brief = top->short_name;
  } else if (mean.entropy >= 0.6) {
    name = "broad: spreads over the sentence", brief = "broad";
  } else if (mean.distance <= 0.15) {
    name = "local: within a few tokens of the diagonal", brief = "local";
  } else {
    name = fmt::format("mixed: most on the {} ({:.2f})", top->short_name, top->weight), brief = "mixed";
  }
  if (short_name) *short_name = brief;
  return name;
}

HeadClusters cluster_heads(const std::vector<HeadFeatures>& heads, int64_t clusters, uint64_t seed,
                           const std::vector<std::string>& groups) {
  const auto n = static_cast<int64_t>(heads.size());
  TS_CHECK(n >= 1, "heads: no heads to cluster");
  TS_CHECK(clusters >= 1 && clusters <= n, "heads: {} clusters for {} heads: ask for between 1 and {}", clusters, n, n);
  constexpr int64_t s = HeadFeatures::kScalars, p = kPatternGrid * kPatternGrid, f = s + p;
  std::vector<double> raw(n * f);
  for (int64_t h = 0; h < n; ++h) {
    const std::vector<double> scalars = heads[h].scalars();
    std::copy(scalars.begin(), scalars.end(), &raw[h * f]);
    std::copy(heads[h].pattern.begin(), heads[h].pattern.end(), &raw[h * f + s]);
  }
  // Column means and (population) variances over the heads.
  std::vector<double> mean(f, 0.0), variance(f, 0.0);
  for (int64_t h = 0; h < n; ++h)
    for (int64_t i = 0; i < f; ++i) mean[i] += raw[h * f + i] / static_cast<double>(n);
  for (int64_t h = 0; h < n; ++h)
    for (int64_t i = 0; i < f; ++i) variance[i] += std::pow(raw[h * f + i] - mean[i], 2) / static_cast<double>(n);
  // z = (x − mean) / std per scalar feature (0 for a feature equal on every head); the pattern's
  // cells share one std, √(mean of their variances), and the block is scaled by √(s / p) so its
  // total variance is s, like the scalar block's.
  double pooled = 0;
  for (int64_t i = s; i < f; ++i) pooled += variance[i] / static_cast<double>(p);
  pooled = std::sqrt(pooled);
  std::vector<scalar_t> z(n * f);
  for (int64_t h = 0; h < n; ++h)
    for (int64_t i = 0; i < f; ++i) {
      const double spread = i < s ? std::sqrt(variance[i]) : pooled / std::sqrt(static_cast<double>(s) / p);
      z[h * f + i] = static_cast<scalar_t>(spread > 1e-9 ? (raw[h * f + i] - mean[i]) / spread : 0.0);
    }
  HeadClusters result;
  result.standardised = from_vector(z, Shape{n, f});
  const nn::KMeansResult km = nn::kmeans(result.standardised, clusters, seed);
  // Renumber the clusters in the order of their first head.
  std::vector<int64_t> renumber(clusters, -1);
  int64_t next_number = 0;
  for (const int64_t label : km.labels)
    if (renumber[label] < 0) renumber[label] = next_number++;
  for (const int64_t label : km.labels) result.labels.push_back(renumber[label]);
  const int64_t used = next_number;  // every cluster holds a head after Lloyd's steps, but be safe
  result.names.resize(used), result.short_names.resize(used), result.means.resize(used);
  result.representatives.assign(used, -1);
  std::vector<double> best(used, std::numeric_limits<double>::infinity());
  for (int64_t old = 0; old < clusters; ++old) {
    const int64_t k = renumber[old];
    if (k < 0) continue;
    std::vector<HeadFeatures> members;
    for (int64_t h = 0; h < n; ++h) {
      if (km.labels[h] != old) continue;
      members.push_back(heads[h]);
      double d = 0;  // ‖z_h − centroid‖²: the nearest head represents the cluster (lowest index on ties)
      for (int64_t i = 0; i < f; ++i) d += std::pow(z[h * f + i] - km.centroids.data()[old * f + i], 2);
      if (d < best[k]) best[k] = d, result.representatives[k] = h;
    }
    result.means[k] = mean_features(members);
    result.names[k] = name_cluster(result.means[k], &result.short_names[k]);
  }
  // Two clusters with one name: tell them apart by the group all their heads share (e.g.
  // "cross-attention"), or else by their entropy.
  const std::vector<std::string> base_names = result.names;
  for (int64_t k = 0; k < used; ++k) {
    if (std::count(base_names.begin(), base_names.end(), base_names[k]) < 2) continue;
    std::string shared;
    for (int64_t h = 0; h < n && static_cast<size_t>(h) < groups.size(); ++h)
      if (result.labels[h] == k) shared = shared.empty() || shared == groups[h] ? groups[h] : "\n";
    result.names[k] += !shared.empty() && shared != "\n" ? " (" + shared + ")"
                                                        : fmt::format(" (entropy {:.2f})", result.means[k].entropy);
  }
  // The 2-D picture: the first two principal components of the same standardised features.
  result.x.assign(n, 0.0), result.y.assign(n, 0.0);
  if (n >= 2) {
    const nn::PCAResult pc = nn::pca(result.standardised, 2);
    for (int64_t h = 0; h < n; ++h) result.x[h] = pc.projected.at({h, 0}), result.y[h] = pc.projected.at({h, 1});
    result.explained_variance_ratio = pc.explained_variance_ratio;
  }
  return result;
}

// ---------------- running the model ----------------

HeadAnalysis analyze_heads(TranslatorModel& model, const Vocab& source_vocab, const Vocab& target_vocab,
                           const std::vector<std::string>& sentences, int clusters, uint64_t seed) {
  // Sentences the model can take: known length, not longer than its positional table.
  std::vector<std::vector<int64_t>> sources;
  for (const std::string& sentence : sentences) {
    std::vector<std::string> unknown;
    std::vector<int64_t> ids;
    try {
      ids = encode_sentence(sentence, source_vocab, &unknown);
    } catch (const Error&) {
      continue;  // empty after preprocessing
    }
    if (static_cast<int64_t>(ids.size()) <= model.config.max_length) sources.push_back(std::move(ids));
  }
  TS_CHECK(!sources.empty(), "heads: none of the {} sentences could be used (empty, or longer than the model's {} "
           "tokens)", sentences.size(), model.config.max_length);
  DecodeOptions greedy;
  greedy.beam_size = 1;
  const std::vector<std::vector<int64_t>> outputs = translate_ids(model, sources, greedy);

  HeadAnalysis analysis;
  std::vector<std::vector<HeadFeatures>> per_head;  // [head][sentence]
  std::vector<AttentionMap> first_maps;             // every head's map on the first sentence
  const auto& encoder_layers = *model.transformer->encoder->layers;
  const auto& decoder_layers = *model.transformer->decoder->layers;
  model.eval();
  model.transformer->keep_attention(true);
  for (size_t k = 0; k < sources.size(); ++k) {
    // Teacher-forced pass over <bos> + the greedy translation: the full maps of every layer.
    std::vector<int64_t> target_input{Vocab::kBos};
    target_input.insert(target_input.end(), outputs[k].begin(), outputs[k].end());
    target_input.resize(std::min<size_t>(target_input.size(), static_cast<size_t>(model.config.max_length)));
    const auto s = static_cast<int64_t>(sources[k].size()), t = static_cast<int64_t>(target_input.size());
    for (const auto& layer : encoder_layers) layer->self_attn->last_weights = Tensor();
    for (const auto& layer : decoder_layers) layer->self_attn->last_weights = layer->multihead_attn->last_weights = Tensor();
    {
      NoGradGuard no_grad;
      const IndexTensor source(sources[k], Shape{1, s});
      model.forward(source, non_padding_mask(source), IndexTensor(target_input, Shape{1, t}), Tensor());
    }
    size_t index = 0;  // the heads in a fixed order: E layers, D layers, X layers
    auto add_layer = [&](AttentionKind kind, int64_t layer, const nn::MultiHeadAttention& attention) {
      const Tensor& w = attention.last_weights;  // [1, H, Lq, Lk]
      if (!w.defined()) return;                  // Linformer / Performer: no per-position weights
      const int64_t heads = w.shape()[1], lq = w.shape()[2], lk = w.shape()[3];
      for (int64_t h = 0; h < heads; ++h, ++index) {
        AttentionMap map;
        map.rows = lq, map.cols = lk, map.causal = kind == AttentionKind::DecoderSelf;
        map.values.assign(w.data() + h * lq * lk, w.data() + (h + 1) * lq * lk);
        if (k == 0) {
          analysis.heads.push_back(HeadId{kind, layer, h + 1});
          per_head.emplace_back();
          first_maps.push_back(map);
        }
        per_head.at(index).push_back(attention_features(map));
      }
    };
    int64_t number = 1;
    for (const auto& layer : encoder_layers) add_layer(AttentionKind::EncoderSelf, number++, *layer->self_attn);
    number = 1;
    for (const auto& layer : decoder_layers) add_layer(AttentionKind::DecoderSelf, number++, *layer->self_attn);
    number = 1;
    for (const auto& layer : decoder_layers) add_layer(AttentionKind::Cross, number++, *layer->multihead_attn);
  }
  model.transformer->keep_attention(false);
  TS_CHECK(!analysis.heads.empty(), "heads: no layer of this model keeps per-position attention weights "
           "(Linformer / Performer attention has none)");
  analysis.sentences = sources.size();
  for (const auto& features : per_head) analysis.features.push_back(mean_features(features));
  std::vector<std::string> groups;
  for (const HeadId& id : analysis.heads)
    groups.push_back(id.kind == AttentionKind::EncoderSelf   ? "encoder"
                     : id.kind == AttentionKind::DecoderSelf ? "decoder self-attention"
                                                             : "cross-attention");
  analysis.clusters = cluster_heads(analysis.features, clusters, seed, groups);
  const HeadClusters& c = analysis.clusters;

  // The entropy table: one row per attention layer, one column per head.
  const int64_t nhead = model.config.nhead;
  analysis.entropy_header = {"layer"};
  for (int64_t h = 1; h <= nhead; ++h) analysis.entropy_header.push_back(fmt::format("head {}", h));
  for (size_t h = 0; h < analysis.heads.size(); ++h) {
    const HeadId& id = analysis.heads[h];
    const std::string row_name = fmt::format("{} {}", kind_name(id.kind), id.layer);
    if (analysis.entropy_rows.empty() || analysis.entropy_rows.back()[0] != row_name)
      analysis.entropy_rows.push_back({row_name});
    analysis.entropy_rows.back().push_back(fmt::format("{:.2f}", analysis.features[h].entropy));
  }

  // The summary.
  std::string& out = analysis.summary;
  out += fmt::format("{} heads (E encoder self-attention, D decoder self-attention, X decoder cross-attention; "
                     "E1.2 = layer 1, head 2) over {} sentences, k-means with k = {} (seed {})\n",
                     analysis.heads.size(), analysis.sentences, clusters, seed);
  out += "features: attention weight on the diagonal / previous / next / first / last (<eos>) token, entropy / "
         "log(keys), mean distance / length\n\n";
  for (size_t k = 0; k < c.names.size(); ++k) {
    std::string members;
    for (size_t h = 0; h < analysis.heads.size(); ++h)
      if (c.labels[h] == static_cast<int64_t>(k)) members += (members.empty() ? "" : " ") + analysis.heads[h].label();
    const HeadFeatures& m = c.means[k];
    out += fmt::format("cluster {}: {}\n  heads     {}\n", k + 1, c.names[k], members);
    out += fmt::format("  weight    diagonal {:.2f}  previous {:.2f}  next {:.2f}  first {:.2f}  last {:.2f}\n",
                       m.diagonal, m.previous, m.next, m.first, m.last);
    out += fmt::format("  spread    entropy {:.2f}  distance {:.2f}    representative {}\n\n", m.entropy, m.distance,
                       analysis.heads[static_cast<size_t>(c.representatives[k])].label());
  }
  out += "per head    cluster  diagonal previous     next    first     last  entropy distance\n";
  for (size_t h = 0; h < analysis.heads.size(); ++h) {
    const HeadFeatures& m = analysis.features[h];
    out += fmt::format("  {:<8}  {:>7}  {:8.2f} {:8.2f} {:8.2f} {:8.2f} {:8.2f} {:8.2f} {:8.2f}\n",
                       analysis.heads[h].label(), c.labels[h] + 1, m.diagonal, m.previous, m.next, m.first, m.last,
                       m.entropy, m.distance);
  }
  out += "\n";
  if (c.explained_variance_ratio.size() == 2)
    out += fmt::format("figure: the first two principal components of the standardised features explain {:.0f}% and "
                       "{:.0f}% of their variance\n",
                       100 * c.explained_variance_ratio[0], 100 * c.explained_variance_ratio[1]);

  // The figure: the scatter, then each cluster's representative on the first sentence.
  analysis.scatter_svg = draw_scatter(
      analysis.heads, c,
      fmt::format("Which heads do the same job: {} heads in {} clusters ({} sentences)", analysis.heads.size(),
                  c.names.size(), analysis.sentences));
  std::vector<std::string> source_labels, input_labels, output_labels;
  for (const int64_t id : sources[0]) source_labels.push_back(source_vocab.token(id));
  input_labels.push_back(target_vocab.token(Vocab::kBos));
  for (const int64_t id : outputs[0]) input_labels.push_back(target_vocab.token(id)), output_labels.push_back(target_vocab.token(id));
  output_labels.push_back(target_vocab.token(Vocab::kEos));
  std::vector<examples::Heatmap> maps;
  for (size_t k = 0; k < c.representatives.size(); ++k) {
    const auto h = static_cast<size_t>(c.representatives[k]);
    const AttentionMap& map = first_maps[h];
    examples::Heatmap m;
    m.title = fmt::format("{}: {} ({})", k + 1, analysis.heads[h].label(), c.short_names[k]);
    m.rows = map.rows, m.cols = map.cols, m.values = map.values;
    switch (analysis.heads[h].kind) {
      case AttentionKind::EncoderSelf: m.row_labels = m.column_labels = source_labels; break;
      case AttentionKind::DecoderSelf: m.row_labels = m.column_labels = input_labels; break;
      case AttentionKind::Cross: m.row_labels = output_labels, m.column_labels = source_labels; break;
    }
    if (static_cast<int64_t>(m.row_labels.size()) != m.rows) m.row_labels.clear();  // a truncated translation
    if (static_cast<int64_t>(m.column_labels.size()) != m.cols) m.column_labels.clear();
    maps.push_back(std::move(m));
  }
  analysis.heatmaps_svg = examples::svg_heatmaps(
      maps, static_cast<int>(std::min<size_t>(maps.size(), 4)),
      "each cluster's representative head on \"" + detokenize(source_vocab.decode(sources[0])) + "\" → \"" +
          detokenize(target_vocab.decode(outputs[0])) + "\"");
  analysis.svg = stack_svgs({analysis.scatter_svg, analysis.heatmaps_svg});
  return analysis;
}

std::string format_entropy_table(const HeadAnalysis& analysis) {
  std::vector<size_t> width(analysis.entropy_header.size(), 0);
  auto widen = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  };
  widen(analysis.entropy_header);
  for (const auto& row : analysis.entropy_rows) widen(row);
  auto line = [&](const std::vector<std::string>& row) {
    std::string s;
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      s += i == 0 ? fmt::format("{:<{}}", row[i], width[i]) : fmt::format("  {:>{}}", row[i], width[i]);
    return s + "\n";
  };
  std::string out = "mean attention entropy / log(keys) per layer and head (0: one key, 1: uniform)\n";
  out += line(analysis.entropy_header);
  for (const auto& row : analysis.entropy_rows) out += line(row);
  return out;
}

}  // namespace translator
