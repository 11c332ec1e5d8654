// tests/test_translator_model.cpp — examples/translator/model.cpp: the translation model.
//
// The model is nn's Transformer between two embeddings and a tied output projection; its layers
// are gradient-checked in the nn tests. Here: the wiring. Shapes and PyTorch-style names, the
// tied projection computed by hand, padding that changes nothing for real tokens, a decoder that
// cannot see the future, and the config's JSON round trip and validation.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "examples/translator/model.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;
using namespace translator;

namespace {

ModelConfig small_config() {
  ModelConfig c;
  c.source_vocab_size = 11;
  c.target_vocab_size = 13;
  c.d_model = 8;
  c.nhead = 2;
  c.encoder_layers = 2;
  c.decoder_layers = 1;
  c.dim_feedforward = 16;
  c.dropout = 0;
  c.max_length = 20;
  return c;
}

Tensor logits_of(TranslatorModel& model, const std::vector<int64_t>& source, const std::vector<int64_t>& target) {
  NoGradGuard no_grad;
  const IndexTensor s(source, Shape{1, static_cast<int64_t>(source.size())});
  const IndexTensor t(target, Shape{1, static_cast<int64_t>(target.size())});
  return model.forward(s, non_padding_mask(s), t, Tensor());
}

}  // namespace

TEST_CASE("translator model: shapes, names, the <pad> rows, and the tied projection by hand") {
  manual_seed(3);
  TranslatorModel model(small_config());
  model.eval();
  const nn::StateDict state = model.state_dict();
  for (const char* name : {"source_embedding.weight", "target_embedding.weight", "output_bias",
                           "transformer.encoder.layers.1.self_attn.in_proj_weight",
                           "transformer.decoder.layers.0.multihead_attn.out_proj.weight",
                           "transformer.decoder.norm.weight"})
    CHECK_MESSAGE(state.contains(name), name);
  CHECK_FALSE(state.contains("generator.weight"));  // tied: the target embedding is the projection
  for (int64_t i = 0; i < 8; ++i) {
    CHECK(model.source_embedding->weight.data()[i] == 0);
    CHECK(model.target_embedding->weight.data()[i] == 0);
  }

  const IndexTensor source({4, 5, 6, 2, 7, 2, 0, 0}, Shape{2, 4});
  const IndexTensor target({1, 8, 9, 1, 10, 0}, Shape{2, 3});
  NoGradGuard no_grad;
  const Tensor mask = non_padding_mask(source);
  const std::vector<scalar_t> expected_mask{1, 1, 1, 1, 1, 1, 0, 0};
  CHECK(mask.to_vector() == expected_mask);
  const Tensor memory = model.encode(source, mask);
  CHECK(memory.shape() == Shape({2, 4, 8}));
  const Tensor logits = model.decode(target, memory, mask);
  CHECK(logits.shape() == Shape({2, 3, 13}));

  // logits = h Eᵀ + b, with h the decoder's output: recompute h through the same modules
  {
    Tensor b = model.output_bias;
    for (int64_t v = 0; v < 13; ++v) b.data()[v] = static_cast<scalar_t>(0.1 * static_cast<double>(v));
  }
  const Tensor x = model.positions->forward(model.target_embedding->forward(target) * std::sqrt(scalar_t{8}), 0);
  nn::DecoderCall call;
  call.tgt_is_causal = true;
  call.memory_key_padding_mask = mask;
  const Tensor h = model.transformer->decoder->forward(x, memory, call);  // [2, 3, 8]
  const Tensor with_bias = model.decode(target, memory, mask);
  const scalar_t* E = model.target_embedding->weight.data();
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t v = 0; v < 13; ++v) {
      double expected = 0.1 * static_cast<double>(v);
      for (int64_t d = 0; d < 8; ++d) expected += static_cast<double>(h.data()[r * 8 + d]) * E[v * 8 + d];
      CHECK(with_bias.data()[r * 13 + v] == doctest::Approx(expected).epsilon(1e-5));
    }

  ModelConfig untied = small_config();
  untied.tie_target_embedding = false;
  TranslatorModel separate(untied);
  CHECK(separate.state_dict().contains("generator.weight"));
  CHECK_FALSE(separate.state_dict().contains("output_bias"));
}

