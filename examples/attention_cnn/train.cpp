// examples/attention_cnn/train.cpp — see train.h.
#include "examples/attention_cnn/train.h"

#include "nn/distributed.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "examples/common/json_fields.h"
#include "examples/common/interrupt.h"
#include "examples/common/progress.h"
#include "examples/common/resume.h"
#include "examples/common/state_dict.h"
#include "nn/loss.h"
#include "nn/lr_scheduler.h"
#include "nn/optim.h"
#include "nn/safetensors.h"

namespace attention_cnn {

using namespace tessera;

using examples::add_prefixed;
using examples::with_prefix;

namespace {

constexpr double kOneCycleDivFactor = 25;         // start at lr / 25
constexpr double kOneCycleFinalDivFactor = 1e4;   // end at lr / 25 / 1e4

nlohmann::json history_json(const std::vector<EpochRecord>& history) {
  nlohmann::json h = nlohmann::json::array();
  for (const EpochRecord& r : history)
    h.push_back({{"epoch", r.epoch},
                 {"train_loss", r.train_loss},
                 {"train_accuracy", r.train_accuracy},
                 {"test_accuracy", r.test_accuracy},
                 {"seconds", r.seconds},
                 {"images_per_second", r.images_per_second}});
  return h;
}

std::vector<EpochRecord> history_from_json(const nlohmann::json& h) {
  std::vector<EpochRecord> out;
  for (const auto& r : h)
    out.push_back({examples::json_int64(r.at("epoch")), r.at("train_loss").get<double>(),
                   r.at("train_accuracy").get<double>(), r.at("test_accuracy").get<double>(),
                   r.at("seconds").get<double>(), r.at("images_per_second").get<double>()});
  return out;
}

// The index of each row's largest logit; logits [B, C].
std::vector<int64_t> argmax_rows(const Tensor& logits) {
  const int64_t b = logits.size(0), c = logits.size(1);
  const scalar_t* p = logits.data();
  std::vector<int64_t> out(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) out[i] = std::max_element(p + i * c, p + (i + 1) * c) - (p + i * c);
  return out;
}

// The optimizer and its one-cycle schedule.
struct Optimization {
  Optimization(AttentionCNN& model, const TrainOptions& o, int64_t total_steps) {
    if (o.optimizer == "sgd")
      optimizer = std::make_unique<nn::optim::SGD>(
          model.parameters(),
          nn::optim::SGDOptions{.lr = o.lr, .momentum = 0.9, .weight_decay = o.weight_decay, .nesterov = true});
    else
      optimizer = std::make_unique<nn::optim::AdamW>(
          model.parameters(), nn::optim::AdamWOptions{.lr = o.lr, .weight_decay = o.weight_decay});
    const double warmup = o.warmup_fraction;
    schedule = std::make_unique<nn::optim::LambdaLR>(
        *optimizer, [total_steps, warmup](int64_t step) { return one_cycle_factor(step, total_steps, warmup); });
  }
  std::unique_ptr<nn::optim::Optimizer> optimizer;
  std::unique_ptr<nn::optim::LRScheduler> schedule;  // after the optimizer: it points to it
};

void save_checkpoint(const std::string& path, const AttentionCNN& model, const Optimization& opt,
                     const TrainOptions& options, int64_t epoch, const std::vector<EpochRecord>& history,
                     const examples::MidEpoch& mid_epoch = {}) {
  nn::StateDict tensors;
  add_prefixed(tensors, "model.", model.state_dict());
  add_prefixed(tensors, "optimizer.", opt.optimizer->state_dict());
  add_prefixed(tensors, "scheduler.", opt.schedule->state_dict());
  nlohmann::json training = {{"epoch", epoch},
                             {"options", nlohmann::json::parse(options.to_json())},
                             {"history", history_json(history)}};
  if (mid_epoch.active()) training["mid_epoch"] = nlohmann::json::parse(mid_epoch.to_json());
  nn::save_safetensors(path, tensors,
                       {{"format", "pt"}, {"program", "attention_cnn"}, {"config", model.config.to_json()}, {"training", training.dump()}});
}

}  // namespace

// ---------------- options ----------------

std::string TrainOptions::to_json() const {
  // Only what decides the run's numbers; paths and display settings are not part of it.
  const nlohmann::json j = {{"epochs", epochs},
                            {"batch_size", batch_size},
                            {"optimizer", optimizer},
                            {"lr", lr},
                            {"weight_decay", weight_decay},
                            {"warmup_fraction", warmup_fraction},
                            {"label_smoothing", label_smoothing},
                            {"flip", augment.flip},
                            {"crop_padding", augment.crop_padding},
                            {"seed", seed},
                            {"train_limit", train_limit}};
  return j.dump();
}

TrainOptions TrainOptions::from_json(const std::string& text) {
  TrainOptions o;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    o.epochs = examples::json_int64(j.at("epochs"));
    o.batch_size = examples::json_int64(j.at("batch_size"));
    o.optimizer = j.at("optimizer").get<std::string>();
    o.lr = j.at("lr").get<double>();
    o.weight_decay = j.at("weight_decay").get<double>();
    o.warmup_fraction = j.at("warmup_fraction").get<double>();
    o.label_smoothing = j.at("label_smoothing").get<double>();
    o.augment.flip = j.at("flip").get<bool>();
    o.augment.crop_padding = examples::json_int64(j.at("crop_padding"));
    o.seed = examples::json_uint64(j.at("seed"));
    o.train_limit = examples::json_int64(j.at("train_limit"));
  } catch (const nlohmann::json::exception& e) {
    fail("training options: not valid attention_cnn settings ({})", e.what());
  }
  o.validate();
  return o;
}

