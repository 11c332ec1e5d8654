// tessera/nn/transformer.h — positional encodings and the Transformer encoder–decoder
// (Vaswani et al., 2017), module for module like torch.nn.Transformer(batch_first=True).
//
// Parameter names are PyTorch's, so a state_dict saved from torch.nn.Transformer (as
// safetensors) loads here and gives the same outputs (tools/transformer_parity.py checks it):
//   encoder.layers.0.self_attn.in_proj_weight, encoder.layers.0.linear1.weight,
//   encoder.layers.0.norm1.weight, encoder.norm.weight,
//   decoder.layers.0.multihead_attn.out_proj.bias, decoder.layers.0.norm3.bias, decoder.norm.bias …
// Masks follow tessera's one convention (non-zero = may attend; key padding masks: 1 = token).
// Post-norm (norm_first = false) is the paper's and PyTorch's default; pre-norm is an option.
// Every attention module keeps its per-head weights when keep_attention(true) is set.
#pragma once

#include <memory>

#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace tessera::nn {

// x + PE[:L], PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d)),
// then dropout. x: [B, L, d_model]. The table is a buffer (not trained, not saved: PyTorch's
// persistent=False).
class SinusoidalPositionalEncoding : public UnaryModule {
 public:
  SinusoidalPositionalEncoding(int64_t d_model, int64_t max_len = 5000, double dropout = 0);
  Tensor forward(const Tensor& x) override;  // positions 0..L-1
  Tensor forward(const Tensor& x, int64_t start_position);  // for step-by-step decoding
  Tensor table;  // [max_len, d_model]
  double dropout;
};

// x + E[pos] with a trained table E [max_len, d_model] (as BERT/GPT-2), then dropout.
class LearnedPositionalEncoding : public UnaryModule {
 public:
  LearnedPositionalEncoding(int64_t d_model, int64_t max_len, double dropout = 0);
  Tensor forward(const Tensor& x) override;
  Tensor forward(const Tensor& x, int64_t start_position);
  std::shared_ptr<Embedding> embedding;
  double dropout;
};

struct TransformerOptions {
  int64_t d_model = 512;
  int64_t nhead = 8;
  int64_t num_encoder_layers = 6;
  int64_t num_decoder_layers = 6;
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";  // or "gelu"
  double layer_norm_eps = 1e-5;
  bool norm_first = false;           // false: post-norm (paper, PyTorch default); true: pre-norm
  // Linformer self-attention in the encoder (nn/approx_attention.h): keys and values projected
  // along the length to encoder_linformer_k rows; sequences up to max_length. 0: exact.
  int64_t encoder_linformer_k = 0, max_length = 0;
};

struct EncoderCall {
  Tensor mask;                  // [L, L] (or broadcastable to [B, H, L, L])
  Tensor src_key_padding_mask;  // [B, L]
  bool is_causal = false;
};

// Incremental decoding state of a TransformerDecoder: one self-attention and one cross-attention
// KeyValueCache per layer. Feed the decoder only the newest token(s) with tgt_is_causal = true and
// the same memory each step; positions are the caller's (positional encoding at length()).
//   nn::DecoderCache cache(*model.decoder);
//   for (t = 0; t < max_len; ++t) y = decoder.forward(embed(token_t, t), memory, {.tgt_is_causal = true, .cache = &cache});
struct DecoderCache {
  struct Layer { KeyValueCache self_attn, cross_attn; };
  std::vector<Layer> layers;
  int64_t length() const { return layers.empty() ? 0 : layers[0].self_attn.length(); }  // tokens decoded so far
  void reorder(const IndexTensor& batch_rows);  // beam search: keep rows batch_rows, in that order
};

struct DecoderCall {
  Tensor tgt_mask, memory_mask;
  Tensor tgt_key_padding_mask, memory_key_padding_mask;
  bool tgt_is_causal = false;
  DecoderCache* cache = nullptr;  // incremental decoding (inference only); see DecoderCache
};

class TransformerEncoderLayer : public UnaryModule {
 public:
  explicit TransformerEncoderLayer(const TransformerOptions& options);
  Tensor forward(const Tensor& src) override { return forward(src, EncoderCall{}); }
  Tensor forward(const Tensor& src, const EncoderCall& call);

  std::shared_ptr<MultiHeadAttention> self_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<LayerNorm> norm1, norm2;
  bool norm_first;
  double dropout;
  std::string activation;

 private:
  Tensor feed_forward(const Tensor& x);
};

class TransformerDecoderLayer : public Module {
 public:
  explicit TransformerDecoderLayer(const TransformerOptions& options);
  Tensor forward(const Tensor& tgt, const Tensor& memory, const DecoderCall& call = {});
  // The same with this layer's slice of a DecoderCache (call.cache is ignored).
  Tensor forward(const Tensor& tgt, const Tensor& memory, const DecoderCall& call, DecoderCache::Layer* cache);

  std::shared_ptr<MultiHeadAttention> self_attn, multihead_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;
  bool norm_first;
  double dropout;
  std::string activation;

 private:
  Tensor feed_forward(const Tensor& x);
};

class TransformerEncoder : public Module {
 public:
  TransformerEncoder(const TransformerOptions& options, int64_t num_layers, bool final_norm = true);
  Tensor forward(const Tensor& src, const EncoderCall& call = {});
  std::shared_ptr<ModuleList<TransformerEncoderLayer>> layers;
  std::shared_ptr<LayerNorm> norm;  // may be null
};

class TransformerDecoder : public Module {
 public:
  TransformerDecoder(const TransformerOptions& options, int64_t num_layers, bool final_norm = true);
  Tensor forward(const Tensor& tgt, const Tensor& memory, const DecoderCall& call = {});
  std::shared_ptr<ModuleList<TransformerDecoderLayer>> layers;
  std::shared_ptr<LayerNorm> norm;
};

// The encoder–decoder: forward(src [B, S, d], tgt [B, T, d]) -> [B, T, d]. Embeddings, positions
// and the output projection are the user's (as in PyTorch). Init: xavier_uniform_ on every
// parameter with more than one dim, as nn.Transformer._reset_parameters.
class Transformer : public Module {
 public:
  explicit Transformer(const TransformerOptions& options = {});
  Tensor forward(const Tensor& src, const Tensor& tgt, const EncoderCall& encoder_call = {},
                 const DecoderCall& decoder_call = {});
  // Every MultiHeadAttention inside keeps its last per-head weights (see MultiHeadAttention).
  // with_graph: the kept weights stay attached to the graph (MultiHeadAttention::keep_weights_graph)
  void keep_attention(bool on, bool with_graph = false);

  TransformerOptions options;
  std::shared_ptr<TransformerEncoder> encoder;
  std::shared_ptr<TransformerDecoder> decoder;
};

}  // namespace tessera::nn
