// tests/test_transformer.cpp — nn/transformer.cpp: positional encodings, the encoder and
// decoder layers, the encoder–decoder Transformer.
//
// Gradient checks of each layer and of a 1+1-layer Transformer (post-norm and pre-norm, relu and
// gelu; tiny sizes so the double build's finite differences stay fast); the causal target mask
// proven by gradients; padding that changes nothing for real tokens; keep_attention; PyTorch's
// parameter names; post- versus pre-norm on a layer whose sublayers output zero; sinusoidal
// values from the formula; error messages. tools/transformer_parity.py compares the outputs with
// torch.nn.Transformer itself.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "nn/transformer.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::nn;
using namespace tessera::testing;

namespace {

const double kTol = kDouble ? 1e-12 : 1e-5;

TransformerOptions tiny(bool norm_first, const std::string& activation, int64_t encoders = 1, int64_t decoders = 1) {
  TransformerOptions o;
  o.d_model = 4;
  o.nhead = 2;
  o.num_encoder_layers = encoders;
  o.num_decoder_layers = decoders;
  o.dim_feedforward = 6;
  o.dropout = 0;
  o.activation = activation;
  o.norm_first = norm_first;
  return o;
}

std::vector<Tensor> with_parameters(std::vector<Tensor> inputs, const Module& module) {
  for (const Tensor& p : module.parameters()) inputs.push_back(p);
  return inputs;
}

// Every parameter to U(−0.5, 0.5): non-trivial norms and biases, so a mistake in any of them shows.
void randomize(const Module& m, uint64_t seed) {
  Generator gen(seed);
  NoGradGuard no_grad;
  for (Tensor p : m.parameters()) p.copy_(uniform(p.shape(), -0.5, 0.5, &gen));
}

// Zeroes one Linear or the output of one attention block (weights and biases).
void zero_all(const Module& m) {
  NoGradGuard no_grad;
  for (Tensor p : m.parameters()) p.zero_();
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(static_cast<double>(a.data()[i] - b.data()[i])));
  return m;
}

bool position_is_zero(const Tensor& t, int64_t position) {
  const Tensor row = narrow(t.detach(), 1, position, 1);
  for (int64_t i = 0; i < row.numel(); ++i)
    if (row.data()[i] != 0) return false;
  return true;
}

// Sequence b of a batch [B, L, F], positions 0..length-1, as [1, length, F].
Tensor sequence(const Tensor& x, int64_t b, int64_t length) {
  return narrow(narrow(x.detach(), 0, b, 1), 1, 0, length);
}

// Row-wise mean and (biased) variance of the last dim.
void check_normalized(const Tensor& y, bool expect) {
  const Tensor m = mean(y, {-1});
  const Tensor v = var(y, {-1}, false, 0);
  bool normalized = true;
  for (int64_t i = 0; i < m.numel(); ++i)
    normalized = normalized && std::abs(m.data()[i]) < 1e-4 && std::abs(v.data()[i] - 1) < 1e-3;
  CHECK(normalized == expect);
}

std::string norm_name(bool norm_first) { return norm_first ? "pre-norm" : "post-norm"; }

}  // namespace

// ======================= gradient checks =======================

TEST_CASE("TransformerEncoderLayer: gradcheck, post-norm and pre-norm, relu and gelu") {
  for (bool norm_first : {false, true})
    for (const std::string activation : {"relu", "gelu"}) {
      INFO(norm_name(norm_first), " ", activation);
      manual_seed(1);
      auto layer = std::make_shared<TransformerEncoderLayer>(tiny(norm_first, activation));
      randomize(*layer, 2);
      auto fn = [layer](const std::vector<Tensor>& in) {
        EncoderCall call;
        call.src_key_padding_mask = padding_mask({3, 2}, 3);
        call.mask = local_mask(3, 3, 1);
        return layer->forward(in[0], call);
      };
      CHECK_GRAD(fn, with_parameters({param({2, 3, 4}, 3)}, *layer));
      auto causal = [layer](const std::vector<Tensor>& in) {
        EncoderCall call;
        call.is_causal = true;
        return layer->forward(in[0], call);
      };
      CHECK_GRAD(causal, {param({1, 3, 4}, 4)});
    }
}

