// examples/translator/model.h — the translation model: embeddings, sinusoidal positions, the nn
// Transformer encoder–decoder, and the output projection ("generator") to target-vocabulary logits.
//
//   source ids [B, S] ─ embed·√d + PE ─▶ encoder ─▶ memory [B, S, d]
//   target ids [B, T] ─ embed·√d + PE ─▶ decoder(·, memory, causal) ─▶ generator ─▶ logits [B, T, V]
//
// Id 0 is <pad> in both vocabularies (examples/translator/vocab.h): padded source positions are
// masked out of every attention, padded target positions are ignored by the loss. The config is
// saved as JSON in the checkpoint's metadata, so `translate` rebuilds exactly the trained model.
#pragma once

#include <memory>
#include <string>

#include "engine/tessera.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/transformer.h"

namespace translator {

struct ModelConfig {
  int64_t source_vocab_size = 0, target_vocab_size = 0;
  int64_t d_model = 128;
  int64_t nhead = 4;
  int64_t encoder_layers = 2, decoder_layers = 2;
  int64_t dim_feedforward = 512;
  double dropout = 0.1;
  int64_t max_length = 256;           // the longest sequence the positional table covers
  bool norm_first = false;            // post-norm, as the paper and torch.nn.Transformer
  bool tie_target_embedding = true;   // generator.weight is target_embedding.weight (Press & Wolf, 2017)
  int64_t encoder_linformer_k = 0;    // > 0: Linformer self-attention in the encoder (docs/long_attention.md)

  std::string to_json() const;
  static ModelConfig from_json(const std::string& json);  // throws tessera::Error on a bad config
  void validate() const;
};

class TranslatorModel : public tessera::nn::Module {
 public:
  explicit TranslatorModel(const ModelConfig& config);
  // Estimate the encoder's self-attention with m Performer random features from now on (no
  // retraining; docs/long_attention.md). The decoder keeps exact attention: its key/value cache
  // has no Performer form here.
  void use_performer_in_encoder(int64_t features, uint64_t seed);

  // source [B, S] ids, source_mask [B, S] (1 = token) -> memory [B, S, d_model]
  tessera::Tensor encode(const tessera::IndexTensor& source, const tessera::Tensor& source_mask);
  // encode() in two halves, for saliency (nn/interpret.h): the rows E[ids] of the source
  // embedding table [B, S, d_model], and the encoder run from them (scaled by √d, positions added)
  tessera::Tensor source_token_embeddings(const tessera::IndexTensor& source) const;
  tessera::Tensor encode_embedded(const tessera::Tensor& token_embeddings, const tessera::Tensor& source_mask);
  // target [B, T] ids (starting with <bos>) -> logits [B, T, target_vocab]. With a cache, target
  // holds only the newest token(s), which sit at positions cache->length() onward.
  tessera::Tensor decode(const tessera::IndexTensor& target, const tessera::Tensor& memory,
                         const tessera::Tensor& source_mask, tessera::nn::DecoderCache* cache = nullptr,
                         const tessera::Tensor& target_padding_mask = {});
  // Teacher forcing: logits [B, T, V] for predicting target_output from target_input.
  tessera::Tensor forward(const tessera::IndexTensor& source, const tessera::Tensor& source_mask,
                          const tessera::IndexTensor& target_input, const tessera::Tensor& target_padding_mask);

  ModelConfig config;
  std::shared_ptr<tessera::nn::Embedding> source_embedding, target_embedding;
  std::shared_ptr<tessera::nn::SinusoidalPositionalEncoding> positions;
  std::shared_ptr<tessera::nn::Transformer> transformer;
  std::shared_ptr<tessera::nn::Linear> generator;  // untied output projection, else null
  tessera::Tensor output_bias;                      // tied: logits = h · target_embeddingᵀ + output_bias

 private:
  tessera::Tensor embed(const tessera::nn::Embedding& table, const tessera::IndexTensor& ids, int64_t start);
};

// [B, L] mask with 1 where ids != <pad> (id 0).
tessera::Tensor non_padding_mask(const tessera::IndexTensor& ids);

}  // namespace translator
