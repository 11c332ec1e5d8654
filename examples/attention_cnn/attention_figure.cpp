// examples/attention_cnn/attention_figure.cpp — see attention_figure.h.
#include "examples/attention_cnn/attention_figure.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "examples/attention_cnn/data.h"
#include "examples/attention_cnn/image_grid.h"

namespace attention_cnn {

using namespace tessera;

namespace {

constexpr const char* kQueryColours[] = {"#e41a1c", "#ff7f00", "#f781bf", "#a65628", "#984ea3", "#4daf4a"};

}  // namespace

ImagePanel image_panel(const LabeledImages& data, int64_t index) {
  ImagePanel image;
  image.rows = data.rows, image.cols = data.cols;
  const uint8_t* pixels = data.image(index);
  for (int64_t p = 0; p < data.rows * data.cols; ++p) image.pixels.push_back(pixels[p] / 255.0);
  return image;
}

std::vector<double> received_attention(const scalar_t* weights, int64_t n) {
  // r_j = (1/n) Σ_i w_ij: column means of the [N, N] map (row i = query i)
  std::vector<double> received(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) received[static_cast<size_t>(j)] += weights[i * n + j] / static_cast<double>(n);
  return received;
}

std::vector<int64_t> default_attention_images(const LabeledImages& data, int64_t count) {
  static constexpr int kOrder[] = {9, 8, 0, 1, 7, 3, 5, 2, 4, 6};
  std::vector<int64_t> out;
  for (const int label : kOrder) {
    if (static_cast<int64_t>(out.size()) >= count) break;
    for (int64_t i = 0; i < data.count; ++i)
      if (data.labels[static_cast<size_t>(i)] == label) {
        out.push_back(i);
        break;
      }
  }
  return out;
}

std::vector<Position> default_queries(int64_t size) {
  const int64_t middle = size / 2;
  return {{size / 4, middle}, {middle, middle}, {std::min(size - 1, (3 * size) / 4), middle}};
}

std::string attention_figure(AttentionCNN& model, const LabeledImages& data, const std::vector<int64_t>& indices,
                             const std::vector<Position>& queries, const std::vector<std::string>& class_names) {
  TS_CHECK(!indices.empty(), "attention: no images chosen");
  TS_CHECK(!queries.empty() && queries.size() <= std::size(kQueryColours), "attention: {} query positions (1 to {})",
           queries.size(), std::size(kQueryColours));
  const int64_t size = model.config.final_size(), n = size * size;
  for (const Position& q : queries)
    TS_CHECK(q.first >= 0 && q.first < size && q.second >= 0 && q.second < size,
             "attention: query position ({}, {}) lies outside the {} x {} feature map", q.first, q.second, size, size);
  for (const int64_t i : indices)
    TS_CHECK(i >= 0 && i < data.count, "attention: image {} of a set of {}", i, data.count);

  model.eval();
  model.keep_attention(true);
  Tensor logits, weights;
  {
    NoGradGuard no_grad;
    logits = model.forward(make_batch(data, indices).images);  // [B, classes]
    weights = model.attention_weights();                      // [B, N, N]
  }
  model.keep_attention(false);
  TS_CHECK(weights.dim() == 3 && weights.size(1) == n && weights.size(2) == n,
           "attention: expected weights [B, {}, {}], got {}", n, n, weights.shape().str());
  const Tensor probabilities = softmax(logits, 1);
  const int64_t classes = model.config.num_classes;

  std::vector<ImagePanel> panels;
  for (size_t b = 0; b < indices.size(); ++b) {
    const int64_t index = indices[b];
    ImagePanel image = image_panel(data, index);
    const scalar_t* prob = probabilities.data() + static_cast<int64_t>(b) * classes;
    const int64_t predicted = std::max_element(prob, prob + classes) - prob;
    const int64_t truth = data.labels[static_cast<size_t>(index)];
    image.caption = truth == predicted
                        ? fmt::format("#{} {} ({:.0f}%)", index, class_names.at(truth), 100 * prob[predicted])
                        : fmt::format("#{} {}: said {}", index, class_names.at(truth), class_names.at(predicted));
    image.overlay_rows = image.overlay_cols = size;
    for (size_t q = 0; q < queries.size(); ++q)
      image.markers.push_back({queries[q].first, queries[q].second, kQueryColours[q]});
    panels.push_back(image);

    const scalar_t* w = weights.data() + static_cast<int64_t>(b) * n * n;  // [N, N]: row = query
    for (size_t q = 0; q < queries.size(); ++q) {
      ImagePanel map = image;
      map.caption = fmt::format("query ({}, {})", queries[q].first, queries[q].second);
      map.markers = {{queries[q].first, queries[q].second, kQueryColours[q]}};
      const int64_t row = queries[q].first * size + queries[q].second;
      map.overlay.assign(w + row * n, w + (row + 1) * n);
      map.overlay = scaled_to_max(std::move(map.overlay));
      panels.push_back(std::move(map));
    }
    ImagePanel received = image;
    received.caption = "received, mean of all";
    received.markers.clear();
    received.overlay = scaled_to_max(received_attention(w, n));
    panels.push_back(std::move(received));
  }
  return svg_image_grid(panels, static_cast<int>(queries.size()) + 2,
                        fmt::format("SelfAttention2d on the {} x {} feature map (y = γ·o + x, γ = {:.3f})\n"
                                    "where each query position looks (colour = weight / its maximum)",
                                    size, size, model.attention->gamma.item()),
                        4);
}

}  // namespace attention_cnn