TEST_CASE("TransformerDecoderLayer: gradcheck, post-norm and pre-norm, relu and gelu") {
  for (bool norm_first : {false, true})
    for (const std::string activation : {"relu", "gelu"}) {
      INFO(norm_name(norm_first), " ", activation);
      manual_seed(10);
      auto layer = std::make_shared<TransformerDecoderLayer>(tiny(norm_first, activation));
      randomize(*layer, 11);
      auto fn = [layer](const std::vector<Tensor>& in) {
        DecoderCall call;
        call.tgt_mask = causal_mask(3);
        call.tgt_key_padding_mask = padding_mask({3, 2}, 3);
        call.memory_key_padding_mask = padding_mask({2, 1}, 2);
        return layer->forward(in[0], in[1], call);
      };
      CHECK_GRAD(fn, with_parameters({param({2, 3, 4}, 12), param({2, 2, 4}, 13)}, *layer));
      auto flagged = [layer](const std::vector<Tensor>& in) {
        DecoderCall call;
        call.tgt_is_causal = true;
        call.memory_mask = from_vector({1, 0, 1, 1}, {2, 2});
        return layer->forward(in[0], in[1], call);
      };
      CHECK_GRAD(flagged, {param({1, 2, 4}, 14), param({1, 2, 4}, 15)});
    }
}

TEST_CASE("Transformer: gradcheck of a 1+1-layer model, post-norm and pre-norm, relu and gelu") {
  for (bool norm_first : {false, true})
    for (const std::string activation : {"relu", "gelu"}) {
      INFO(norm_name(norm_first), " ", activation);
      manual_seed(20);
      auto model = std::make_shared<Transformer>(tiny(norm_first, activation));
      // (seed 21 put a relu input of pre-norm's decoder within the float build's eps 1e-3 of its
      // kink, where central differences are wrong by design; the double build passed it)
      randomize(*model, 24);
      auto fn = [model](const std::vector<Tensor>& in) {
        EncoderCall ec;
        ec.src_key_padding_mask = padding_mask({3, 2}, 3);
        DecoderCall dc;
        dc.tgt_is_causal = true;
        dc.memory_key_padding_mask = padding_mask({3, 2}, 3);
        return model->forward(in[0], in[1], ec, dc);
      };
      CHECK_GRAD(fn, with_parameters({param({2, 3, 4}, 22), param({2, 2, 4}, 23)}, *model));
    }
}

TEST_CASE("positional encodings: gradcheck") {
  SinusoidalPositionalEncoding sinusoidal(4, 10);
  CHECK_GRAD([&](const std::vector<Tensor>& in) { return sinusoidal.forward(in[0], 2); }, {param({2, 3, 4}, 30)});
  manual_seed(31);
  LearnedPositionalEncoding learned(4, 6);
  CHECK_GRAD([&](const std::vector<Tensor>& in) { return learned.forward(in[0], 1); },
             with_parameters({param({2, 3, 4}, 32)}, learned));
}

// ======================= masks =======================

TEST_CASE("TransformerDecoderLayer: the causal target mask, proven by gradients") {
  // output t must not depend on target positions > t: their gradient is exactly zero
  for (bool norm_first : {false, true}) {
    INFO(norm_name(norm_first));
    manual_seed(40);
    TransformerDecoderLayer layer(tiny(norm_first, "gelu"));
    randomize(layer, 41);
    const int64_t l = 4;
    const Tensor tgt = param({2, l, 4}, 42), memory = param({2, 3, 4}, 43);
    DecoderCall call;
    call.tgt_mask = causal_mask(l);
    for (int64_t t = 0; t < l; ++t) {
      tgt.zero_grad();
      memory.zero_grad();
      sum(narrow(layer.forward(tgt, memory, call), 1, t, 1)).backward();
      for (int64_t j = 0; j < l; ++j) {
        INFO("output ", t, ", target ", j);
        if (j > t) CHECK(position_is_zero(tgt.grad(), j));
        else CHECK_FALSE(position_is_zero(tgt.grad(), j));
      }
      for (int64_t j = 0; j < 3; ++j) CHECK_FALSE(position_is_zero(memory.grad(), j));  // the whole memory
    }
  }
}

TEST_CASE("Transformer: the causal target mask and padding, proven by gradients") {
  manual_seed(50);
  Transformer model(tiny(false, "relu", 2, 2));
  randomize(model, 51);
  const Tensor src = param({2, 3, 4}, 52), tgt = param({2, 3, 4}, 53);
  EncoderCall ec;
  ec.src_key_padding_mask = padding_mask({3, 2}, 3);
  DecoderCall dc;
  dc.tgt_is_causal = true;
  dc.memory_key_padding_mask = padding_mask({3, 2}, 3);
  for (int64_t t = 0; t < 3; ++t) {
    src.zero_grad();
    tgt.zero_grad();
    sum(narrow(model.forward(src, tgt, ec, dc), 1, t, 1)).backward();
    for (int64_t j = t + 1; j < 3; ++j) CHECK(position_is_zero(tgt.grad(), j));
    // the padded source token of sequence 1 reaches no output
    CHECK(position_is_zero(narrow(src.grad(), 0, 1, 1), 2));
    CHECK_FALSE(position_is_zero(narrow(src.grad(), 0, 0, 1), 2));
  }
}

