// tests/test_decode.cpp — examples/translator/decode.cpp: greedy and beam search.
//
// Greedy with the key/value cache must equal greedy that re-runs the whole prefix every step;
// beam search with a beam wide enough to hold every prefix must find the exact best sequence
// under the length-normalised score, found here by enumerating all sequences; beam 1 is greedy.
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "examples/translator/decode.h"
#include "examples/translator/train.h"
#include "tests/examples_helpers.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;
using namespace translator;

namespace {

ModelConfig tiny_config(int64_t target_vocab) {
  ModelConfig c;
  c.source_vocab_size = 9;
  c.target_vocab_size = target_vocab;
  c.d_model = 8;
  c.nhead = 2;
  c.encoder_layers = 1;
  c.decoder_layers = 2;
  c.dim_feedforward = 16;
  c.dropout = 0;
  c.max_length = 16;
  return c;
}

// A random model whose weights are large enough that its choices are far from ties.
std::shared_ptr<TranslatorModel> random_model(int64_t target_vocab, uint64_t seed) {
  manual_seed(seed);
  auto model = std::make_shared<TranslatorModel>(tiny_config(target_vocab));
  randomize_parameters(*model, seed + 1);
  model->eval();
  return model;
}

// log p(tokens | source) with the full (uncached) decoder, tokens ending with <eos> (id 2)
double sequence_log_prob(TranslatorModel& model, const std::vector<int64_t>& source, const std::vector<int64_t>& tokens) {
  NoGradGuard no_grad;
  std::vector<int64_t> input{1};
  input.insert(input.end(), tokens.begin(), tokens.end() - 1);
  const auto s = static_cast<int64_t>(source.size()), t = static_cast<int64_t>(input.size());
  const IndexTensor src(source, Shape{1, s});
  const Tensor logp = log_softmax(model.forward(src, translator::non_padding_mask(src), IndexTensor(input, Shape{1, t}), Tensor()), -1);
  double total = 0;
  const int64_t v = model.config.target_vocab_size;
  for (int64_t i = 0; i < t; ++i) total += logp.data()[i * v + tokens[i]];
  return total;
}

// greedy by re-running the whole prefix each step (no cache)
std::vector<int64_t> greedy_without_cache(TranslatorModel& model, const std::vector<int64_t>& source, int64_t steps) {
  NoGradGuard no_grad;
  std::vector<int64_t> prefix{1}, out;
  const auto s = static_cast<int64_t>(source.size());
  const IndexTensor src(source, Shape{1, s});
  const Tensor mask = translator::non_padding_mask(src);
  const int64_t v = model.config.target_vocab_size;
  for (int64_t i = 0; i < steps; ++i) {
    const auto t = static_cast<int64_t>(prefix.size());
    const Tensor logits = model.forward(src, mask, IndexTensor(prefix, Shape{1, t}), Tensor());
    const scalar_t* last = logits.data() + (t - 1) * v;
    const int64_t next = std::max_element(last + 2, last + v) - last;  // <pad> and <bos> are never chosen
    if (next == 2) break;
    out.push_back(next);
    prefix.push_back(next);
  }
  return out;
}

}  // namespace

TEST_CASE("greedy_search: the cached, batched decoder gives the uncached greedy result") {
  auto model = random_model(12, 5);
  const std::vector<std::vector<int64_t>> sources = {{4, 5, 6, 2}, {7, 2}, {8, 4, 4, 5, 6, 7, 2}};
  const auto batched = greedy_search(*model, sources, 10);
  REQUIRE(batched.size() == 3);
  for (size_t i = 0; i < sources.size(); ++i) {
    INFO("sentence " << i);
    CHECK(batched[i] == greedy_without_cache(*model, sources[i], 10));
    // alone in its batch, too
    CHECK(greedy_search(*model, {sources[i]}, 10)[0] == batched[i]);
  }
}