TEST_CASE("translator model: source padding changes nothing, and the decoder cannot see ahead") {
  manual_seed(5);
  TranslatorModel model(small_config());
  model.eval();
  const std::vector<int64_t> short_source{4, 5, 2}, long_source{6, 7, 8, 9, 2}, target{1, 8, 9, 10};
  const Tensor alone = logits_of(model, short_source, target);

  // the short sentence padded to 5 in a batch with a longer one: its logits stay the same
  NoGradGuard no_grad;
  const IndexTensor batch({4, 5, 2, 0, 0, 6, 7, 8, 9, 2}, Shape{2, 5});
  const IndexTensor targets({1, 8, 9, 10, 1, 11, 12, 3}, Shape{2, 4});
  const Tensor both = model.forward(batch, non_padding_mask(batch), targets, Tensor());
  const Tensor first = narrow(both, 0, 0, 1);
  CHECK(all_close(first, alone, 1e-5, 1e-4));
  CHECK(all_close(narrow(both, 0, 1, 1), logits_of(model, long_source, {1, 11, 12, 3}), 1e-5, 1e-4));

  // causality: the logits at position t do not depend on target tokens after t
  const Tensor changed = logits_of(model, short_source, {1, 8, 12, 12});
  CHECK(all_close(narrow(changed, 1, 0, 2), narrow(alone, 1, 0, 2), 1e-6, 1e-5));
  CHECK_FALSE(all_close(narrow(changed, 1, 2, 2), narrow(alone, 1, 2, 2), 1e-6, 1e-5));
}

TEST_CASE("translator model: a Linformer encoder trains, and the Performer swaps into the encoder") {
  ModelConfig c = small_config();
  c.encoder_linformer_k = 3;
  TranslatorModel model(c);
  int projections = 0;
  for (const auto& [name, p] : model.named_parameters()) projections += name.find("linformer_") != std::string::npos;
  CHECK(projections == 2 * c.encoder_layers);
  ModelConfig e = small_config();
  TranslatorModel exact(e);
  exact.eval();
  const IndexTensor source({5, 6, 7, 8}, Shape{1, 4});
  const Tensor mask = ones({1, 4});
  const Tensor before = exact.encode(source, mask);
  auto error_with = [&](int64_t m) {  // ‖performer − exact‖ / ‖exact‖ of the encoder's output
    exact.use_performer_in_encoder(m, 1);
    const std::vector<scalar_t> a = exact.encode(source, mask).to_vector(), b = before.to_vector();
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
    return std::sqrt(num / den);
  };
  const double few = error_with(16), many = error_with(4096);
  CAPTURE(few);
  CAPTURE(many);
  CHECK(many > 0);      // a different computation ...
  CHECK(many < few);    // ... estimating the same one better with more features
}

TEST_CASE("translator model config: JSON round trip and clear errors") {
  ModelConfig c = small_config();
  c.norm_first = true;
  c.dropout = 0.25;
  const ModelConfig back = ModelConfig::from_json(c.to_json());
  CHECK(back.to_json() == c.to_json());
  CHECK(back.norm_first);
  CHECK(back.dropout == 0.25);
  // a Linformer encoder is part of the config; a config from before it existed reads as exact
  c.encoder_linformer_k = 5;
  CHECK(ModelConfig::from_json(c.to_json()).encoder_linformer_k == 5);
  std::string old = c.to_json();
  old.erase(old.find(",\"encoder_linformer_k\":5"), std::string(",\"encoder_linformer_k\":5").size());
  CHECK(ModelConfig::from_json(old).encoder_linformer_k == 0);

  CHECK(throws_with([] { ModelConfig::from_json("{\"d_model\": 8}"); }, "not a valid translator config"));
  CHECK(throws_with([] { ModelConfig::from_json("not json"); }, "not a valid translator config"));
  ModelConfig bad = small_config();
  bad.nhead = 3;
  CHECK(throws_with([&] { TranslatorModel m(bad); }, "d_model 8 must be a positive multiple of nhead 3"));
  bad = small_config();
  bad.dropout = 1;
  CHECK(throws_with([&] { bad.validate(); }, "dropout 1 must be in [0, 1)"));
  bad = small_config();
  bad.target_vocab_size = 4;
  CHECK(throws_with([&] { bad.validate(); }, "must exceed the 4 special tokens"));
}