TEST_CASE("Transformer: padding changes nothing for the real tokens") {
  for (bool norm_first : {false, true}) {
    INFO(norm_name(norm_first));
    manual_seed(60);
    Transformer model(tiny(norm_first, "gelu", 2, 2));
    randomize(model, 61);
    // sequence 1: 2 real source tokens and 2 real target tokens, the rest junk
    const Tensor src = param({2, 4, 4}, 62, -3, 3), tgt = param({2, 3, 4}, 63, -3, 3);
    EncoderCall ec;
    ec.src_key_padding_mask = padding_mask({4, 2}, 4);
    DecoderCall dc;
    dc.tgt_is_causal = true;
    dc.tgt_key_padding_mask = padding_mask({3, 2}, 3);
    dc.memory_key_padding_mask = padding_mask({4, 2}, 4);
    const Tensor batch = model.forward(src, tgt, ec, dc);
    DecoderCall causal;
    causal.tgt_is_causal = true;
    const double tol = kDouble ? 1e-12 : 1e-5;
    CHECK(all_close(narrow(batch, 0, 0, 1), model.forward(sequence(src, 0, 4), sequence(tgt, 0, 3), {}, causal), tol));
    CHECK(all_close(narrow(sequence(batch, 1, 2), 0, 0, 1),
                    model.forward(sequence(src, 1, 2), sequence(tgt, 1, 2), {}, causal), tol));
    // the encoder alone, with the padding mask
    const Tensor memory = model.encoder->forward(src, ec);
    CHECK(all_close(sequence(memory, 1, 2), model.encoder->forward(sequence(src, 1, 2)), tol));
  }
}

// ======================= incremental decoding =======================

TEST_CASE("TransformerDecoder: decoding with a key/value cache equals the full causal forward") {
  for (bool norm_first : {false, true}) {
    INFO(norm_name(norm_first));
    manual_seed(70);
    Transformer model(tiny(norm_first, "relu", 1, 2));
    randomize(model, 71);
    model.eval();
    NoGradGuard no_grad;
    const Tensor src = param({2, 4, 4}, 72), tgt = param({2, 5, 4}, 73);
    EncoderCall ec;
    ec.src_key_padding_mask = padding_mask({4, 3}, 4);
    const Tensor memory = model.encoder->forward(src, ec);
    DecoderCall full;
    full.tgt_is_causal = true;
    full.memory_key_padding_mask = ec.src_key_padding_mask;
    const Tensor expected = model.decoder->forward(tgt, memory, full);  // [2, 5, 4]

    // one token at a time, then two at a time (the bottom-right aligned causal mask)
    for (int64_t step : {1, 2}) {
      INFO("tokens per step " << step);
      DecoderCache cache;
      DecoderCall call = full;
      call.cache = &cache;
      for (int64_t t = 0; t < 5; t += step) {
        const int64_t n = std::min<int64_t>(step, 5 - t);
        const Tensor out = model.decoder->forward(narrow(tgt, 1, t, n), memory, call);
        CHECK(cache.length() == t + n);
        CHECK(all_close(out, narrow(expected, 1, t, n), kTol, kTol));
      }
    }
  }
}

TEST_CASE("DecoderCache: reorder keeps the chosen batch rows (beam search)") {
  manual_seed(80);
  Transformer model(tiny(false, "relu", 1, 1));
  randomize(model, 81);
  model.eval();
  NoGradGuard no_grad;
  const Tensor memory = param({3, 2, 4}, 82), tgt = param({3, 3, 4}, 83);
  DecoderCall full;
  full.tgt_is_causal = true;
  const Tensor expected = model.decoder->forward(tgt, memory, full);
  // decode two tokens for the batch, then keep rows {2, 0, 2} and decode the third token
  DecoderCache cache;
  DecoderCall call = full;
  call.cache = &cache;
  model.decoder->forward(narrow(tgt, 1, 0, 2), memory, call);
  const IndexTensor rows(std::vector<int64_t>{2, 0, 2});
  cache.reorder(rows);
  const Tensor out = model.decoder->forward(index_select(narrow(tgt, 1, 2, 1), 0, rows),
                                            index_select(memory, 0, rows), call);
  CHECK(all_close(out, index_select(narrow(expected, 1, 2, 1), 0, rows), kTol, kTol));
  // the cache refuses training mode and a batch it does not hold
  CHECK(throws_with([&] { model.decoder->forward(narrow(tgt, 0, 0, 2), memory, call); }, "cache holds batch 3"));
  model.train();
  CHECK(throws_with([&] { model.decoder->forward(narrow(tgt, 1, 2, 1), memory, call); }, "call eval()"));
}