void TrainOptions::validate() const {
  TS_CHECK(epochs > 0 && batch_size > 0, "train: epochs {} and batch size {} must be positive", epochs, batch_size);
  TS_CHECK(optimizer == "adamw" || optimizer == "sgd", "train: optimizer '{}' is neither 'adamw' nor 'sgd'", optimizer);
  TS_CHECK(lr > 0 && std::isfinite(lr), "train: the learning rate {} must be positive", lr);
  TS_CHECK(weight_decay >= 0, "train: weight decay {} must not be negative", weight_decay);
  TS_CHECK(warmup_fraction >= 0 && warmup_fraction < 1, "train: the warm-up fraction {} must be in [0, 1)",
           warmup_fraction);
  TS_CHECK(label_smoothing >= 0 && label_smoothing < 1, "train: label smoothing {} must be in [0, 1)", label_smoothing);
  TS_CHECK(augment.crop_padding >= 0 && augment.crop_padding < 14, "train: crop padding {} must be in [0, 14)",
           augment.crop_padding);
  TS_CHECK(train_limit >= 0, "train: the image limit {} must not be negative", train_limit);
}

// ---------------- training ----------------

double one_cycle_factor(int64_t step, int64_t total_steps, double warmup_fraction) {
  const double start = 1 / kOneCycleDivFactor, end = start / kOneCycleFinalDivFactor;
  const int64_t warmup = static_cast<int64_t>(std::llround(warmup_fraction * static_cast<double>(total_steps)));
  if (step < warmup) return start + (1 - start) * static_cast<double>(step) / static_cast<double>(warmup);
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - 1 - warmup);
  const double progress = std::clamp(static_cast<double>(step - warmup) / static_cast<double>(decay_steps), 0.0, 1.0);
  return end + (1 - end) * (1 + std::cos(std::numbers::pi * progress)) / 2;
}

std::shared_ptr<AttentionCNN> make_model(const ModelConfig& config, uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<AttentionCNN>(config);
}

Evaluation evaluate(AttentionCNN& model, const LabeledImages& data, int64_t batch_size, int64_t limit) {
  TS_CHECK(batch_size > 0, "evaluate: batch size {} must be positive", batch_size);
  const int64_t n = limit > 0 ? std::min(limit, data.count) : data.count;
  const int64_t classes = model.config.num_classes;
  Evaluation e;
  e.count = n;
  e.num_classes = classes;
  e.confusion.assign(static_cast<size_t>(classes * classes), 0);
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t start = 0; start < n; start += batch_size) {
    std::vector<int64_t> indices;
    for (int64_t i = start; i < std::min(n, start + batch_size); ++i) indices.push_back(i);
    const Batch batch = make_batch(data, indices);
    const Tensor logits = model.forward(batch.images);
    loss_sum += nn::cross_entropy(logits, batch.labels, {.reduction = nn::Reduction::Sum}).item();
    const std::vector<int64_t> predicted = argmax_rows(logits);
    for (size_t i = 0; i < predicted.size(); ++i) {
      const int64_t truth = batch.labels.data()[i];
      correct += predicted[i] == truth;
      ++e.confusion[static_cast<size_t>(truth * classes + predicted[i])];
      e.predictions.push_back(predicted[i]);
    }
  }
  model.train(was_training);
  e.loss = n > 0 ? loss_sum / static_cast<double>(n) : 0;
  e.accuracy = n > 0 ? static_cast<double>(correct) / static_cast<double>(n) : 0;
  return e;
}

