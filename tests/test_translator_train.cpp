// tests/test_translator_train.cpp — examples/translator/train.cpp: data sets, the training loop,
// checkpoints and --resume.
//
// The task is a tiny word-for-word code (a b c -> x y z, each English word has one translation),
// small enough to learn in a second, with dropout on, so that "resume continues bit for bit"
// also covers the dropout masks.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "examples/common/files.h"
#include "examples/translator/train.h"
#include "nn/safetensors.h"
#include "tests/examples_helpers.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;
using namespace translator;

namespace {

// Sentences of 2-4 words over 6 English words; the "translation" maps each word to its own
// target word, so the decoder must read the source through the cross-attention.
std::vector<SentencePair> code_pairs(size_t count) {
  const std::vector<std::string> english{"red", "cat", "sees", "big", "dog", "runs"};
  const std::vector<std::string> code{"ROUGE", "CHAT", "VOIT", "GRAND", "CHIEN", "COURT"};
  std::vector<SentencePair> pairs;
  Generator gen(11);
  while (pairs.size() < count) {
    const int64_t length = 2 + gen.randint(3);
    std::string s, t;
    std::vector<std::string> words;
    for (int64_t i = 0; i < length; ++i) words.push_back(std::to_string(gen.randint(6)));
    for (int64_t i = 0; i < length; ++i) s += (i ? " " : "") + english[std::stoi(words[i])];
    for (int64_t i = 0; i < length; ++i) t += (i ? " " : "") + code[std::stoi(words[i])];
    pairs.push_back({s + ".", t + " ."});
  }
  return pairs;
}

struct Setup {
  Vocab source_vocab, target_vocab;
  Dataset data;
  ModelConfig config;
};

Setup setup(size_t pairs) {
  Setup s;
  const std::vector<SentencePair> p = code_pairs(pairs);
  s.source_vocab = Vocab::build(tokenized(p, true));
  s.target_vocab = Vocab::build(tokenized(p, false));
  s.data = make_dataset(p, s.source_vocab, s.target_vocab, 16);
  s.config.source_vocab_size = s.source_vocab.size();
  s.config.target_vocab_size = s.target_vocab.size();
  s.config.d_model = 32;
  s.config.nhead = 2;
  s.config.encoder_layers = 1;
  s.config.decoder_layers = 1;
  s.config.dim_feedforward = 64;
  s.config.dropout = 0.1;
  s.config.max_length = 16;
  return s;
}

TrainOptions quick_options(int64_t epochs) {
  TrainOptions o;
  o.epochs = epochs;
  o.batch_size = 8;
  o.lr = 0.5;
  o.warmup_steps = 40;
  o.eval_sentences = 16;
  o.seed = 5;
  o.progress = false;
  return o;
}

std::shared_ptr<TranslatorModel> fresh_model(const ModelConfig& config, uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<TranslatorModel>(config);
}

}  // namespace

TEST_CASE("translator data: tokenised pairs become ids; too-long pairs are dropped and counted") {
  const std::vector<SentencePair> pairs{{"I am a student.", "Je suis étudiant."},
                                        {"one two three four five six", "un"},
                                        {"Hello!", "Bonjour !"}};
  const Vocab sv = Vocab::build(tokenized(pairs, true)), tv = Vocab::build(tokenized(pairs, false));
  size_t dropped = 0;
  const Dataset d = make_dataset(pairs, sv, tv, 6, &dropped);  // 6 tokens on a side are too many
  CHECK(dropped == 1);
  REQUIRE(d.size() == 2);
  CHECK(d.source_tokens[0] == std::vector<std::string>{"i", "am", "a", "student", "."});
  CHECK(d.target_tokens[1] == std::vector<std::string>{"bonjour", "!"});
  CHECK(tv.decode(d.target_ids[0]) == d.target_tokens[0]);

  std::vector<std::string> unknown;
  const std::vector<int64_t> ids = encode_sentence("I am a xylophone!", sv, &unknown);
  CHECK(unknown == std::vector<std::string>{"xylophone"});
  CHECK(ids.back() == Vocab::kEos);
  CHECK(ids[3] == Vocab::kUnk);
  CHECK(throws_with([&] { encode_sentence("   ", sv, nullptr); }, "the sentence is empty"));
}

TEST_CASE("translator train: a small code is learnt, and greedy translation reproduces it") {
  Setup s = setup(160);
  auto model = fresh_model(s.config, 1);
  TrainOptions o = quick_options(60);
  const std::vector<EpochRecord> history = train(*model, s.source_vocab, s.target_vocab, s.data, s.data, o);
  REQUIRE(history.size() == 60);
  CHECK(history.back().train_loss < 0.5 * history.front().train_loss);
  const double bleu = evaluate_bleu(*model, s.target_vocab, s.data, 1, 40);
  MESSAGE("BLEU on the training code: " << bleu);
  CHECK(bleu > 80);  // untrained: about 2
  CHECK(evaluate_bleu(*model, s.target_vocab, s.data, 3, 40) > 80);  // beam search agrees
}