// ======================= attention weights =======================

TEST_CASE("Transformer: keep_attention stores per-head weights [B, H, Lq, Lk] for every layer") {
  manual_seed(70);
  Transformer model(tiny(false, "relu", 2, 2));
  const Tensor src = param({2, 3, 4}, 71), tgt = param({2, 2, 4}, 72);
  EncoderCall ec;
  ec.src_key_padding_mask = padding_mask({3, 2}, 3);
  DecoderCall dc;
  dc.tgt_is_causal = true;
  dc.memory_key_padding_mask = padding_mask({3, 2}, 3);
  model.forward(src, tgt, ec, dc);
  for (const auto& layer : *model.encoder->layers) CHECK_FALSE(layer->self_attn->last_weights.defined());

  model.keep_attention(true);
  model.forward(src, tgt, ec, dc);
  auto rows_sum_to_one = [](const Tensor& w) {
    return all_close(sum(w, {-1}), std::vector<double>(w.numel() / w.shape().back(), 1), 1e-6);
  };
  for (const auto& layer : *model.encoder->layers) {
    const Tensor w = layer->self_attn->last_weights;
    REQUIRE(w.defined());
    CHECK(w.shape() == Shape({2, 2, 3, 3}));
    CHECK(rows_sum_to_one(w));
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 3; ++i) CHECK(w.at({1, h, i, 2}) == 0);  // padded source key
  }
  for (const auto& layer : *model.decoder->layers) {
    const Tensor self = layer->self_attn->last_weights, cross = layer->multihead_attn->last_weights;
    REQUIRE(self.defined());
    REQUIRE(cross.defined());
    CHECK(self.shape() == Shape({2, 2, 2, 2}));
    CHECK(cross.shape() == Shape({2, 2, 2, 3}));
    CHECK(rows_sum_to_one(self));
    CHECK(rows_sum_to_one(cross));
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t h = 0; h < 2; ++h) {
        CHECK(self.at({b, h, 0, 1}) == 0);  // causal
        CHECK(self.at({b, h, 0, 0}) == 1);
      }
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 2; ++i) CHECK(cross.at({1, h, i, 2}) == 0);  // padded memory
  }
  // the kept weights are those need_weights returns for the same call
  const auto& first = model.encoder->layers->operator[](0);
  MhaCall call;
  call.key_padding_mask = padding_mask({3, 2}, 3);
  call.need_weights = true;
  call.average_attn_weights = false;
  CHECK(all_close(first->self_attn->forward(src, src, src, call).weights, first->self_attn->last_weights, kTol));

  model.keep_attention(false);
  for (const auto& layer : *model.decoder->layers) CHECK_FALSE(layer->multihead_attn->keep_weights);
}

// ======================= structure =======================

