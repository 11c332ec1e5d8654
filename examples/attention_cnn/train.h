// examples/attention_cnn/train.h — training, evaluation and checkpoints of the attention CNN.
//
// Training is AdamW (or SGD with Nesterov momentum) under a one-cycle schedule: the learning rate
// rises linearly from lr/25 to lr over the first warmup fraction of all steps, then falls along a
// cosine to lr/25e4 at the last step (Smith & Topin's one-cycle policy, as PyTorch's OneCycleLR).
// The loss is cross-entropy with label smoothing.
//
// Reproducibility: the model's initial weights come from the seed; every random choice of epoch e
// (image order, flips, shifts) from epoch_seed(seed, e) (data.h). After every epoch a checkpoint
// holds the model ("model.*", with BatchNorm's running statistics), the optimizer ("optimizer.*")
// and the schedule ("scheduler.*"), and its metadata the model config and the training settings
// and history as JSON. Resuming from it continues bit for bit as if training had never stopped
// (at any number of threads: the engine's results do not depend on it; tests/test_determinism.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "examples/attention_cnn/data.h"
#include "examples/attention_cnn/idx.h"
#include "examples/attention_cnn/model.h"

namespace attention_cnn {

struct TrainOptions {
  int64_t epochs = 6;
  int64_t batch_size = 128;
  std::string optimizer = "adamw";  // "adamw" or "sgd" (momentum 0.9, Nesterov)
  double lr = 4e-3;                 // the peak of the one-cycle schedule
  double weight_decay = 5e-4;       // AdamW: decoupled; SGD: L2
  double warmup_fraction = 0.2;     // of all steps, rising to the peak
  double label_smoothing = 0.1;
  Augmentation augment;
  uint64_t seed = 1;
  int64_t train_limit = 0;          // > 0: train on the first train_limit images only (quick runs)
  bool evaluate_each_epoch = true;  // test accuracy after every epoch (≈ 5% of an epoch's time)
  std::string checkpoint;           // written after every epoch ("" = none)
  bool resume = false;              // continue from `checkpoint`
  int64_t stop_after = 0;           // > 0: stop after this epoch, as if interrupted (resume later)
  bool progress = true;             // the progress bar on stderr

  std::string to_json() const;
  static TrainOptions from_json(const std::string& json);  // throws tessera::Error
  void validate() const;
};

struct EpochRecord {
  int64_t epoch = 0;
  double train_loss = 0, train_accuracy = 0;  // over the epoch, on augmented images, in training mode
  double test_accuracy = -1;                  // -1 when not evaluated
  double seconds = 0, images_per_second = 0;  // the training part only
};

struct Evaluation {
  int64_t count = 0;
  double loss = 0;       // mean cross-entropy (no smoothing)
  double accuracy = 0;   // in [0, 1]
  int64_t num_classes = 0;
  std::vector<int64_t> confusion;  // [true class][predicted class], num_classes²
  std::vector<int64_t> predictions;
};

// A fresh model whose initial weights are a function of the seed.
std::shared_ptr<AttentionCNN> make_model(const ModelConfig& config, uint64_t seed);

// Accuracy, loss and confusion matrix over the first `limit` images of `data` (all when 0), in
// evaluation mode (BatchNorm's running statistics), without recording a graph.
Evaluation evaluate(AttentionCNN& model, const LabeledImages& data, int64_t batch_size = 500, int64_t limit = 0);

// The same under mpirun: a collective (every rank calls it) in which each rank scores its share of
// the images and every rank gets the whole evaluation; in one process it is evaluate().
Evaluation evaluate_distributed(AttentionCNN& model, const LabeledImages& data, int64_t batch_size = 500);

// The confusion matrix as a text table with class names (rows: true class, columns: predicted),
// and each class's accuracy.
std::string format_confusion(const Evaluation& evaluation, const std::vector<std::string>& class_names);

// The one-cycle learning-rate factor (multiplies the peak lr) at update `step` of `total_steps`.
double one_cycle_factor(int64_t step, int64_t total_steps, double warmup_fraction);

// Trains `model` for options.epochs epochs (from the checkpoint's next epoch when resuming; the
// model must then have the checkpoint's config). `test_set` may be empty (no evaluation).
// Returns the history of every epoch, including those before a resume.
std::vector<EpochRecord> train(AttentionCNN& model, const LabeledImages& train_set, const LabeledImages& test_set,
                               const TrainOptions& options);

// A checkpoint's "training" metadata: the epochs completed, the run's options and the per-epoch
// history. Throws tessera::Error saying which field is missing or wrong.
struct TrainingRecord {
  int64_t epoch = 0;
  TrainOptions options;
  std::vector<EpochRecord> history;
};
TrainingRecord training_record_from_json(const std::string& json);

struct Checkpoint {
  ModelConfig config;
  TrainOptions options;
  int64_t epoch = 0;
  std::vector<EpochRecord> history;
  std::shared_ptr<AttentionCNN> model;  // weights loaded, in evaluation mode
};

// Reads a checkpoint written by train(); throws tessera::Error naming the file when it is not one.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace attention_cnn
