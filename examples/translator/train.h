// examples/translator/train.h — data sets as id sequences, the training loop, evaluation and the
// checkpoint format of the translator.
//
// A checkpoint is ONE safetensors file, written atomically after every epoch:
//   tensors   model.*        the TranslatorModel's state_dict (PyTorch-style names)
//             optimizer.*    Adam's moments and step counts     (for --resume)
//             scheduler.*    the Noam schedule's position
//   metadata  "config"       the ModelConfig as JSON
//             "source_vocab", "target_vocab"   the vocabularies as JSON
//             "training"     epoch reached, options and the per-epoch history, as JSON
// so `translate` needs nothing but the file, and `train --resume` continues bit for bit: the
// batches and dropout masks of epoch e depend only on (seed, e).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "examples/translator/model.h"
#include "examples/translator/text.h"
#include "examples/translator/vocab.h"

namespace translator {

// Sentence pairs as tokens and as ids, without special tokens (batching adds them).
struct Dataset {
  std::vector<std::vector<std::string>> source_tokens, target_tokens;
  std::vector<std::vector<int64_t>> source_ids, target_ids;
  size_t size() const { return source_ids.size(); }
};
// Tokenises pairs (preprocess + tokenize) and maps them to ids (one per word, or per piece with a
// subword vocabulary). Pairs with max_tokens ids or more on either side are dropped (and counted
// in *dropped, when given).
Dataset make_dataset(const std::vector<SentencePair>& pairs, const Vocab& source_vocab, const Vocab& target_vocab,
                     int64_t max_tokens, size_t* dropped = nullptr);
std::vector<std::vector<std::string>> tokenized(const std::vector<SentencePair>& pairs, bool source_side);

struct TrainOptions {
  int64_t epochs = 8;
  int64_t batch_size = 64;        // sentence pairs per step
  double lr = 1.0;                // Noam factor: lr(step) = lr · d^-1/2 · min(step^-1/2, step · warmup^-3/2)
  int64_t warmup_steps = 400;
  double label_smoothing = 0.1;
  double clip_norm = 1.0;         // 0 = no clipping
  uint64_t seed = 1;
  int64_t eval_sentences = 300;   // validation sentences translated (greedy) for BLEU after each epoch
  std::string checkpoint;         // path of the .safetensors file ("" = none)
  bool resume = false;
  std::string curve_svg;          // training curve written after every epoch ("" = none)
  std::string data = "bundled";   // recorded in the checkpoint so `eval` rebuilds the same split
  int64_t bundled_pairs = 30000;
  bool progress = true;           // progress bar and one line per epoch on stderr
};

struct EpochRecord {
  int64_t epoch;
  double train_loss, valid_bleu, seconds, tokens_per_second;
};

// A checkpoint's "training" metadata: the epochs completed, what the split was made from, and the
// per-epoch history (save_checkpoint writes it with the options of the run).
struct TrainingRecord {
  int64_t epoch = 0;
  std::vector<EpochRecord> history;
  std::string data = "bundled";
  uint64_t seed = 1;
  int64_t bundled_pairs = 30000;
};
// Throws tessera::Error saying which field is missing or wrong ("data", "seed" and
// "bundled_pairs" may be absent, as in older checkpoints).
TrainingRecord training_record_from_json(const std::string& json);

struct Checkpoint {
  ModelConfig config;
  Vocab source_vocab, target_vocab;
  std::shared_ptr<TranslatorModel> model;
  int64_t epoch = 0;                   // epochs completed
  std::vector<EpochRecord> history;
  std::string data = "bundled";        // what it was trained on, and the seed of the split
  uint64_t seed = 1;
  int64_t bundled_pairs = 30000;
};

// Trains `model` (fresh, or resumed from options.checkpoint) on train, reporting validation BLEU
// after each epoch. Throws tessera::Error on a non-finite loss, naming the epoch and step; the last
// good checkpoint stays in place.
std::vector<EpochRecord> train(TranslatorModel& model, const Vocab& source_vocab, const Vocab& target_vocab,
                               const Dataset& train_set, const Dataset& valid_set, const TrainOptions& options);

// Greedy (beam_size 1) or beam translations of data's sources, and their corpus BLEU against the
// targets. hypotheses receives the token lists when not null.
double evaluate_bleu(TranslatorModel& model, const Vocab& target_vocab, const Dataset& data, int64_t beam_size,
                     size_t max_sentences = 0, std::vector<std::vector<std::string>>* hypotheses = nullptr,
                     int64_t batch_size = 128);

// The same under mpirun, with the sentences shared out among the ranks and the translations
// gathered: a collective (every rank calls it), the same score and hypotheses on every rank as
// evaluate_bleu in one process. In one process it is evaluate_bleu.
double evaluate_bleu_distributed(TranslatorModel& model, const Vocab& target_vocab, const Dataset& data,
                                 int64_t beam_size, size_t max_sentences = 0,
                                 std::vector<std::vector<std::string>>* hypotheses = nullptr,
                                 int64_t batch_size = 128);

// Reads a checkpoint written by train(); validates that vocabularies and config agree with the
// tensors (a clear error names the file otherwise).
Checkpoint load_checkpoint(const std::string& path);

// Tokens of one raw sentence -> source ids (ending in <eos>). Unknown words map to <unk> and are
// listed in *unknown. Throws tessera::Error for empty text or text that is not valid UTF-8
// (naming the first bad byte and its offset).
std::vector<int64_t> encode_sentence(const std::string& sentence, const Vocab& source_vocab,
                                     std::vector<std::string>* unknown);

// One line of user text -> its translation: checked like encode_sentence, cut into sentences
// (split_sentences: the model learnt one sentence at a time), each translated with `options`
// (beam_size, length_penalty), the translations joined with spaces. Throws tessera::Error when a
// sentence is longer than the model takes.
std::string translate_text(TranslatorModel& model, const Vocab& source_vocab, const Vocab& target_vocab,
                           const std::string& line, int64_t beam_size, double length_penalty,
                           std::vector<std::string>* unknown);

}  // namespace translator
