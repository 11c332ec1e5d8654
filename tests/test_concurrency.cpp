// tests/test_concurrency.cpp — a program that links tessera may translate from several threads at
// once (a server answering requests). Four threads each translate 200 sentences, with their own
// copy of the model and with one shared model in eval mode; every output must equal the serial
// run's. (Under ./run test --sanitize this also runs under AddressSanitizer.)
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "examples/translator/decode.h"
#include "examples/translator/vocab.h"
#include "tests/examples_helpers.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace translator;

namespace {

ModelConfig config() {
  ModelConfig c;
  c.source_vocab_size = 40;
  c.target_vocab_size = 50;
  c.d_model = 16;
  c.nhead = 2;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.dim_feedforward = 32;
  c.dropout = 0.1;
  c.max_length = 32;
  return c;
}

// Random weights large enough that the greedy choices are far from ties.
std::shared_ptr<TranslatorModel> random_model() {
  manual_seed(21);
  auto model = std::make_shared<TranslatorModel>(config());
  tessera::testing::randomize_parameters(*model, 22);
  model->eval();
  return model;
}

// 200 source sentences of 3–12 tokens (ids 4..39), ending in <eos>
std::vector<std::vector<int64_t>> sentences(uint64_t seed) {
  Generator gen(seed);
  std::vector<std::vector<int64_t>> out(200);
  for (auto& s : out) {
    const int64_t length = 3 + gen.randint(10);
    for (int64_t i = 0; i < length; ++i) s.push_back(4 + gen.randint(36));
    s.push_back(Vocab::kEos);
  }
  return out;
}

std::vector<std::vector<int64_t>> translate_all(TranslatorModel& model, const std::vector<std::vector<int64_t>>& sources,
                                                int64_t beam) {
  NoGradGuard no_grad;
  DecodeOptions d;
  d.beam_size = beam;
  std::vector<std::vector<int64_t>> out;
  for (const auto& s : sources) out.push_back(translate_ids(model, {s}, d)[0]);  // one request at a time
  return out;
}

}  // namespace

TEST_CASE("concurrency: four threads translating at once give the serial run's outputs") {
  auto shared = random_model();
  std::vector<std::vector<std::vector<int64_t>>> inputs, serial;
  for (int t = 0; t < 4; ++t) {
    inputs.push_back(sentences(100 + t));
    serial.push_back(translate_all(*shared, inputs[t], t % 2 ? 3 : 1));  // greedy and beam 3
  }
  // own copies: each thread loads the shared model's weights into a model of its own
  std::vector<std::shared_ptr<TranslatorModel>> copies;
  for (int t = 0; t < 4; ++t) {
    copies.push_back(std::make_shared<TranslatorModel>(config()));
    copies.back()->load_state_dict(shared->state_dict());
    copies.back()->eval();
  }
  for (const bool one_model : {false, true}) {
    std::vector<std::vector<std::vector<int64_t>>> results(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        results[t] = translate_all(one_model ? *shared : *copies[t], inputs[t], t % 2 ? 3 : 1);
      });
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) {
      INFO((one_model ? "shared model" : "own copy") << ", thread " << t);
      CHECK(results[t] == serial[t]);
    }
  }
}
