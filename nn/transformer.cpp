#include "nn/transformer.h"

#include <cmath>

#include "nn/init.h"

namespace tessera::nn {

// ---------------- positional encodings ----------------
SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(int64_t d, int64_t max_len, double p)
    : UnaryModule("SinusoidalPositionalEncoding"), dropout(p) {
  TS_CHECK(d > 0 && max_len > 0, "SinusoidalPositionalEncoding: d_model {} and max_len {} must be positive", d, max_len);
  table = empty({max_len, d});
  for (int64_t pos = 0; pos < max_len; ++pos)
    for (int64_t i = 0; i < d; ++i) {
      const double angle = static_cast<double>(pos) / std::pow(10000.0, static_cast<double>(i - i % 2) / static_cast<double>(d));
      table.data()[pos * d + i] = static_cast<scalar_t>(i % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
}

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x) { return forward(x, 0); }

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x, int64_t start) {
  const int64_t max_len = table.shape()[0], d = table.shape()[1];
  TS_CHECK(x.dim() == 3 && x.shape()[2] == d, "SinusoidalPositionalEncoding: expected [batch, length, {}], got {}", d,
           x.shape());
  const int64_t l = x.shape()[1];
  TS_CHECK(start >= 0 && start + l <= max_len,
           "SinusoidalPositionalEncoding: positions {}..{} exceed max_len {}; build it with a larger max_len", start,
           start + l - 1, max_len);
  return nn::dropout(x + narrow(table, 0, start, l), dropout, is_training());
}

LearnedPositionalEncoding::LearnedPositionalEncoding(int64_t d, int64_t max_len, double p)
    : UnaryModule("LearnedPositionalEncoding"), dropout(p) {
  embedding = register_module("embedding", std::make_shared<Embedding>(max_len, d));
}

Tensor LearnedPositionalEncoding::forward(const Tensor& x) { return forward(x, 0); }

Tensor LearnedPositionalEncoding::forward(const Tensor& x, int64_t start) {
  const int64_t max_len = embedding->num_embeddings;
  TS_CHECK(x.dim() == 3 && x.shape()[2] == embedding->embedding_dim,
           "LearnedPositionalEncoding: expected [batch, length, {}], got {}", embedding->embedding_dim, x.shape());
  const int64_t l = x.shape()[1];
  TS_CHECK(start >= 0 && start + l <= max_len, "LearnedPositionalEncoding: positions {}..{} exceed max_len {}", start,
           start + l - 1, max_len);
  std::vector<int64_t> positions(l);
  for (int64_t i = 0; i < l; ++i) positions[i] = start + i;
  return nn::dropout(x + embedding->forward(IndexTensor(positions)), dropout, is_training());
}

// ---------------- layers ----------------
namespace {
Tensor activate(const Tensor& x, const std::string& name) { return name == "gelu" ? gelu(x) : relu(x); }

void check_activation(const std::string& name) {
  TS_CHECK(name == "relu" || name == "gelu", "Transformer: activation '{}' is not supported (relu or gelu)", name);
}
// The position-wise feed-forward block of both layers, without its last dropout (the residual
// connection applies it): linear2(dropout(act(linear1(x))))
Tensor position_wise_feed_forward(const Tensor& x, Linear& linear1, Linear& linear2, const std::string& activation,
                                  double p, bool train) {
  Tensor h = nn::dropout(activate(linear1.forward(x), activation), p, train);
  return linear2.forward(h);
}

// The residual connection around a block's output `branch` (before the block's dropout):
//   post-norm  norm(x + dropout(branch))   one fused op, forward and backward (nn/layernorm.h)
//   pre-norm   x + dropout(branch)
// Both draw the dropout mask at the same point as the composed ops did, so a seed gives the same bits.
Tensor residual(const Tensor& x, const Tensor& branch, double p, bool train, const LayerNorm* post_norm) {
  if (!post_norm) return x + nn::dropout(branch, p, train);
  return add_dropout_layer_norm(x, branch, p, train, post_norm->normalized_shape, post_norm->weight, post_norm->bias,
                                post_norm->eps);
}
}  // namespace

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerOptions& o)
    : UnaryModule("TransformerEncoderLayer"), norm_first(o.norm_first), dropout(o.dropout), activation(o.activation) {
  check_activation(o.activation);
  MultiHeadAttentionOptions attention{o.d_model, o.nhead, o.dropout, true, 0, 0};
  attention.linformer_k = o.encoder_linformer_k, attention.max_length = o.max_length;
  self_attn = register_module("self_attn", std::make_shared<MultiHeadAttention>(attention));
  linear1 = register_module("linear1", std::make_shared<Linear>(o.d_model, o.dim_feedforward));
  linear2 = register_module("linear2", std::make_shared<Linear>(o.dim_feedforward, o.d_model));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps));
}

