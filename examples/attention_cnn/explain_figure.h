// examples/attention_cnn/explain_figure.h — the picture `attention_cnn explain` writes: which
// pixels the network's answer for a test image rests on, by three measures side by side.
//
// Let x be the image's pixels in [0, 1] (before the data set's standardisation, which the model
// function below applies itself) and z_c(x) the logit of the predicted class c. One row per image:
//
//   1. the image, captioned with its true and predicted class and the predicted probability;
//   2. gradient saliency |∂z_c/∂x_i| (Simonyan et al., 2014): how fast the logit moves when pixel
//      i alone is brightened a little — local, and noisy;
//   3. integrated gradients (Sundararajan et al., 2017) from the black image x′ = 0:
//        IG_i = (x_i − x′_i) · ∫₀¹ ∂z_c/∂x_i (x′ + α(x − x′)) dα,
//      whose sum is z_c(x) − z_c(x′) (completeness; the quadrature's error is printed). Drawn is
//      its positive part max(IG_i, 0), the evidence *for* c; a black pixel gets 0 whatever its
//      role, because it does not differ from the baseline;
//   4. the attention every position of the final feature map receives from the SAGAN block,
//      averaged over all queries (as the last column of attention_figure.h) — not an attribution
//      to the pixels at all, but what the heatmaps people usually show would suggest.
//
// Each map is scaled to its own range — the pixel maps divided by their 99th percentile and
// clipped at 1 (a few pixels would otherwise take the whole colour scale), the attention map by
// its maximum — so the colours compare places within one map, not magnitudes across images or
// methods. docs/attention_cnn.md discusses how far to trust each.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "examples/attention_cnn/idx.h"
#include "examples/attention_cnn/model.h"
#include "nn/interpret.h"

namespace attention_cnn {

struct Explanation {
  int64_t index = 0;                 // in the data set
  int64_t truth = 0, predicted = 0;  // classes
  double probability = 0;            // softmax of the predicted class
  std::vector<double> saliency;      // rows·cols values |∂z_c/∂x_i|, unscaled
  tessera::nn::IntegratedGradients integrated;  // attributions [1, 1, rows, cols], z_c(x), z_c(x′)
  int64_t attention_size = 0;                   // side of the attention map (0: no attention block)
  std::vector<double> received_attention;       // attention_size² values, Σ = 1
};

// Runs the model in evaluation mode (BatchNorm's running statistics) on images `indices` of `data`;
// integrated gradients use `steps` Gauss–Legendre points (the model runs steps + 2 times per image).
std::vector<Explanation> explain_images(AttentionCNN& model, const LabeledImages& data,
                                        const std::vector<int64_t>& indices, int steps = 32);

// The SVG (image_grid.h): one row per explanation, 4 panels (3 without an attention block).
std::string explain_figure(const std::vector<Explanation>& explanations, const LabeledImages& data,
                           const std::vector<std::string>& class_names, int steps);

// One line per image: Σ IG against z_c(x) − z_c(x′), and the relative error of completeness.
std::string format_completeness(const std::vector<Explanation>& explanations,
                                const std::vector<std::string>& class_names);

}  // namespace attention_cnn
