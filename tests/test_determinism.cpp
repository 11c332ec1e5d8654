// tests/test_determinism.cpp — the same seed gives the same bits at any thread count.
//
// Both examples train the same model at 1, 2, 3 and 4 threads: every epoch's loss and every
// parameter (and buffer: BatchNorm's running statistics) must be equal bit for bit. The models
// are sized so that their products are cut into blocks and their elementwise loops, reductions
// and normalisations cross the grains where the engine goes parallel (engine/parallel.h): a sum
// split by thread, or a product cut by thread count, would show up here as a differing bit.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/tessera.h"
#include "examples/attention_cnn/train.h"
#include "examples/translator/train.h"
#include "tests/examples_helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

// Restores the thread count a test found.
struct ThreadCountGuard {
  int saved = get_num_threads();
  ~ThreadCountGuard() { set_num_threads(saved); }
};

const std::vector<int> kThreadCounts{1, 2, 3, 4};

// Sentences of 3-8 words over a small vocabulary, "translated" word by word with the order of
// each pair of words swapped, so attention has something to learn.
std::vector<translator::SentencePair> shuffled_code(size_t count) {
  std::vector<translator::SentencePair> pairs;
  Generator gen(3);
  while (pairs.size() < count) {
    const int64_t length = 3 + gen.randint(6);
    std::vector<int64_t> words;
    for (int64_t i = 0; i < length; ++i) words.push_back(gen.randint(40));
    std::string s, t;
    for (int64_t i = 0; i < length; ++i) s += (i ? " w" : "w") + std::to_string(words[i]);
    for (int64_t i = 0; i < length; ++i) {
      const int64_t j = (i % 2 == 0 && i + 1 < length) ? i + 1 : (i % 2 == 1 ? i - 1 : i);
      t += (i ? " T" : "T") + std::to_string(words[j]);
    }
    pairs.push_back({s + ".", t + " ."});
  }
  return pairs;
}

}  // namespace

TEST_CASE("determinism: 100 translator training steps give the same losses and weights at 1, 2, 3, 4 threads") {
  ThreadCountGuard guard;
  const std::vector<translator::SentencePair> pairs = shuffled_code(800);
  const translator::Vocab sv = translator::Vocab::build(translator::tokenized(pairs, true));
  const translator::Vocab tv = translator::Vocab::build(translator::tokenized(pairs, false));
  const translator::Dataset data = translator::make_dataset(pairs, sv, tv, 16);
  REQUIRE(data.size() == pairs.size());
  translator::ModelConfig config;
  config.source_vocab_size = sv.size();
  config.target_vocab_size = tv.size();
  config.d_model = 64;
  config.nhead = 4;
  config.encoder_layers = 2;
  config.decoder_layers = 2;
  config.dim_feedforward = 256;
  config.dropout = 0.1;  // the dropout masks must not depend on the thread count either
  config.max_length = 16;
  translator::TrainOptions o;
  o.epochs = 4;  // 800 pairs / batch 32 = 25 steps an epoch
  o.batch_size = 32;
  o.lr = 1.0;
  o.warmup_steps = 40;
  o.eval_sentences = 32;
  o.seed = 9;
  o.progress = false;

  std::vector<std::vector<translator::EpochRecord>> histories;
  std::vector<nn::StateDict> states;
  for (int threads : kThreadCounts) {
    set_num_threads(threads);
    manual_seed(o.seed);
    translator::TranslatorModel model(config);
    histories.push_back(translator::train(model, sv, tv, data, data, o));
    states.push_back(model.state_dict());
  }
  REQUIRE(histories[0].size() == 4);
  CHECK(histories[0].back().train_loss < histories[0].front().train_loss);  // it did learn
  for (size_t i = 1; i < kThreadCounts.size(); ++i) {
    CAPTURE(kThreadCounts[i]);
    for (size_t e = 0; e < histories[0].size(); ++e) {
      CHECK(histories[i][e].train_loss == histories[0][e].train_loss);
      CHECK(histories[i][e].valid_bleu == histories[0][e].valid_bleu);
    }
    CHECK(same_state(states[i], states[0]));
  }
}

TEST_CASE("determinism: 50 attention-CNN training steps give the same losses and weights at 1, 2, 3, 4 threads") {
  ThreadCountGuard guard;
  // 320 images of 16 x 16 in 4 classes: a bright square at a class-specific place on noise
  attention_cnn::LabeledImages images;
  images.count = 320, images.rows = 16, images.cols = 16;
  Generator gen(17);
  for (int64_t i = 0; i < images.count; ++i) {
    const int label = static_cast<int>(i % 4);
    images.labels.push_back(static_cast<uint8_t>(label));
    const int64_t top = 2 + 3 * label, left = 12 - 3 * label;
    for (int64_t r = 0; r < 16; ++r)
      for (int64_t c = 0; c < 16; ++c) {
        const bool square = r >= top && r < top + 3 && c >= left && c < left + 3;
        images.pixels.push_back(static_cast<uint8_t>(square ? 180 + gen.randint(70) : gen.randint(90)));
      }
  }
  attention_cnn::ModelConfig config;
  config.image_size = 16;
  config.widths = {16, 32};  // 16 channels and up on 8 x 8 maps: the Winograd path runs too
  config.num_classes = 4;
  attention_cnn::TrainOptions o;
  o.epochs = 5;  // 320 images / batch 32 = 10 steps an epoch
  o.batch_size = 32;
  o.progress = false;
  o.evaluate_each_epoch = true;
  o.seed = 4;

  std::vector<std::vector<attention_cnn::EpochRecord>> histories;
  std::vector<nn::StateDict> states;
  for (int threads : kThreadCounts) {
    set_num_threads(threads);
    auto model = attention_cnn::make_model(config, o.seed);
    histories.push_back(attention_cnn::train(*model, images, images, o));
    states.push_back(model->state_dict());  // BatchNorm's running statistics included
  }
  REQUIRE(histories[0].size() == 5);
  for (size_t i = 1; i < kThreadCounts.size(); ++i) {
    CAPTURE(kThreadCounts[i]);
    for (size_t e = 0; e < histories[0].size(); ++e) {
      CHECK(histories[i][e].train_loss == histories[0][e].train_loss);
      CHECK(histories[i][e].train_accuracy == histories[0][e].train_accuracy);
      CHECK(histories[i][e].test_accuracy == histories[0][e].test_accuracy);
    }
    CHECK(same_state(states[i], states[0]));
  }
}