Tensor TransformerEncoderLayer::feed_forward(const Tensor& x) {
  return position_wise_feed_forward(x, *linear1, *linear2, activation, dropout, is_training());
}

// post-norm: x = norm1(x + SA(x)); x = norm2(x + FF(x))   (SA, FF end in dropout)
// pre-norm:  x = x + SA(norm1(x)); x = x + FF(norm2(x))
Tensor TransformerEncoderLayer::forward(const Tensor& src, const EncoderCall& call) {
  auto attend = [&](const Tensor& x) {
    MhaCall c;
    c.attn_mask = call.mask;
    c.key_padding_mask = call.src_key_padding_mask;
    c.is_causal = call.is_causal;
    return self_attn->forward(x, x, x, c).output;
  };
  const bool train = is_training();
  if (norm_first) {
    Tensor x = residual(src, attend(norm1->forward(src)), dropout, train, nullptr);
    return residual(x, feed_forward(norm2->forward(x)), dropout, train, nullptr);
  }
  Tensor x = residual(src, attend(src), dropout, train, norm1.get());
  return residual(x, feed_forward(x), dropout, train, norm2.get());
}

TransformerDecoderLayer::TransformerDecoderLayer(const TransformerOptions& o)
    : Module("TransformerDecoderLayer"), norm_first(o.norm_first), dropout(o.dropout), activation(o.activation) {
  check_activation(o.activation);
  self_attn = register_module("self_attn", std::make_shared<MultiHeadAttention>(o.d_model, o.nhead, o.dropout));
  multihead_attn = register_module("multihead_attn", std::make_shared<MultiHeadAttention>(o.d_model, o.nhead, o.dropout));
  linear1 = register_module("linear1", std::make_shared<Linear>(o.d_model, o.dim_feedforward));
  linear2 = register_module("linear2", std::make_shared<Linear>(o.dim_feedforward, o.d_model));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps));
  norm3 = register_module("norm3", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps));
}

Tensor TransformerDecoderLayer::feed_forward(const Tensor& x) {
  return position_wise_feed_forward(x, *linear1, *linear2, activation, dropout, is_training());
}

// post-norm: x = norm1(x + SA(x)); x = norm2(x + CA(x, memory)); x = norm3(x + FF(x))
// pre-norm:  x = x + SA(norm1(x)); x = x + CA(norm2(x), memory); x = x + FF(norm3(x))
Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory, const DecoderCall& call) {
  return forward(tgt, memory, call, nullptr);
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory, const DecoderCall& call,
                                        DecoderCache::Layer* cache) {
  const bool train = is_training();
  TS_CHECK(!(cache && train), "TransformerDecoderLayer: the decoding cache is for inference: call eval() first "
           "(dropout would differ per step, and no gradient flows into the cache)");
  auto self_block = [&](const Tensor& x) {
    MhaCall c;
    c.attn_mask = call.tgt_mask;
    c.key_padding_mask = call.tgt_key_padding_mask;
    c.is_causal = call.tgt_is_causal;
    if (cache) cache->self_attn.static_kv = false, c.cache = &cache->self_attn;
    return self_attn->forward(x, x, x, c).output;
  };
  auto cross_block = [&](const Tensor& x) {
    MhaCall c;
    c.attn_mask = call.memory_mask;
    c.key_padding_mask = call.memory_key_padding_mask;
    if (cache) cache->cross_attn.static_kv = true, c.cache = &cache->cross_attn;
    return multihead_attn->forward(x, memory, memory, c).output;
  };
  if (norm_first) {
    Tensor x = residual(tgt, self_block(norm1->forward(tgt)), dropout, train, nullptr);
    x = residual(x, cross_block(norm2->forward(x)), dropout, train, nullptr);
    return residual(x, feed_forward(norm3->forward(x)), dropout, train, nullptr);
  }
  Tensor x = residual(tgt, self_block(tgt), dropout, train, norm1.get());
  x = residual(x, cross_block(x), dropout, train, norm2.get());
  return residual(x, feed_forward(x), dropout, train, norm3.get());
}