std::string format_confusion(const Evaluation& e, const std::vector<std::string>& class_names) {
  const int64_t c = e.num_classes;
  TS_CHECK(static_cast<int64_t>(class_names.size()) == c, "format_confusion: {} class names for {} classes",
           class_names.size(), c);
  size_t name_width = 10;
  for (const std::string& name : class_names) name_width = std::max(name_width, name.size() + 3);
  std::string out = fmt::format("{:<{}}", "true \\ predicted", name_width + 1);
  for (int64_t j = 0; j < c; ++j) out += fmt::format("{:>6}", j);
  out += "   accuracy\n";
  for (int64_t i = 0; i < c; ++i) {
    int64_t row_total = 0;
    for (int64_t j = 0; j < c; ++j) row_total += e.confusion[static_cast<size_t>(i * c + j)];
    out += fmt::format("{:<{}}", fmt::format("{} {}", i, class_names[static_cast<size_t>(i)]), name_width + 1);
    for (int64_t j = 0; j < c; ++j) out += fmt::format("{:>6}", e.confusion[static_cast<size_t>(i * c + j)]);
    const double accuracy = row_total > 0 ? 100.0 * static_cast<double>(e.confusion[static_cast<size_t>(i * c + i)]) /
                                                static_cast<double>(row_total)
                                          : 0.0;
    out += fmt::format("   {:6.1f}%\n", accuracy);
  }
  return out;
}

// Each rank scores its contiguous part of the images; one all-reduce sums the loss, the counts, the
// confusion matrix and the predictions (each in its own place, zeros elsewhere), so every rank ends
// with one process's figures (the loss to the rounding of the per-rank sums).
Evaluation evaluate_distributed(AttentionCNN& model, const LabeledImages& data, int64_t batch_size) {
  if (dist::world_size() == 1) return evaluate(model, data, batch_size);
  const dist::Range mine = dist::shard_range(data.count);
  LabeledImages part;
  part.count = mine.size(), part.rows = data.rows, part.cols = data.cols;
  const int64_t pixels = data.rows * data.cols;
  part.pixels.assign(data.pixels.begin() + mine.begin * pixels, data.pixels.begin() + mine.end * pixels);
  part.labels.assign(data.labels.begin() + mine.begin, data.labels.begin() + mine.end);
  const Evaluation local = evaluate(model, part, batch_size);
  const int64_t classes = model.config.num_classes, cells = classes * classes;
  // [loss sum, correct, confusion (classes²), predictions (data.count)]
  std::vector<double> sums(static_cast<size_t>(2 + cells + data.count), 0.0);
  sums[0] = local.loss * static_cast<double>(local.count);
  sums[1] = local.accuracy * static_cast<double>(local.count);
  for (int64_t i = 0; i < cells; ++i) sums[static_cast<size_t>(2 + i)] = static_cast<double>(local.confusion[static_cast<size_t>(i)]);
  for (int64_t i = 0; i < local.count; ++i)
    sums[static_cast<size_t>(2 + cells + mine.begin + i)] = static_cast<double>(local.predictions[static_cast<size_t>(i)]);
  dist::all_reduce_sum(sums);
  Evaluation e;
  e.count = data.count;
  e.num_classes = classes;
  e.loss = data.count > 0 ? sums[0] / static_cast<double>(data.count) : 0;
  e.accuracy = data.count > 0 ? std::round(sums[1]) / static_cast<double>(data.count) : 0;
  for (int64_t i = 0; i < cells; ++i) e.confusion.push_back(std::llround(sums[static_cast<size_t>(2 + i)]));
  for (int64_t i = 0; i < data.count; ++i) e.predictions.push_back(std::llround(sums[static_cast<size_t>(2 + cells + i)]));
  return e;
}

