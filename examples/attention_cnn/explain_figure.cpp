// examples/attention_cnn/explain_figure.cpp — see explain_figure.h.
#include "examples/attention_cnn/explain_figure.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "examples/attention_cnn/attention_figure.h"
#include "examples/attention_cnn/data.h"
#include "examples/attention_cnn/image_grid.h"

namespace attention_cnn {

using namespace tessera;

namespace {

// Image `index` as pixels x in [0, 1]: [1, 1, rows, cols].
Tensor pixel_tensor(const LabeledImages& data, int64_t index) {
  const uint8_t* bytes = data.image(index);
  std::vector<scalar_t> values(static_cast<size_t>(data.rows * data.cols));
  for (size_t p = 0; p < values.size(); ++p) values[p] = static_cast<scalar_t>(bytes[p] / 255.0);
  return from_vector(values, {1, 1, data.rows, data.cols});
}

// The network as a function of pixels in [0, 1]: it was trained on (x − mean) / std (data.h),
// so the standardisation is part of the function whose gradient we take.
Tensor logits_of_pixels(AttentionCNN& model, const Tensor& pixels) {  // [B, 1, H, W] -> [B, classes]
  return model.forward((pixels - static_cast<scalar_t>(kFashionMnistMean)) *
                       static_cast<scalar_t>(1 / kFashionMnistStd));
}

// Pixel-level maps are heavy-tailed: a handful of pixels would take the top of the colour scale
// and leave the rest dark. As Captum's visualiser does, divide by a high percentile instead of
// the maximum and clip at 1 (the few pixels above it all get the top colour).
constexpr double kScalePercentile = 0.99;

std::vector<double> scaled_to_percentile(std::vector<double> values, double percentile) {
  if (values.empty()) return values;
  std::vector<double> sorted = values;
  const auto k = static_cast<size_t>(percentile * static_cast<double>(sorted.size() - 1));
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k), sorted.end());
  const double top = sorted[k];
  if (!(top > 0)) return scaled_to_max(std::move(values));  // mostly zeros: fall back to the maximum
  for (double& v : values) v = std::min(v / top, 1.0);
  return values;
}

std::vector<double> to_doubles(const Tensor& t) {
  return std::vector<double>(t.data(), t.data() + t.numel());  // every tensor is contiguous
}

}  // namespace

std::vector<Explanation> explain_images(AttentionCNN& model, const LabeledImages& data,
                                        const std::vector<int64_t>& indices, int steps) {
  TS_CHECK(!indices.empty(), "explain: no images chosen");
  TS_CHECK(steps >= 2, "explain: integrated gradients need at least 2 points on the path, got --steps {}", steps);
  for (const int64_t i : indices)
    TS_CHECK(i >= 0 && i < data.count, "explain: image {} is not in the set of {} images (0 to {})", i, data.count,
             data.count - 1);
  model.eval();  // BatchNorm's running statistics: each image's answer depends on that image only
  const int64_t classes = model.config.num_classes;

  std::vector<Explanation> out;
  for (const int64_t index : indices) {
    Explanation e;
    e.index = index;
    e.truth = data.labels[static_cast<size_t>(index)];
    const Tensor x = pixel_tensor(data, index);  // [1, 1, H, W]

    // One forward without a graph: the prediction, and the attention map it formed.
    {
      NoGradGuard no_grad;
      if (model.attention) model.keep_attention(true);
      const Tensor probabilities = softmax(logits_of_pixels(model, x), 1);  // [1, classes]
      const scalar_t* p = probabilities.data();
      e.predicted = std::max_element(p, p + classes) - p;
      e.probability = p[e.predicted];
      if (model.attention) {
        const Tensor weights = model.attention_weights();  // [1, N, N]
        model.keep_attention(false);
        e.attention_size = model.config.final_size();
        e.received_attention = received_attention(weights.data(), weights.size(1));
      }
    }

    // z_c(x): the logit of the predicted class, one number per call.
    const int64_t c = e.predicted;
    auto logit = [&model, c](const Tensor& pixels) { return narrow(logits_of_pixels(model, pixels), 1, c, 1); };

    // Gradient saliency: |∂z_c/∂x_i|, from one backward pass.
    Tensor leaf = x.detach();
    leaf.requires_grad_();
    const Tensor gradient = nn::input_gradients(logit(leaf), {leaf}, /*retain_graph=*/false)[0];
    e.saliency = to_doubles(abs(gradient));

    // Integrated gradients along the straight path from black (x′ = 0) to x.
    nn::IntegratedGradientsOptions options;
    options.steps = steps;
    e.integrated = nn::integrated_gradients(logit, x, zeros(x.shape()), options);
    out.push_back(std::move(e));
  }
  return out;
}