TEST_CASE("Transformer: parameter names are torch.nn.Transformer's state_dict keys") {
  // printed once from torch.nn.Transformer(d_model=4, nhead=2, num_encoder_layers=1,
  // num_decoder_layers=1, dim_feedforward=8, batch_first=True).state_dict(), in order
  const std::vector<std::pair<std::string, Shape>> expected = {
      {"encoder.layers.0.self_attn.in_proj_weight", {12, 4}},
      {"encoder.layers.0.self_attn.in_proj_bias", {12}},
      {"encoder.layers.0.self_attn.out_proj.weight", {4, 4}},
      {"encoder.layers.0.self_attn.out_proj.bias", {4}},
      {"encoder.layers.0.linear1.weight", {8, 4}},
      {"encoder.layers.0.linear1.bias", {8}},
      {"encoder.layers.0.linear2.weight", {4, 8}},
      {"encoder.layers.0.linear2.bias", {4}},
      {"encoder.layers.0.norm1.weight", {4}},
      {"encoder.layers.0.norm1.bias", {4}},
      {"encoder.layers.0.norm2.weight", {4}},
      {"encoder.layers.0.norm2.bias", {4}},
      {"encoder.norm.weight", {4}},
      {"encoder.norm.bias", {4}},
      {"decoder.layers.0.self_attn.in_proj_weight", {12, 4}},
      {"decoder.layers.0.self_attn.in_proj_bias", {12}},
      {"decoder.layers.0.self_attn.out_proj.weight", {4, 4}},
      {"decoder.layers.0.self_attn.out_proj.bias", {4}},
      {"decoder.layers.0.multihead_attn.in_proj_weight", {12, 4}},
      {"decoder.layers.0.multihead_attn.in_proj_bias", {12}},
      {"decoder.layers.0.multihead_attn.out_proj.weight", {4, 4}},
      {"decoder.layers.0.multihead_attn.out_proj.bias", {4}},
      {"decoder.layers.0.linear1.weight", {8, 4}},
      {"decoder.layers.0.linear1.bias", {8}},
      {"decoder.layers.0.linear2.weight", {4, 8}},
      {"decoder.layers.0.linear2.bias", {4}},
      {"decoder.layers.0.norm1.weight", {4}},
      {"decoder.layers.0.norm1.bias", {4}},
      {"decoder.layers.0.norm2.weight", {4}},
      {"decoder.layers.0.norm2.bias", {4}},
      {"decoder.layers.0.norm3.weight", {4}},
      {"decoder.layers.0.norm3.bias", {4}},
      {"decoder.norm.weight", {4}},
      {"decoder.norm.bias", {4}},
  };
  for (bool norm_first : {false, true}) {
    INFO(norm_name(norm_first));
    TransformerOptions o = tiny(norm_first, "relu");
    o.dim_feedforward = 8;
    const Transformer model(o);
    const StateDict state = model.state_dict();
    REQUIRE(state.size() == expected.size());
    size_t i = 0;
    for (const auto& [name, tensor] : state) {
      CHECK(name == expected[i].first);
      CHECK(tensor.shape() == expected[i].second);
      ++i;
    }
    CHECK(model.named_buffers().empty());  // the sinusoidal table is not part of the model
  }
}

TEST_CASE("Transformer: load_state_dict from another model gives the same outputs") {
  manual_seed(80);
  Transformer a(tiny(true, "gelu", 2, 1));
  manual_seed(81);
  Transformer b(tiny(true, "gelu", 2, 1));
  const Tensor src = param({1, 3, 4}, 82), tgt = param({1, 2, 4}, 83);
  CHECK(max_abs_difference(a.forward(src, tgt), b.forward(src, tgt)) > 1e-3);
  b.load_state_dict(a.state_dict());
  CHECK(all_close(a.forward(src, tgt), b.forward(src, tgt), 0));
  // a model with a different number of layers does not load strictly
  Transformer c(tiny(true, "gelu", 1, 1));
  CHECK(throws_with([&] { c.load_state_dict(a.state_dict()); }, "encoder.layers.1.self_attn.in_proj_weight"));
}

TEST_CASE("TransformerEncoderLayer / DecoderLayer: post-norm and pre-norm with silent sublayers") {
  // With out_proj and linear2 zeroed, every sublayer outputs 0. Pre-norm is then the identity
  // (x + 0 at each step); post-norm normalises the rows once per sublayer (norm(norm(x)) with
  // unit weight and zero bias is norm(x), up to eps).
  const Tensor x = param({2, 3, 4}, 90, -3, 3), memory = param({2, 2, 4}, 91);
  for (bool norm_first : {false, true}) {
    INFO(norm_name(norm_first));
    manual_seed(92);
    TransformerEncoderLayer encoder(tiny(norm_first, "relu"));
    zero_all(*encoder.self_attn->out_proj);
    zero_all(*encoder.linear2);
    TransformerDecoderLayer decoder(tiny(norm_first, "relu"));
    zero_all(*decoder.self_attn->out_proj);
    zero_all(*decoder.multihead_attn->out_proj);
    zero_all(*decoder.linear2);
    const Tensor e = encoder.forward(x), d = decoder.forward(x, memory);
    if (norm_first) {
      CHECK(all_close(e, x, 0));
      CHECK(all_close(d, x, 0));
    } else {
      CHECK(all_close(e, layer_norm(x, Shape{4}), 1e-4));
      CHECK(all_close(d, layer_norm(x, Shape{4}), 1e-4));
    }
    check_normalized(e, !norm_first);
  }
  // a random post-norm layer's rows are normalised (its last step is norm2); pre-norm's are not
  for (bool norm_first : {false, true}) {
    manual_seed(93);
    TransformerEncoderLayer layer(tiny(norm_first, "gelu"));
    check_normalized(layer.forward(x), !norm_first);
  }
}