std::vector<EpochRecord> train(AttentionCNN& model, const LabeledImages& train_set, const LabeledImages& test_set,
                               const TrainOptions& options) {
  options.validate();
  const int64_t n = options.train_limit > 0 ? std::min(options.train_limit, train_set.count) : train_set.count;
  TS_CHECK(n > 0, "train: the training set is empty");
  const int64_t steps_per_epoch = (n + options.batch_size - 1) / options.batch_size;
  Optimization opt(model, options, steps_per_epoch * options.epochs);
  std::vector<EpochRecord> history;
  int64_t first_epoch = 1;
  examples::MidEpoch resume_point;  // the steps of first_epoch a checkpoint written by Ctrl-C holds
  if (!options.checkpoint.empty()) examples::remove_stale_temporaries(options.checkpoint);
  if (options.resume) {
    TS_CHECK(!options.checkpoint.empty(), "train: --resume needs a checkpoint path");
    const nn::SafetensorsFile file = nn::load_safetensors(options.checkpoint);
    examples::check_checkpoint_writer(file.metadata, options.checkpoint, "attention_cnn");
    TS_CHECK(file.metadata.count("config") && file.metadata.count("training"),
             "train: {} is not an attention_cnn checkpoint (its metadata has no config or training record)",
             options.checkpoint);
    const ModelConfig saved = ModelConfig::from_json(file.metadata.at("config"));
    TS_CHECK(saved.to_json() == model.config.to_json(),
             "train: {} holds a model with a different config ({}); resume with the same widths and depth",
             options.checkpoint, saved.to_json());
    model.load_state_dict(with_prefix(file.tensors, "model."));
    opt.optimizer->load_state_dict(with_prefix(file.tensors, "optimizer."));
    opt.schedule->load_state_dict(with_prefix(file.tensors, "scheduler."));
    try {
      TrainingRecord record = training_record_from_json(file.metadata.at("training"));
      first_epoch = record.epoch + 1;
      history = std::move(record.history);
    } catch (const Error& e) {
      fail("train: {}: {}", options.checkpoint, e.what());
    }
    resume_point = examples::MidEpoch::from_training_record(file.metadata.at("training"));
    if (options.progress && dist::is_main())
      fmt::print(stderr, "{}\n", resume_point.resuming_message(options.checkpoint, first_epoch - 1));
  }

  // Data parallelism (nn/distributed.h, docs/distributed.md; in one process none of this does
  // anything): every rank starts from rank 0's weights, builds the same global batches (with the
  // same augmentation) and trains on its rows of each; the gradients are averaged; rank 0 alone
  // prints and writes. BatchNorm normalises each rank's rows with their own statistics.
  const bool distributed = dist::world_size() > 1, main_rank = dist::is_main();
  const bool progress = options.progress && main_rank;
  dist::broadcast_parameters(model);
  dist::DistributedDataParallel ddp(model);
  auto stop_requested = [] {  // Ctrl-C / SIGTERM on any rank: all stop after the same step, on the same signal
    const auto sum = [](std::vector<double>& values) { dist::all_reduce_sum(values); };
    return examples::stop_agreed(dist::rank(), dist::world_size(), sum);
  };

  const nn::CrossEntropyOptions loss_options{.label_smoothing = options.label_smoothing};
  for (int64_t epoch = first_epoch; epoch <= options.epochs; ++epoch) {
    // Every random choice of the epoch derives from (seed, epoch): resuming replays it exactly.
    Generator generator(epoch_seed(options.seed, epoch));
    manual_seed((epoch_seed(options.seed, epoch) ^ 0xA5A5A5A5A5A5A5A5ULL) +  // any layer's own randomness,
                0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(dist::rank()));     // a stream per rank
    const std::vector<std::vector<int64_t>> batches = epoch_batches(n, options.batch_size, generator);
    model.train();
    std::unique_ptr<examples::ProgressBar> bar;
    if (progress)
      bar = std::make_unique<examples::ProgressBar>(fmt::format("epoch {}/{}", epoch, options.epochs), n, "img");
    const auto start = std::chrono::steady_clock::now();
    double loss_sum = 0, seconds_before = 0;
    int64_t seen = 0, correct = 0, step = 0;
    if (resume_point.epoch == epoch) {  // continue where a checkpoint written mid-epoch stopped
      step = resume_point.steps, seconds_before = resume_point.seconds;
      loss_sum = resume_point.sums.at(0);
      seen = static_cast<int64_t>(resume_point.sums.at(1)), correct = static_cast<int64_t>(resume_point.sums.at(2));
      // `generator` is the same on every rank (shared: 1); the default one is this rank's own stream.
      // No layer of this CNN draws from it (it has no dropout), so a resume on another number of
      // ranks than wrote the checkpoint changes no draw and needs no note (the translator prints one).
      resume_point.restore({&generator, &default_generator()}, dist::rank(), 1);
    }
    const auto steps_per_epoch = static_cast<int64_t>(batches.size());
    TS_CHECK(step <= steps_per_epoch, "train: {} says {} steps of epoch {} are done, but the epoch has {}; it was "
             "written by a run with other data or batch size", options.checkpoint, step, epoch, steps_per_epoch);
    for (auto next = batches.begin() + step; next != batches.end(); ++next) {
      const std::vector<int64_t>& indices = *next;
      ++step;
      const Batch global = make_batch(train_set, indices, &options.augment, &generator);
      // this rank's rows of the global batch (in one process, all of it)
      const dist::Range rows = dist::shard_range(global.labels.numel());
      Batch shard;
      if (distributed) {
        shard.images = narrow(global.images, 0, rows.begin, rows.size());
        shard.labels = IndexTensor(std::vector<int64_t>(global.labels.values().begin() + rows.begin,
                                                        global.labels.values().begin() + rows.end));
      }
      const Batch& batch = distributed ? shard : global;
      Tensor loss;
      int64_t step_correct = 0;
      if (rows.size() > 0) {
        const Tensor logits = model.forward(batch.images);  // [B, classes]
        loss = nn::cross_entropy(logits, batch.labels, loss_options);
        const std::vector<int64_t> predicted = argmax_rows(logits);
        for (size_t i = 0; i < predicted.size(); ++i) step_correct += predicted[i] == batch.labels.data()[i];
      }
      double value = loss.defined() ? loss.item() : 0;
      double weight = 1;  // this rank's share of the global batch (docs/distributed.md)
      if (distributed) {  // one all-reduce: the global mean loss, the batch size, the correct answers
        std::vector<double> sums{value * static_cast<double>(rows.size()), static_cast<double>(rows.size()),
                                 static_cast<double>(step_correct)};
        dist::all_reduce_sum(sums);
        value = sums[0] / sums[1];
        weight = static_cast<double>(dist::world_size()) * static_cast<double>(rows.size()) / sums[1];
        step_correct = static_cast<int64_t>(sums[2]);
      }
      TS_CHECK(std::isfinite(value),
               "train: the loss became {} at epoch {}, step {}; lower --lr (the last checkpoint is kept)", value, epoch,
               step);
      correct += step_correct;
      opt.optimizer->zero_grad();
      if (loss.defined()) (distributed ? loss * static_cast<scalar_t>(weight) : loss).backward();
      ddp.synchronize_gradients();  // the average over the ranks (nothing to do in one process)
      opt.optimizer->step();
      opt.schedule->step();
      const int64_t b = static_cast<int64_t>(indices.size());
      loss_sum += value * static_cast<double>(b);
      seen += b;
      if (bar)
        bar->update(seen, {{"loss", loss_sum / static_cast<double>(seen)},
                           {"acc", 100.0 * static_cast<double>(correct) / static_cast<double>(seen)},
                           {"lr", opt.schedule->get_last_lr()}});
      if (stop_requested() && !options.checkpoint.empty()) {  // Ctrl-C: checkpoint this step, stop
        if (bar) bar->finish();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        examples::MidEpoch mid{epoch, step, seconds_before + seconds,
                               {loss_sum, static_cast<double>(seen), static_cast<double>(correct)}, {}, {}};
        mid.capture({&generator, &default_generator()});
        mid.gather_ranks(dist::all_gather);  // every rank's own stream, for rank 0 to write
        if (main_rank) {
          save_checkpoint(options.checkpoint, model, opt, options, epoch - 1, history, mid);
          const int64_t global_step = (epoch - 1) * steps_per_epoch + step;
          fmt::print(stderr, "{}\n", examples::stop_message(examples::stop_signal(), global_step, epoch, step,
                                                           steps_per_epoch, options.checkpoint, dist::world_size()));
        }
        // one rank exiting with 143 makes mpirun end the job, rank 0 too: none leaves before the file is whole
        dist::barrier();
        return history;
      }
    }
    if (bar) bar->finish();
    EpochRecord record;
    record.epoch = epoch;
    record.seconds = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    record.images_per_second = static_cast<double>(seen) / record.seconds;
    record.train_loss = loss_sum / static_cast<double>(seen);
    record.train_accuracy = static_cast<double>(correct) / static_cast<double>(seen);
    dist::broadcast_buffers(model);  // rank 0's running statistics, the ones the checkpoint keeps, everywhere
    if (options.evaluate_each_epoch && test_set.count > 0) record.test_accuracy = evaluate_distributed(model, test_set).accuracy;
    history.push_back(record);
    if (progress && distributed)
      fmt::print(stderr, "  {} ranks: {:.2f} MB of gradients all-reduced per step in {} bucket(s); rank 0 waited {:.2f} s "
                 "for them this epoch ({:.1f} % of the epoch)\n", dist::world_size(), ddp.stats().bytes_per_step / 1e6,
                 ddp.num_buckets(), ddp.stats().wait_seconds, 100 * ddp.stats().wait_seconds / record.seconds);
    ddp.reset_stats();
    const bool stop = stop_requested();
    if (progress) {
      fmt::print(stderr, "epoch {}: loss {:.4f}, train accuracy {:.2f}%", epoch, record.train_loss,
                 100 * record.train_accuracy);
      if (record.test_accuracy >= 0) fmt::print(stderr, ", test accuracy {:.2f}%", 100 * record.test_accuracy);
      fmt::print(stderr, ", {:.1f} s, {:.0f} images/s\n", record.seconds, record.images_per_second);
    }
    if (main_rank && !options.checkpoint.empty()) save_checkpoint(options.checkpoint, model, opt, options, epoch, history);
    if (stop && !options.checkpoint.empty()) {
      if (main_rank)
        fmt::print(stderr, "{}\n", examples::stop_message(examples::stop_signal(), epoch * steps_per_epoch, epoch,
                                                       steps_per_epoch, steps_per_epoch, options.checkpoint,
                                                       dist::world_size()));
      dist::barrier();  // as above: the checkpoint is whole before any rank exits
      return history;
    }
    if (options.stop_after > 0 && epoch >= options.stop_after) break;
  }
  return history;
}

