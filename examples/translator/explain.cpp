// examples/translator/explain.cpp — see explain.h.
#include "examples/translator/explain.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "examples/common/svg.h"
#include "examples/translator/decode.h"
#include "examples/translator/text.h"
#include "examples/translator/train.h"
#include "nn/interpret.h"

namespace translator {

using namespace tessera;

namespace {

// log p(y_t | …) for every t of a teacher-forced pass: logits [1, T, V] -> the picked entries
Tensor picked_log_probability(const Tensor& logits, int64_t t, int64_t token) {
  const Tensor log_p = log_softmax(narrow(logits, 1, t, 1), -1);  // [1, 1, V]
  return sum(narrow(log_p, 2, token, 1));                          // one number
}

std::vector<double> to_doubles(const Tensor& t) {
  const std::vector<scalar_t> v = t.to_vector();
  return std::vector<double>(v.begin(), v.end());
}

}  // namespace

Explanation explain(TranslatorModel& model, const Vocab& source_vocab, const Vocab& target_vocab,
                    const std::string& sentence, const ExplainOptions& options) {
  TS_CHECK(options.steps >= 2, "explain: --steps must be at least 2, got {}", options.steps);
  std::vector<std::string> unknown;
  const std::vector<int64_t> source_ids = encode_sentence(sentence, source_vocab, &unknown);
  TS_CHECK(static_cast<int64_t>(source_ids.size()) <= model.config.max_length,
           "explain: the sentence has {} tokens, the model takes at most {}", source_ids.size(),
           model.config.max_length);
  DecodeOptions d;
  d.beam_size = options.beam;
  d.length_penalty = options.length_penalty;
  const std::vector<int64_t> output = translate_ids(model, {source_ids}, d)[0];  // puts the model in eval mode
  model.eval();

  Explanation e;
  const auto J = static_cast<int64_t>(source_ids.size());
  std::vector<int64_t> target_input{Vocab::kBos}, targets = output;
  target_input.insert(target_input.end(), output.begin(), output.end());
  targets.push_back(Vocab::kEos);
  const auto T = static_cast<int64_t>(targets.size());
  e.rows = T, e.cols = J;
  for (int64_t id : source_ids) e.source_tokens.push_back(source_vocab.token(id));
  for (int64_t id : targets) e.output_tokens.push_back(target_vocab.token(id));
  e.translation = detokenize(target_vocab.decode(output));

  const IndexTensor source(source_ids, Shape{1, J});
  const Tensor mask = non_padding_mask(source);
  const IndexTensor target(target_input, Shape{1, T});
  // s_t as a function of the source token embeddings
  auto log_probability_at = [&](const Tensor& embeddings, int64_t t) {
    return picked_log_probability(model.decode(target, model.encode_embedded(embeddings, mask), mask), t, targets[t]);
  };

  // ---- one forward with the graph kept: gradients of every s_t and of one attention weight ----
  const Tensor embeddings = model.source_token_embeddings(source);  // [1, J, d]: E[x], in the graph
  model.transformer->keep_attention(true, /*with_graph=*/true);
  const Tensor logits = model.decode(target, model.encode_embedded(embeddings, mask), mask);
  model.transformer->keep_attention(false);
  const auto& decoder_layers = *model.transformer->decoder->layers;
  Tensor cross = decoder_layers[decoder_layers.size() - 1]->multihead_attn->last_weights;  // [1, H, T, J], in the graph
  TS_CHECK(cross.defined(), "explain: the last decoder layer kept no cross-attention weights");
  cross = mean(cross, {1});  // [1, T, J]: averaged over heads
  e.attention = to_doubles(cross.detach());
  for (int64_t t = 0; t < T; ++t) {
    const Tensor s = picked_log_probability(logits, t, targets[t]);
    e.log_probability.push_back(s.item());
    const Tensor g = nn::input_gradients(s, {embeddings})[0];  // [1, J, d]
    const std::vector<double> norm = to_doubles(nn::token_saliency(g));
    const std::vector<double> gxi = to_doubles(sum(nn::gradient_times_input(g, embeddings), {-1}));
    e.saliency.insert(e.saliency.end(), norm.begin(), norm.end());
    e.gradient_times_input.insert(e.gradient_times_input.end(), gxi.begin(), gxi.end());
  }
  // the attention weight α = A[t*, j*] and ∂α/∂e. By default t* is the output token whose
  // attention is least peaked (a weight near 1 is saturated: its gradient is ~0 whatever matters)
  // and j* its most attended source token.
  e.weight_row = options.weight_row;
  if (e.weight_row < 0) {
    double least_peak = 2;
    for (int64_t t = 0; t < T; ++t) {
      const double peak = *std::max_element(e.attention.begin() + t * J, e.attention.begin() + (t + 1) * J);
      if (peak < least_peak) least_peak = peak, e.weight_row = t;
    }
  }
  TS_CHECK(e.weight_row < T, "explain: --weight row {} is outside the {} output tokens", e.weight_row, T);
  if (options.weight_col >= 0) {
    TS_CHECK(options.weight_col < J, "explain: --weight column {} is outside the {} source tokens", options.weight_col, J);
    e.weight_col = options.weight_col;
  } else {
    const auto row = e.attention.begin() + e.weight_row * J;
    e.weight_col = std::max_element(row, row + J) - row;
  }
  const Tensor alpha = sum(narrow(narrow(cross, 1, e.weight_row, 1), 2, e.weight_col, 1));
  e.weight = alpha.item();
  e.weight_gradient = to_doubles(nn::token_saliency(nn::input_gradients(alpha, {embeddings}, false)[0]));

  // ---- integrated gradients per output token, from the all-zero (<pad>) embeddings ----
  nn::IntegratedGradientsOptions ig;
  ig.steps = options.steps;
  const Tensor zero = zeros(embeddings.shape());
  for (int64_t t = 0; t < T; ++t) {
    const nn::IntegratedGradients r =
        nn::integrated_gradients([&](const Tensor& x) { return log_probability_at(x, t); }, embeddings.detach(), zero, ig);
    const std::vector<double> per_token = to_doubles(sum(r.attributions, {-1}));
    e.integrated.insert(e.integrated.end(), per_token.begin(), per_token.end());
    e.completeness_error.push_back(r.relative_completeness_error());
  }
  return e;
}

std::string explanation_svg(const Explanation& e) {
  using examples::ColourMap;
  using examples::Heatmap;
  using examples::HeatmapStyle;
  // each row as its share of the row's total (|values| for signed ones), so rows compare
  auto normalised = [&](const std::vector<double>& values, bool absolute) {
    std::vector<double> out(values.size());
    for (int64_t t = 0; t < e.rows; ++t) {
      double total = 0;
      for (int64_t j = 0; j < e.cols; ++j) total += std::abs(values[t * e.cols + j]);
      for (int64_t j = 0; j < e.cols; ++j) {
        const double v = values[t * e.cols + j];
        out[t * e.cols + j] = total > 0 ? (absolute ? std::abs(v) : v) / total : 0;
      }
    }
    return out;
  };
  auto map = [&](const std::string& title, std::vector<double> values) {
    Heatmap m;
    m.title = title;
    m.rows = e.rows, m.cols = e.cols;
    m.row_labels = e.output_tokens, m.column_labels = e.source_tokens;
    m.values = std::move(values);
    return m;
  };
  HeatmapStyle shares;
  shares.colours = ColourMap::Reds;
  shares.fixed_range = true;
  shares.x_label = "source token";
  shares.y_label = "output token";
  HeatmapStyle signed_style = shares;
  signed_style.colours = ColourMap::RedBlue;
  signed_style.fixed_range = false;

  const std::string attention_and_saliency = examples::svg_heatmaps(
      {map("cross-attention (last layer, mean of heads)", e.attention),
       map("gradient saliency ‖∂ log p / ∂e‖, share of row", normalised(e.saliency, true))},
      2, "", shares);
  const std::string integrated =
      examples::svg_heatmaps({map("integrated gradients Σ_d, share of row (signed)", normalised(e.integrated, false))},
                             1, "", signed_style);
  Heatmap weight;
  weight.title = fmt::format("‖∂α/∂e_j‖ for α = A[{} → {}] = {:.2f}", e.output_tokens[e.weight_row],
                             e.source_tokens[e.weight_col], e.weight);
  weight.rows = 1, weight.cols = e.cols;
  weight.row_labels = {"∂α/∂e"};
  weight.column_labels = e.source_tokens;
  weight.values = e.weight_gradient;
  HeatmapStyle weight_style;
  weight_style.colours = ColourMap::Reds;
  weight_style.x_label = "source token";
  const std::string weight_gradient = examples::svg_heatmaps({weight}, 1, "", weight_style);
  std::string source;
  for (const auto& s : e.source_tokens) source += (source.empty() ? "" : " ") + s;
  return examples::svg_compose({attention_and_saliency, integrated, weight_gradient}, 3,
                               "what each output token rests on: " + source + "  →  " + e.translation);
}

std::string explanation_text(const Explanation& e) {
  auto argmax = [&](const std::vector<double>& values, int64_t t) {
    const auto row = values.begin() + t * e.cols;
    return std::max_element(row, row + e.cols) - row;
  };
  std::string out = fmt::format("{:<14} {:>8}   {:<14} {:<14} {:<14} {:>12}\n", "output token", "log p",
                                "most attended", "most salient", "largest IG", "IG compl.err");
  int agree = 0;
  for (int64_t t = 0; t < e.rows; ++t) {
    const int64_t a = argmax(e.attention, t), s = argmax(e.saliency, t), i = argmax(e.integrated, t);
    agree += a == s;
    out += fmt::format("{:<14} {:>8.3f}   {:<14} {:<14} {:<14} {:>12.1e}\n", e.output_tokens[t], e.log_probability[t],
                       e.source_tokens[a], e.source_tokens[s], e.source_tokens[i], e.completeness_error[t]);
  }
  out += fmt::format("attention's and the gradient's top source token agree for {} of {} output tokens\n", agree,
                     e.rows);
  out += fmt::format("attention weight {} → {} = {:.3f}; the source tokens that move it most: ",
                     e.output_tokens[e.weight_row], e.source_tokens[e.weight_col], e.weight);
  std::vector<int64_t> order(e.cols);
  for (int64_t j = 0; j < e.cols; ++j) order[j] = j;
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return e.weight_gradient[a] > e.weight_gradient[b]; });
  for (int64_t k = 0; k < std::min<int64_t>(3, e.cols); ++k)
    out += fmt::format("{}{} ({:.3g})", k ? ", " : "", e.source_tokens[order[k]], e.weight_gradient[order[k]]);
  out += "\n";
  return out;
}

}  // namespace translator
