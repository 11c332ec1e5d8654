#include "examples/translator/model.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "examples/common/json_fields.h"
#include "nn/init.h"

namespace translator {

using namespace tessera;

// ---------------- config ----------------
std::string ModelConfig::to_json() const {
  nlohmann::json j = {{"source_vocab_size", source_vocab_size},
                      {"target_vocab_size", target_vocab_size},
                      {"d_model", d_model},
                      {"nhead", nhead},
                      {"encoder_layers", encoder_layers},
                      {"decoder_layers", decoder_layers},
                      {"dim_feedforward", dim_feedforward},
                      {"dropout", dropout},
                      {"max_length", max_length},
                      {"norm_first", norm_first},
                      {"tie_target_embedding", tie_target_embedding},
                      {"encoder_linformer_k", encoder_linformer_k}};
  return j.dump();
}

ModelConfig ModelConfig::from_json(const std::string& text) {
  ModelConfig c;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    c.source_vocab_size = examples::json_int64(j.at("source_vocab_size"));
    c.target_vocab_size = examples::json_int64(j.at("target_vocab_size"));
    c.d_model = examples::json_int64(j.at("d_model"));
    c.nhead = examples::json_int64(j.at("nhead"));
    c.encoder_layers = examples::json_int64(j.at("encoder_layers"));
    c.decoder_layers = examples::json_int64(j.at("decoder_layers"));
    c.dim_feedforward = examples::json_int64(j.at("dim_feedforward"));
    c.dropout = j.at("dropout").get<double>();
    c.max_length = examples::json_int64(j.at("max_length"));
    c.norm_first = j.at("norm_first").get<bool>();
    c.tie_target_embedding = j.at("tie_target_embedding").get<bool>();
    if (j.contains("encoder_linformer_k"))  // absent in older checkpoints
      c.encoder_linformer_k = examples::json_int64(j.at("encoder_linformer_k"));
  } catch (const nlohmann::json::exception& e) {
    fail("model config: not a valid translator config ({})", e.what());
  }
  c.validate();
  return c;
}

void ModelConfig::validate() const {
  TS_CHECK(source_vocab_size > 4 && target_vocab_size > 4,
           "model config: vocabulary sizes {} and {} must exceed the 4 special tokens", source_vocab_size,
           target_vocab_size);
  TS_CHECK(d_model > 0 && nhead > 0 && d_model % nhead == 0,
           "model config: d_model {} must be a positive multiple of nhead {}", d_model, nhead);
  TS_CHECK(encoder_layers > 0 && decoder_layers > 0 && dim_feedforward > 0 && max_length > 1,
           "model config: layers ({}, {}), dim_feedforward {} and max_length {} must be positive", encoder_layers,
           decoder_layers, dim_feedforward, max_length);
  TS_CHECK(dropout >= 0 && dropout < 1, "model config: dropout {} must be in [0, 1)", dropout);
  TS_CHECK(encoder_linformer_k >= 0, "model config: encoder_linformer_k {} must be 0 (exact) or positive",
           encoder_linformer_k);
}

