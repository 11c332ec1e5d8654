// tools/transformer_parity.cpp — runs tessera's Transformer on what torch.nn.Transformer was given
// and compares the outputs. tools/transformer_parity.py writes the two input files and calls it:
//
//   transformer_parity WEIGHTS.safetensors IO.safetensors [TOLERANCE]
//
// WEIGHTS is torch's state_dict, loaded strictly (every name and shape must match).
// IO holds src [B, S, d], tgt [B, T, d], the masks in PyTorch's conventions and torch's output
// [B, T, d]; its __metadata__ holds the options (d_model, nhead, num_encoder_layers,
// num_decoder_layers, dim_feedforward, activation, layer_norm_eps, norm_first).
// Masks are converted to tessera's one convention (non-zero = may attend):
//   src_key_padding_mask, tgt_key_padding_mask (1 = padding)  ->  keep = 1 − mask
//   tgt_mask (float: 0 = attend, −inf = blocked)               ->  keep = 0 where −inf, else 1
// The source padding mask doubles as memory_key_padding_mask, as the script passes it to torch.
// Prints the max abs difference; exits 1 when it exceeds TOLERANCE (default 1e-4).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "nn/safetensors.h"
#include "nn/transformer.h"

using namespace tessera;

namespace {

const std::string& meta(const nn::SafetensorsFile& f, const std::string& key) {
  const auto it = f.metadata.find(key);
  TS_CHECK(it != f.metadata.end(), "transformer_parity: the io file's __metadata__ has no '{}'", key);
  return it->second;
}

// PyTorch padding mask (1 = padding) -> tessera keep mask (1 = token)
Tensor keep_from_padding(const Tensor& padding) { return 1 - padding; }

// PyTorch float attention mask (0 = attend, −inf = blocked) -> tessera keep mask
Tensor keep_from_float_mask(const Tensor& mask) {
  Tensor keep = empty(mask.shape());
  for (int64_t i = 0; i < mask.numel(); ++i) {
    const scalar_t m = mask.data()[i];
    TS_CHECK(m == 0 || (std::isinf(m) && m < 0),
             "transformer_parity: tgt_mask entry {} is {}; only 0 and -inf convert to a keep mask", i, m);
    keep.data()[i] = m == 0 ? 1 : 0;
  }
  return keep;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s WEIGHTS.safetensors IO.safetensors [TOLERANCE]\n", argv[0]);
    return 2;
  }
  const double tolerance = argc == 4 ? std::atof(argv[3]) : 1e-4;
  try {
    const nn::SafetensorsFile io = nn::load_safetensors(argv[2]);
    nn::TransformerOptions o;
    o.d_model = std::stoll(meta(io, "d_model"));
    o.nhead = std::stoll(meta(io, "nhead"));
    o.num_encoder_layers = std::stoll(meta(io, "num_encoder_layers"));
    o.num_decoder_layers = std::stoll(meta(io, "num_decoder_layers"));
    o.dim_feedforward = std::stoll(meta(io, "dim_feedforward"));
    o.activation = meta(io, "activation");
    o.layer_norm_eps = std::stod(meta(io, "layer_norm_eps"));
    o.norm_first = meta(io, "norm_first") == "1";
    o.dropout = 0;

    nn::Transformer model(o);
    model.eval();
    nn::load(model, argv[1], /*strict=*/true);

    nn::EncoderCall encoder_call;
    encoder_call.src_key_padding_mask = keep_from_padding(io.tensors.at("src_key_padding_mask"));
    nn::DecoderCall decoder_call;
    decoder_call.tgt_mask = keep_from_float_mask(io.tensors.at("tgt_mask"));
    decoder_call.tgt_key_padding_mask = keep_from_padding(io.tensors.at("tgt_key_padding_mask"));
    decoder_call.memory_key_padding_mask = encoder_call.src_key_padding_mask;

    NoGradGuard no_grad;
    const Tensor out = model.forward(io.tensors.at("src"), io.tensors.at("tgt"), encoder_call, decoder_call);
    const Tensor& expected = io.tensors.at("output");
    TS_CHECK(out.shape() == expected.shape(), "transformer_parity: tessera's output {} but torch's {}", out.shape(),
             expected.shape());
    double max_diff = 0, max_abs = 0;
    for (int64_t i = 0; i < out.numel(); ++i) {
      const double d = std::abs(static_cast<double>(out.data()[i]) - expected.data()[i]);
      max_diff = std::isnan(d) ? INFINITY : std::max(max_diff, d);
      max_abs = std::max(max_abs, std::abs(static_cast<double>(expected.data()[i])));
    }
    const bool ok = max_diff <= tolerance;
    std::printf("transformer parity, %s (d_model %lld, nhead %lld, %lld+%lld layers, ffn %lld, torch %s): "
                "max |tessera - torch| = %.3g over %lld outputs (largest |output| %.3g), tolerance %g: %s\n",
                o.norm_first ? "pre-norm (norm_first=True)" : "post-norm", static_cast<long long>(o.d_model),
                static_cast<long long>(o.nhead), static_cast<long long>(o.num_encoder_layers),
                static_cast<long long>(o.num_decoder_layers), static_cast<long long>(o.dim_feedforward),
                io.metadata.count("torch") ? io.metadata.at("torch").c_str() : "?", max_diff,
                static_cast<long long>(out.numel()), max_abs, tolerance, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "transformer_parity: %s\n", e.what());
    return 2;
  }
}