Checkpoint load_checkpoint(const std::string& path) {
  const nn::SafetensorsFile file = nn::load_safetensors(path);
  examples::check_checkpoint_writer(file.metadata, path, "attention_cnn");
  for (const char* key : {"config", "training"})
    TS_CHECK(file.metadata.count(key), "{}: not an attention_cnn checkpoint (its metadata has no '{}')", path, key);
  Checkpoint c;
  c.config = ModelConfig::from_json(file.metadata.at("config"));
  try {
    TrainingRecord record = training_record_from_json(file.metadata.at("training"));
    c.epoch = record.epoch;
    c.options = std::move(record.options);
    c.history = std::move(record.history);
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
  c.model = std::make_shared<AttentionCNN>(c.config);
  try {
    c.model->load_state_dict(with_prefix(file.tensors, "model."));
  } catch (const Error& e) {
    fail("{}: the weights do not fit the model config: {}", path, e.what());
  }
  c.model->eval();
  return c;
}

TrainingRecord training_record_from_json(const std::string& text) {
  TrainingRecord r;
  try {
    const nlohmann::json training = nlohmann::json::parse(text);
    r.epoch = examples::json_epoch(training.at("epoch"));
    r.options = TrainOptions::from_json(training.at("options").dump());
    r.history = history_from_json(training.at("history"));
  } catch (const nlohmann::json::exception& e) {
    fail("the training record is damaged ({})", e.what());
  }
  return r;
}

}  // namespace attention_cnn
