// examples/attention_cnn/model.cpp — see model.h.
#include "examples/attention_cnn/model.h"

#include <nlohmann/json.hpp>

#include "examples/common/json_fields.h"
#include "nn/pooling.h"

namespace attention_cnn {

using namespace tessera;

std::string ModelConfig::to_json() const {
  const nlohmann::json j = {{"in_channels", in_channels},         {"image_size", image_size},
                            {"widths", widths},                   {"blocks_per_stage", blocks_per_stage},
                            {"attention", attention},             {"num_classes", num_classes}};
  return j.dump();
}

ModelConfig ModelConfig::from_json(const std::string& text) {
  ModelConfig c;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    c.in_channels = examples::json_int64(j.at("in_channels"));
    c.image_size = examples::json_int64(j.at("image_size"));
    const nlohmann::json& widths = j.at("widths");
    if (!widths.is_array())
      throw nlohmann::json::type_error::create(302, "\"widths\" must be an array of integers", &widths);
    c.widths.clear();
    for (const nlohmann::json& w : widths) c.widths.push_back(examples::json_int64(w));
    c.blocks_per_stage = examples::json_int64(j.at("blocks_per_stage"));
    c.attention = j.at("attention").get<bool>();
    c.num_classes = examples::json_int64(j.at("num_classes"));
  } catch (const nlohmann::json::exception& e) {
    fail("model config: not a valid attention_cnn config ({})", e.what());
  }
  c.validate();
  return c;
}

void ModelConfig::validate() const {
  TS_CHECK(in_channels > 0 && image_size > 0 && num_classes > 1,
           "model config: in_channels {}, image_size {} and num_classes {} must be positive (and classes > 1)",
           in_channels, image_size, num_classes);
  TS_CHECK(widths.size() >= 2, "model config: widths needs the stem's and at least one stage's, e.g. 16,32,64 (got {})",
           widths.size());
  for (const int64_t w : widths) TS_CHECK(w > 0, "model config: width {} must be positive", w);
  TS_CHECK(!attention || widths.back() >= 8,
           "model config: the attention block projects queries and keys to width/8 channels, so the last width ({}) "
           "must be at least 8",
           widths.back());
  TS_CHECK(blocks_per_stage >= 1, "model config: blocks per stage {} must be at least 1", blocks_per_stage);
}

int64_t ModelConfig::final_size() const {
  int64_t size = image_size;
  for (size_t stage = 1; stage < widths.size(); ++stage) size = size / 2 + size % 2;  // 3x3, stride 2, pad 1 (not (size + 1) / 2: INT64_MAX)
  return size;
}

AttentionCNN::AttentionCNN(const ModelConfig& c) : Module("AttentionCNN"), config(c) {
  config.validate();
  stem_conv = register_module("stem_conv", std::make_shared<nn::Conv2d>(nn::Conv2dOptions{
                                                .in_channels = config.in_channels,
                                                .out_channels = config.widths[0],
                                                .kernel_size = 3,
                                                .padding = 1,
                                                .bias = false}));  // BatchNorm's shift makes a bias redundant
  stem_norm = register_module("stem_norm", std::make_shared<nn::BatchNorm2d>(config.widths[0]));
  blocks = register_module("blocks", std::make_shared<nn::ModuleList<nn::ResidualBlock>>());
  for (size_t stage = 1; stage < config.widths.size(); ++stage)
    for (int64_t b = 0; b < config.blocks_per_stage; ++b) {
      const int64_t in = b == 0 ? config.widths[stage - 1] : config.widths[stage];
      blocks->push_back(std::make_shared<nn::ResidualBlock>(in, config.widths[stage], b == 0 ? 2 : 1));
    }
  if (config.attention)
    attention = register_module("attention", std::make_shared<nn::SelfAttention2d>(config.widths.back()));
  classifier = register_module("classifier", std::make_shared<nn::Linear>(config.widths.back(), config.num_classes));
}

Tensor AttentionCNN::forward(const Tensor& images) {
  TS_CHECK(images.dim() == 4 && images.size(1) == config.in_channels,
           "AttentionCNN: expected images [B, {}, H, W], got {}", config.in_channels, images.shape().str());
  Tensor h = stem_norm->forward(stem_conv->forward(images)).relu();  // [B, w0, S, S]
  for (const auto& block : *blocks) h = block->forward(h);            // [B, w_last, S', S']
  if (attention) h = attention->forward(h);                          // same shape
  h = nn::adaptive_avg_pool2d(h, 1);                                 // [B, w_last, 1, 1]
  h = h.reshape({h.size(0), h.size(1)});                             // [B, w_last]
  return classifier->forward(h);                                     // [B, classes]
}

void AttentionCNN::keep_attention(bool on) {
  TS_CHECK(attention, "keep_attention: this model has no attention block (it was trained with --no-attention)");
  attention->keep_weights = on;
}

Tensor AttentionCNN::attention_weights() const {
  TS_CHECK(attention, "attention_weights: this model has no attention block (it was trained with --no-attention)");
  TS_CHECK(attention->last_weights.defined(),
           "attention_weights: none kept; did you forget to call keep_attention(true) before forward?");
  return attention->last_weights;
}

}  // namespace attention_cnn