std::string explain_figure(const std::vector<Explanation>& explanations, const LabeledImages& data,
                           const std::vector<std::string>& class_names, int steps) {
  TS_CHECK(!explanations.empty(), "explain: no images to draw");
  const bool with_attention = explanations.front().attention_size > 0;
  std::vector<ImagePanel> panels;
  for (const Explanation& e : explanations) {
    ImagePanel image = image_panel(data, e.index);
    image.caption = fmt::format("#{} true: {},\npredicted: {} (p={:.2f})", e.index, class_names.at(e.truth),
                                class_names.at(e.predicted), e.probability);
    panels.push_back(image);
    image.caption.clear();

    // Pixel-level maps: one overlay value per pixel, as a bitmap.
    ImagePanel pixel_map = image;
    pixel_map.overlay_rows = data.rows, pixel_map.overlay_cols = data.cols;
    pixel_map.overlay_bitmap = true;
    pixel_map.overlay_opacity = 0.85;

    ImagePanel saliency = pixel_map;
    saliency.caption = "gradient |∂z/∂x|";
    saliency.overlay = scaled_to_percentile(e.saliency, kScalePercentile);
    panels.push_back(std::move(saliency));

    ImagePanel integrated = pixel_map;
    integrated.caption = "integrated gradients,\npositive part";
    integrated.overlay = to_doubles(e.integrated.attributions);
    for (double& v : integrated.overlay) v = std::max(v, 0.0);  // evidence for the predicted class
    integrated.overlay = scaled_to_percentile(std::move(integrated.overlay), kScalePercentile);
    panels.push_back(std::move(integrated));

    if (with_attention) {
      TS_CHECK(e.attention_size > 0 && static_cast<int64_t>(e.received_attention.size()) ==
                                           e.attention_size * e.attention_size,
               "explain: image {} has {} attention values for a {} x {} map", e.index, e.received_attention.size(),
               e.attention_size, e.attention_size);
      ImagePanel attention = image;
      attention.caption = "attention received,\nmean over queries";
      attention.overlay_rows = attention.overlay_cols = e.attention_size;
      attention.overlay = scaled_to_max(e.received_attention);
      panels.push_back(std::move(attention));
    }
  }
  return svg_image_grid(
      panels, with_attention ? 4 : 3,
      fmt::format("What the prediction rests on (z = logit of the predicted class, x = the pixels)\n"
                  "gradient saliency · integrated gradients from a black image ({} Gauss–Legendre points){}\n"
                  "each map scaled to its own range: pixel maps by their 99th percentile (clipped at 1), "
                  "attention by its maximum",
                  steps, with_attention ? " · attention of the SAGAN block" : ""),
      4);
}

std::string format_completeness(const std::vector<Explanation>& explanations,
                                const std::vector<std::string>& class_names) {
  // Completeness: Σ_i IG_i = z_c(x) − z_c(x′) exactly; the difference is the quadrature's error.
  std::string out = "integrated gradients, completeness: sum of attributions vs z(x) - z(black)\n";
  for (const Explanation& e : explanations) {
    const nn::IntegratedGradients& ig = e.integrated;
    out += fmt::format("  #{:<5} {:>11} -> {:<11} sum {:9.4f}  vs  {:9.4f} - {:9.4f} = {:9.4f}   relative error {:.2e}\n",
                       e.index, class_names.at(e.truth), class_names.at(e.predicted), ig.total, ig.output,
                       ig.baseline_output, ig.output - ig.baseline_output, ig.relative_completeness_error());
  }
  return out;
}

}  // namespace attention_cnn