TransformerEncoder::TransformerEncoder(const TransformerOptions& o, int64_t n, bool final_norm)
    : Module("TransformerEncoder") {
  layers = register_module("layers", std::make_shared<ModuleList<TransformerEncoderLayer>>());
  for (int64_t i = 0; i < n; ++i) layers->push_back(std::make_shared<TransformerEncoderLayer>(o));
  if (final_norm) norm = register_module("norm", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps));
}

Tensor TransformerEncoder::forward(const Tensor& src, const EncoderCall& call) {
  Tensor x = src;
  for (const auto& layer : *layers) x = layer->forward(x, call);
  return norm ? norm->forward(x) : x;
}

TransformerDecoder::TransformerDecoder(const TransformerOptions& o, int64_t n, bool final_norm)
    : Module("TransformerDecoder") {
  layers = register_module("layers", std::make_shared<ModuleList<TransformerDecoderLayer>>());
  for (int64_t i = 0; i < n; ++i) layers->push_back(std::make_shared<TransformerDecoderLayer>(o));
  if (final_norm) norm = register_module("norm", std::make_shared<LayerNorm>(o.d_model, o.layer_norm_eps));
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory, const DecoderCall& call) {
  DecoderCache* cache = call.cache;
  if (cache && cache->layers.empty()) cache->layers.resize(layers->size());
  TS_CHECK(!cache || cache->layers.size() == layers->size(),
           "TransformerDecoder: the cache has {} layers but the decoder {}", cache ? cache->layers.size() : 0,
           layers->size());
  Tensor x = tgt;
  size_t i = 0;
  for (const auto& layer : *layers) {
    x = layer->forward(x, memory, call, cache ? &cache->layers[i] : nullptr);
    ++i;
  }
  return norm ? norm->forward(x) : x;
}

void DecoderCache::reorder(const IndexTensor& batch_rows) {
  for (Layer& layer : layers) layer.self_attn.reorder(batch_rows), layer.cross_attn.reorder(batch_rows);
}

Transformer::Transformer(const TransformerOptions& o) : Module("Transformer"), options(o) {
  TS_CHECK(o.d_model > 0 && o.nhead > 0 && o.d_model % o.nhead == 0,
           "Transformer: d_model {} must be a positive multiple of nhead {}", o.d_model, o.nhead);
  encoder = register_module("encoder", std::make_shared<TransformerEncoder>(o, o.num_encoder_layers));
  decoder = register_module("decoder", std::make_shared<TransformerDecoder>(o, o.num_decoder_layers));
  for (Tensor& p : parameters())
    if (p.dim() > 1) init::xavier_uniform_(p);
}

Tensor Transformer::forward(const Tensor& src, const Tensor& tgt, const EncoderCall& ec, const DecoderCall& dc) {
  TS_CHECK(src.dim() == 3 && tgt.dim() == 3 && src.shape()[0] == tgt.shape()[0],
           "Transformer: src and tgt must be [batch, length, d_model] with the same batch, got {} and {}", src.shape(),
           tgt.shape());
  TS_CHECK(src.shape()[2] == options.d_model && tgt.shape()[2] == options.d_model,
           "Transformer: the feature size of src {} and tgt {} must be d_model = {}", src.shape(), tgt.shape(),
           options.d_model);
  return decoder->forward(tgt, encoder->forward(src, ec), dc);
}

void Transformer::keep_attention(bool on, bool with_graph) {
  for (const auto& layer : *encoder->layers) {
    layer->self_attn->keep_weights = on;
    layer->self_attn->keep_weights_graph = on && with_graph;
  }
  for (const auto& layer : *decoder->layers) {
    for (MultiHeadAttention* a : {layer->self_attn.get(), layer->multihead_attn.get()}) {
      a->keep_weights = on;
      a->keep_weights_graph = on && with_graph;
    }
  }
}

}  // namespace tessera::nn
