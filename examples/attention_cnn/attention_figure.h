// examples/attention_cnn/attention_figure.h — the picture `attention_cnn attention` writes: test
// images beside where the SelfAttention2d block looks from a few query positions.
//
// One row per image: the image with the query cells outlined, then for each query position (a
// cell of the final feature map, 7 x 7 for 28 x 28 inputs, each cell covering 4 x 4 pixels) the
// image under that query's attention weights — softmax row [N] reshaped to the map, divided by
// its maximum so each map uses the whole colour scale — and last the attention every position
// receives, averaged over all queries.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "examples/attention_cnn/idx.h"
#include "examples/attention_cnn/image_grid.h"
#include "examples/attention_cnn/model.h"

namespace attention_cnn {

using Position = std::pair<int64_t, int64_t>;  // (row, column) on the final feature map

// The first image of each of `count` distinct classes, in a fixed order of visually distinct
// classes (ankle boot, bag, T-shirt, trouser, sneaker, dress, …).
std::vector<int64_t> default_attention_images(const LabeledImages& data, int64_t count);

// Three queries down the middle of a size x size map: a quarter, half and three quarters down.
std::vector<Position> default_queries(int64_t size);

// The attention each of the n positions receives, averaged over all n queries: r_j = (1/n) Σ_i w_ij
// for one image's weights w [N, N] (row i = how query i attends). Σ_j r_j = 1.
std::vector<double> received_attention(const tessera::scalar_t* weights, int64_t n);

// Image `index` of `data` as a panel (greys in [0, 1]), without caption or heatmap.
ImagePanel image_panel(const LabeledImages& data, int64_t index);

// The SVG (image_grid.h). Runs the model in evaluation mode on images `indices` of `data`.
std::string attention_figure(AttentionCNN& model, const LabeledImages& data, const std::vector<int64_t>& indices,
                             const std::vector<Position>& queries, const std::vector<std::string>& class_names);

}  // namespace attention_cnn
