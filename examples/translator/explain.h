// examples/translator/explain.h — which source words did each output word rest on? Gradient
// saliency, integrated gradients and cross-attention for one sentence, side by side.
//
// The model translates the sentence (greedy or beam), then re-reads its own translation y with
// teacher forcing, and for each output position t takes the scalar s_t = log p(y_t | y_<t, x):
// how sure the model is of the word it chose. With e_j = E[x_j] the source token embeddings
// (the rows of the embedding table the encoder starts from):
//
//   gradient saliency   S[t, j] = ‖∂s_t/∂e_j‖₂                      (nn::token_saliency)
//   gradient × input    G[t, j] = Σ_d e_jd ∂s_t/∂e_jd
//   integrated grads    I[t, j] = Σ_d (e_jd − 0) ∫₀¹ ∂s_t/∂e_jd(α e) dα   (baseline: all-zero
//                       embeddings, which is the <pad> row: "no words", positions kept)
//   cross-attention     A[t, j] = the last decoder layer's weights, averaged over heads
//
// Completeness: Σ_j I[t, j] = s_t(e) − s_t(0) up to the quadrature's error, reported per row.
// And the attention material's "gradient of an attention weight with respect to the input":
// for one chosen weight α = A[t*, j*], ‖∂α/∂e_j‖₂ per source token — which words move that
// weight (often others than j*: attention is computed from the whole sentence).
//
// The figure shows A and S row-normalised (each row's share) beside I (signed, blue < 0 < red):
// where attention and the gradients disagree is where attention heatmaps mislead.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "examples/translator/model.h"
#include "examples/translator/vocab.h"

namespace translator {

struct ExplainOptions {
  int64_t beam = 1;
  double length_penalty = 0.6;
  int steps = 256;                // integrated gradients' quadrature points (the trained model's
                                  // kinks need many: see docs/interpretability.md)
  int64_t weight_row = -1;        // output position t* of the attention weight to differentiate
  int64_t weight_col = -1;        //   and its source position j*; -1: the least peaked row t*,
                                  //   j* = argmax of A[t*]
};

struct Explanation {
  std::vector<std::string> source_tokens;   // J: the source tokens (ending in <eos>)
  std::vector<std::string> output_tokens;   // T: the translation's tokens and the final <eos>
  int64_t rows = 0, cols = 0;               // T, J
  // T × J, row-major
  std::vector<double> attention, saliency, gradient_times_input, integrated;
  std::vector<double> log_probability;      // s_t (T)
  std::vector<double> completeness_error;   // |Σ_j I[t, j] − (s_t(e) − s_t(0))| / |s_t(e) − s_t(0)|, per t
  int64_t weight_row = 0, weight_col = 0;   // the attention weight differentiated
  double weight = 0;                        // its value
  std::vector<double> weight_gradient;      // ‖∂α/∂e_j‖₂, J
  std::string translation;                  // detokenised
};

Explanation explain(TranslatorModel& model, const Vocab& source_vocab, const Vocab& target_vocab,
                    const std::string& sentence, const ExplainOptions& options = {});

// The figure: attention, gradient saliency, integrated gradients, and the weight's gradient.
std::string explanation_svg(const Explanation& e);

// A plain-text summary: per output token, the source token with the most attention, the most
// saliency and the largest integrated gradient, and the completeness errors.
std::string explanation_text(const Explanation& e);

}  // namespace translator