// ======================= positional encodings =======================

TEST_CASE("SinusoidalPositionalEncoding: values from the formula") {
  // PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d))
  const int64_t d = 6, max_len = 12;
  SinusoidalPositionalEncoding pe(d, max_len);
  REQUIRE(pe.table.shape() == Shape({max_len, d}));
  for (int64_t pos = 0; pos < max_len; ++pos)
    for (int64_t i = 0; i < d / 2; ++i) {
      const double angle = static_cast<double>(pos) / std::pow(10000.0, 2.0 * static_cast<double>(i) / d);
      CHECK(pe.table.at({pos, 2 * i}) == doctest::Approx(std::sin(angle)).epsilon(1e-6));
      CHECK(pe.table.at({pos, 2 * i + 1}) == doctest::Approx(std::cos(angle)).epsilon(1e-6));
    }
  // by hand: position 0 is [0, 1, 0, 1, 0, 1]; position 1 is
  // [sin 1, cos 1, sin(1/10000^(1/3)), cos(…), sin(1/10000^(2/3)), cos(…)]
  //   = [0.8415, 0.5403, 0.0464, 0.9989, 0.0022, 1.0000]
  CHECK(all_close(narrow(pe.table, 0, 0, 1), {0, 1, 0, 1, 0, 1}, 0));
  CHECK(all_close(narrow(pe.table, 0, 1, 1), {0.8415, 0.5403, 0.0464, 0.9989, 0.0022, 1.0000}, 1e-4));
  // forward adds rows start..start+L-1 to every sequence of the batch
  const Tensor x = param({2, 3, d}, 100);
  const Tensor y = pe.forward(x, 4);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t l = 0; l < 3; ++l)
      for (int64_t j = 0; j < d; ++j) CHECK(y.at({b, l, j}) == doctest::Approx(x.at({b, l, j}) + pe.table.at({4 + l, j})));
  CHECK(all_close(pe.forward(x), add(x, narrow(pe.table, 0, 0, 3)), 0));
  // nothing to train or save
  CHECK(pe.parameters().empty());
  CHECK(pe.state_dict().size() == 0);
}

TEST_CASE("LearnedPositionalEncoding: adds rows of a trained table") {
  manual_seed(110);
  LearnedPositionalEncoding pe(3, 5);
  const Tensor x = zeros({1, 2, 3});
  CHECK(all_close(pe.forward(x, 2), narrow(pe.embedding->weight, 0, 2, 2).detach().reshape({1, 2, 3}), 0));
  CHECK(pe.named_parameters().size() == 1);
  CHECK(pe.named_parameters()[0].first == "embedding.weight");
}

// ======================= errors =======================

TEST_CASE("Transformer: error messages") {
  TransformerOptions o = tiny(false, "relu");
  o.nhead = 3;
  CHECK(throws_with([&] { Transformer t(o); }, "d_model 4 must be a positive multiple of nhead 3"));
  CHECK(throws_with([] { Transformer t(tiny(false, "tanh")); }, "activation 'tanh' is not supported (relu or gelu)"));
  Transformer model(tiny(false, "relu"));
  CHECK(throws_with([&] { model.forward(zeros({2, 3, 5}), zeros({2, 2, 4})); }, "must be d_model = 4"));
  CHECK(throws_with([&] { model.forward(zeros({2, 3, 4}), zeros({1, 2, 4})); }, "with the same batch, got [2, 3, 4] and [1, 2, 4]"));
  EncoderCall bad;
  bad.src_key_padding_mask = ones({2, 4});
  CHECK(throws_with([&] { model.forward(zeros({2, 3, 4}), zeros({2, 2, 4}), bad); },
                    "key_padding_mask must be [batch, key_length] = [2, 3], got [2, 4]"));
  SinusoidalPositionalEncoding pe(4, 8);
  CHECK(throws_with([&] { pe.forward(zeros({1, 3, 4}), 6); }, "positions 6..8 exceed max_len 8"));
  CHECK(throws_with([&] { pe.forward(zeros({1, 3, 5})); }, "expected [batch, length, 4], got [1, 3, 5]"));
  CHECK(throws_with([] { SinusoidalPositionalEncoding(0); }, "d_model 0"));
}