TEST_CASE("beam_search: beam 1 is greedy, and a wide beam finds the exact best sequence") {
  // vocab: 4 specials + 2 words, at most 3 tokens: few enough to enumerate every sequence
  const int64_t vocab = 6, steps = 3;
  for (uint64_t seed : {11, 12, 13}) {
    INFO("seed " << seed);
    auto model = random_model(vocab, seed);
    const std::vector<int64_t> source{4, 5, 6, 2};
    CHECK(beam_search(*model, {source}, 1, 0.0, steps)[0] == greedy_search(*model, {source}, steps)[0]);
    for (double alpha : {0.0, 0.6, 2.0}) {
      INFO("alpha " << alpha);
      // every sequence of words 3..5 (<unk> is a word to the search) followed by <eos>, of at most
      // `steps` tokens, and the unfinished ones of exactly `steps` words (which compete when the
      // search runs out of steps)
      double best = -std::numeric_limits<double>::infinity();
      std::vector<int64_t> best_tokens;
      auto consider = [&](const std::vector<int64_t>& scored, const std::vector<int64_t>& words) {
        const double score = sequence_log_prob(*model, source, scored) /
                             std::pow((5.0 + static_cast<double>(scored.size())) / 6.0, alpha);
        if (score > best) best = score, best_tokens = words;
      };
      std::function<void(std::vector<int64_t>&)> visit = [&](std::vector<int64_t>& words) {
        if (static_cast<int64_t>(words.size()) == steps) return consider(words, words);
        std::vector<int64_t> with_eos = words;
        with_eos.push_back(2);
        consider(with_eos, words);
        for (int64_t w : {3, 4, 5}) {
          words.push_back(w);
          visit(words);
          words.pop_back();
        }
      };
      std::vector<int64_t> empty_prefix;
      visit(empty_prefix);
      // at most 3^2 live prefixes × 6 tokens = 54 candidates per step: a beam of 30 (2·30 = 60
      // candidates kept) is exhaustive
      const auto found = beam_search(*model, {source, source}, 30, alpha, steps);
      CHECK(found[0] == best_tokens);
      CHECK(found[1] == best_tokens);
    }
  }
}

TEST_CASE("translate_ids: bad input is refused with a clear message") {
  auto model = random_model(8, 3);
  CHECK(throws_with([&] { beam_search(*model, {{4, 2}}, 0, 0.6, 5); }, "beam size"));
  CHECK(throws_with([&] { greedy_search(*model, {{}}, 5); }, "empty"));
  CHECK(throws_with([&] { translate_ids(*model, {std::vector<int64_t>(40, 4)}); }, "at most 16"));
  CHECK(translate_ids(*model, {}).empty());
}

TEST_CASE("translate_text: a line of two sentences is translated sentence by sentence; bad UTF-8 is named") {
  auto model = random_model(12, 41);
  const Vocab source = Vocab::build({{"i", "am", "a", "student", "."}});  // 9 ids, as tiny_config
  Vocab target = Vocab::build({{"je", "suis", "un", "elle", "est", "docteur", "étudiant", "."}});
  REQUIRE(target.size() == 12);
  const std::string first = translate_text(*model, source, target, "I am a student.", 1, 0.6, nullptr);
  const std::string second = translate_text(*model, source, target, "She is a doctor.", 1, 0.6, nullptr);
  const std::string both = translate_text(*model, source, target, "I am a student. She is a doctor.", 1, 0.6, nullptr);
  CHECK(both == first + (first.empty() || second.empty() ? "" : " ") + second);
  std::vector<std::string> unknown;
  translate_text(*model, source, target, "She is a doctor.", 1, 0.6, &unknown);
  CHECK(unknown == std::vector<std::string>{"she", "is", "doctor"});
  CHECK(tessera::testing::throws_with(
      [&] { translate_text(*model, source, target, std::string("I am\xff."), 1, 0.6, nullptr); },
      "not valid UTF-8 (byte 0xff at offset 4)"));
  CHECK(tessera::testing::throws_with([&] { translate_text(*model, source, target, "  ", 1, 0.6, nullptr); },
                                      "empty"));
}