TEST_CASE("translator train: with subword vocabularies the code is learnt too, and the checkpoint keeps them") {
  // Vocabularies too small for whole words: every code word is spelt in pieces, so the model must
  // learn to emit several pieces per word; BLEU is on the words they join into.
  Setup s = setup(160);
  const std::vector<SentencePair> p = code_pairs(160);
  s.source_vocab = Vocab::build_subwords(tokenized(p, true), 30);
  s.target_vocab = Vocab::build_subwords(tokenized(p, false), 24);
  REQUIRE(s.target_vocab.is_subword());
  s.config.max_length = 40;
  s.data = make_dataset(p, s.source_vocab, s.target_vocab, s.config.max_length);
  REQUIRE(s.data.size() == p.size());
  size_t pieces = 0, words = 0;
  for (size_t i = 0; i < s.data.size(); ++i) pieces += s.data.target_ids[i].size(), words += s.data.target_tokens[i].size();
  CHECK(pieces > words + words / 2);  // well over one piece per word
  s.config.source_vocab_size = s.source_vocab.size();
  s.config.target_vocab_size = s.target_vocab.size();
  TempDir dir;
  TrainOptions o = quick_options(60);
  o.checkpoint = dir.file("subwords.safetensors");
  auto model = fresh_model(s.config, 1);
  train(*model, s.source_vocab, s.target_vocab, s.data, s.data, o);
  std::vector<std::vector<std::string>> hyps;
  const double bleu = evaluate_bleu(*model, s.target_vocab, s.data, 1, 40, &hyps);
  MESSAGE("BLEU on the training code, subwords: " << bleu);
  CHECK(bleu > 80);
  CHECK(hyps[0] == s.data.target_tokens[0]);  // words, not pieces

  const Checkpoint c = load_checkpoint(o.checkpoint);
  CHECK(c.source_vocab.is_subword());
  CHECK(c.target_vocab == s.target_vocab);
  CHECK(c.source_vocab.encode(s.data.source_tokens[3]) == s.data.source_ids[3]);
}

TEST_CASE("translator train: resuming from a checkpoint continues bit for bit") {
  Setup s = setup(48);
  TempDir dir;
  TrainOptions o = quick_options(3);
  o.checkpoint = dir.file("straight.safetensors");
  auto straight = fresh_model(s.config, 1);
  const std::vector<EpochRecord> full = train(*straight, s.source_vocab, s.target_vocab, s.data, s.data, o);

  // the same run interrupted after epoch 1, then resumed into a model with other weights
  o.checkpoint = dir.file("resumed.safetensors");
  o.epochs = 1;
  auto first = fresh_model(s.config, 1);
  train(*first, s.source_vocab, s.target_vocab, s.data, s.data, o);
  o.epochs = 3;
  o.resume = true;
  auto resumed_model = fresh_model(s.config, 77);
  const std::vector<EpochRecord> resumed = train(*resumed_model, s.source_vocab, s.target_vocab, s.data, s.data, o);
  REQUIRE(resumed.size() == 3);
  CHECK(same_state(resumed_model->state_dict(), straight->state_dict()));
  for (size_t e = 0; e < 3; ++e) {
    CHECK(resumed[e].train_loss == full[e].train_loss);
    CHECK(resumed[e].valid_bleu == full[e].valid_bleu);
  }
  const nn::SafetensorsFile a = nn::load_safetensors(dir.file("straight.safetensors"));
  const nn::SafetensorsFile b = nn::load_safetensors(dir.file("resumed.safetensors"));
  CHECK(same_state(a.tensors, b.tensors));  // the optimizer's moments and the schedule too
  CHECK(a.tensors.contains("optimizer.state.0.exp_avg"));

  // the checkpoint alone rebuilds the model and its vocabularies
  const Checkpoint c = load_checkpoint(dir.file("straight.safetensors"));
  CHECK(c.epoch == 3);
  CHECK(c.history.size() == 3);
  CHECK(c.source_vocab == s.source_vocab);
  CHECK(c.target_vocab == s.target_vocab);
  CHECK(c.config.to_json() == s.config.to_json());
  CHECK(same_state(c.model->state_dict(), straight->state_dict()));

  // a different model refuses to resume from it
  ModelConfig other = s.config;
  other.d_model = 16;
  auto wrong = fresh_model(other, 1);
  CHECK(throws_with([&] { train(*wrong, s.source_vocab, s.target_vocab, s.data, s.data, o); },
                    "different model config"));
}

TEST_CASE("translator train: a non-finite loss stops training with the step, and keeps the last checkpoint") {
  Setup s = setup(24);
  TempDir dir;
  TrainOptions o = quick_options(1);
  o.checkpoint = dir.file("model.safetensors");
  auto model = fresh_model(s.config, 1);
  train(*model, s.source_vocab, s.target_vocab, s.data, s.data, o);
  const std::string before = examples::read_file(o.checkpoint);

  auto broken = fresh_model(s.config, 2);
  {
    NoGradGuard no_grad;
    broken->output_bias.data()[5] = std::numeric_limits<scalar_t>::quiet_NaN();
  }
  CHECK(throws_with([&] { train(*broken, s.source_vocab, s.target_vocab, s.data, s.data, o); },
                    "the loss became nan at epoch 1, step 1"));
  CHECK(examples::read_file(o.checkpoint) == before);
}

TEST_CASE("translator checkpoints: files that are not translator checkpoints are refused by name") {
  Setup s = setup(24);
  TempDir dir;
  auto model = fresh_model(s.config, 1);
  nn::save(*model, dir.file("plain.safetensors"));
  CHECK(throws_with([&] { load_checkpoint(dir.file("plain.safetensors")); }, "not a translator checkpoint"));
  CHECK(throws_with([&] { load_checkpoint(dir.file("missing.safetensors")); }, "missing.safetensors"));

  // vocabularies that do not match the config
  TrainOptions o = quick_options(1);
  o.checkpoint = dir.file("model.safetensors");
  train(*model, s.source_vocab, s.target_vocab, s.data, s.data, o);
  nn::SafetensorsFile file = nn::load_safetensors(o.checkpoint);
  file.metadata["source_vocab"] = Vocab().to_json();
  nn::save_safetensors(dir.file("mismatch.safetensors"), file.tensors, file.metadata);
  CHECK(throws_with([&] { load_checkpoint(dir.file("mismatch.safetensors")); }, "do not match the model config"));
}