// ---------------- model ----------------
TranslatorModel::TranslatorModel(const ModelConfig& c) : Module("TranslatorModel"), config(c) {
  config.validate();
  nn::TransformerOptions o;
  o.d_model = c.d_model;
  o.nhead = c.nhead;
  o.num_encoder_layers = c.encoder_layers;
  o.num_decoder_layers = c.decoder_layers;
  o.dim_feedforward = c.dim_feedforward;
  o.dropout = c.dropout;
  o.norm_first = c.norm_first;
  o.encoder_linformer_k = c.encoder_linformer_k;
  o.max_length = c.max_length;
  source_embedding = register_module("source_embedding", std::make_shared<nn::Embedding>(c.source_vocab_size, c.d_model, 0));
  target_embedding = register_module("target_embedding", std::make_shared<nn::Embedding>(c.target_vocab_size, c.d_model, 0));
  positions = register_module("positions", std::make_shared<nn::SinusoidalPositionalEncoding>(c.d_model, c.max_length, c.dropout));
  transformer = register_module("transformer", std::make_shared<nn::Transformer>(o));
  if (c.tie_target_embedding) {
    output_bias = register_parameter("output_bias", zeros({c.target_vocab_size}));
  } else {
    generator = register_module("generator", std::make_shared<nn::Linear>(c.d_model, c.target_vocab_size));
  }
  // Embeddings ~ N(0, d^-1/2), scaled by √d on the way in (fairseq's convention): the inputs of
  // the first layer have unit variance, and a tied output projection starts with small logits.
  for (nn::Embedding* e : {source_embedding.get(), target_embedding.get()}) {
    nn::init::normal_(e->weight, 0, 1 / std::sqrt(static_cast<double>(c.d_model)));
    NoGradGuard no_grad;
    for (int64_t i = 0; i < c.d_model; ++i) e->weight.data()[i] = 0;  // the <pad> row
  }
}

void TranslatorModel::use_performer_in_encoder(int64_t features, uint64_t seed) {
  for (const auto& layer : *transformer->encoder->layers) layer->self_attn->use_performer(features, seed);
}

Tensor TranslatorModel::embed(const nn::Embedding& table, const IndexTensor& ids, int64_t start) {
  // x = E[ids] · √d + PE[start : start + L]
  return positions->forward(table.forward(ids) * static_cast<scalar_t>(std::sqrt(static_cast<double>(config.d_model))),
                            start);
}

Tensor TranslatorModel::encode(const IndexTensor& source, const Tensor& source_mask) {
  return encode_embedded(source_token_embeddings(source), source_mask);
}

Tensor TranslatorModel::source_token_embeddings(const IndexTensor& source) const {
  TS_CHECK(source.dim() == 2, "translator: source ids must be [batch, length], got {}", source.shape());
  return source_embedding->forward(source);
}

Tensor TranslatorModel::encode_embedded(const Tensor& token_embeddings, const Tensor& source_mask) {
  TS_CHECK(token_embeddings.dim() == 3 && token_embeddings.shape()[2] == config.d_model,
           "translator: source embeddings must be [batch, length, {}], got {}", config.d_model, token_embeddings.shape());
  nn::EncoderCall call;
  call.src_key_padding_mask = source_mask;
  // x = E[ids] · √d + PE[0 : L], as embed() does
  const Tensor x = positions->forward(
      token_embeddings * static_cast<scalar_t>(std::sqrt(static_cast<double>(config.d_model))), 0);
  return transformer->encoder->forward(x, call);
}

Tensor TranslatorModel::decode(const IndexTensor& target, const Tensor& memory, const Tensor& source_mask,
                               nn::DecoderCache* cache, const Tensor& target_padding_mask) {
  TS_CHECK(target.dim() == 2, "translator: target ids must be [batch, length], got {}", target.shape());
  nn::DecoderCall call;
  call.tgt_is_causal = true;
  call.memory_key_padding_mask = source_mask;
  call.tgt_key_padding_mask = target_padding_mask;
  call.cache = cache;
  const int64_t start = cache ? cache->length() : 0;
  const Tensor hidden = transformer->decoder->forward(embed(*target_embedding, target, start), memory, call);
  if (generator) return generator->forward(hidden);
  return matmul(hidden, target_embedding->weight, false, true) + output_bias;  // h Eᵀ + b
}

Tensor TranslatorModel::forward(const IndexTensor& source, const Tensor& source_mask, const IndexTensor& target_input,
                                const Tensor& target_padding_mask) {
  return decode(target_input, encode(source, source_mask), source_mask, nullptr, target_padding_mask);
}

Tensor non_padding_mask(const IndexTensor& ids) {
  Tensor mask = empty(ids.shape());
  for (int64_t i = 0; i < ids.numel(); ++i) mask.data()[i] = ids.data()[i] != 0 ? 1 : 0;
  return mask;
}

}  // namespace translator
