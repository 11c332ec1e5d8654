#include "examples/translator/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "examples/common/json_fields.h"
#include "examples/common/progress.h"
#include "examples/common/state_dict.h"
#include "examples/common/svg.h"
#include "examples/common/utf8.h"
#include "examples/common/files.h"
#include "examples/common/interrupt.h"
#include "examples/common/resume.h"
#include "examples/translator/batching.h"
#include "nn/distributed.h"
#include "examples/translator/bleu.h"
#include "examples/translator/decode.h"
#include "nn/loss.h"
#include "nn/lr_scheduler.h"
#include "nn/optim.h"
#include "nn/safetensors.h"

namespace translator {

using namespace tessera;

using examples::add_prefixed;
using examples::with_prefix;

namespace {

constexpr int64_t kEos = 2;

nlohmann::json history_json(const std::vector<EpochRecord>& history) {
  nlohmann::json h = nlohmann::json::array();
  for (const EpochRecord& r : history)
    h.push_back({{"epoch", r.epoch},
                 {"train_loss", r.train_loss},
                 {"valid_bleu", r.valid_bleu},
                 {"seconds", r.seconds},
                 {"tokens_per_second", r.tokens_per_second}});
  return h;
}

std::vector<EpochRecord> history_from_json(const nlohmann::json& h) {
  std::vector<EpochRecord> out;
  for (const auto& r : h)
    out.push_back({examples::json_int64(r.at("epoch")), r.at("train_loss").get<double>(), r.at("valid_bleu").get<double>(),
                   r.at("seconds").get<double>(), r.at("tokens_per_second").get<double>()});
  return out;
}

void write_curve(const std::string& path, const std::vector<EpochRecord>& history) {
  examples::Series loss{"training loss", {}, {}}, bleu{"validation BLEU", {}, {}};
  for (const EpochRecord& r : history) {
    loss.x.push_back(static_cast<double>(r.epoch)), loss.y.push_back(r.train_loss);
    bleu.x.push_back(static_cast<double>(r.epoch)), bleu.y.push_back(r.valid_bleu);
  }
  examples::LinePlot plot;
  plot.title = "translator training";
  plot.x_label = "epoch";
  plot.y_label = "loss (label-smoothed cross-entropy)";
  plot.series = {loss, bleu};
  plot.second_axis_for_last = true;
  examples::write_file_atomically(path, examples::svg_line_plot(plot));
}

// One Noam-scheduled Adam over the model, as in the paper: betas (0.9, 0.98), eps 1e-9.
struct Optimization {
  Optimization(TranslatorModel& model, const TrainOptions& o)
      : adam(model.parameters(), nn::optim::AdamOptions{1.0, {0.9, 0.98}, 1e-9, 0, false}),
        schedule(adam, model.config.d_model, o.warmup_steps, o.lr) {}
  nn::optim::Adam adam;
  nn::optim::NoamLR schedule;
};

void save_checkpoint(const std::string& path, TranslatorModel& model, const Vocab& source_vocab,
                     const Vocab& target_vocab, const Optimization& opt, const TrainOptions& options, int64_t epoch,
                     const std::vector<EpochRecord>& history, const examples::MidEpoch& mid_epoch = {}) {
  nn::StateDict tensors;
  add_prefixed(tensors, "model.", model.state_dict());
  add_prefixed(tensors, "optimizer.", opt.adam.state_dict());
  add_prefixed(tensors, "scheduler.", opt.schedule.state_dict());
  nlohmann::json training = {{"epoch", epoch},
                             {"seed", options.seed},
                             {"batch_size", options.batch_size},
                             {"lr", options.lr},
                             {"warmup_steps", options.warmup_steps},
                             {"label_smoothing", options.label_smoothing},
                             {"clip_norm", options.clip_norm},
                             {"data", options.data},
                             {"bundled_pairs", options.bundled_pairs},
                             {"history", history_json(history)}};
  if (mid_epoch.active()) training["mid_epoch"] = nlohmann::json::parse(mid_epoch.to_json());
  nn::save_safetensors(path, tensors,
                       {{"format", "pt"},
                        {"program", "translator"},
                        {"config", model.config.to_json()},
                        {"source_vocab", source_vocab.to_json()},
                        {"target_vocab", target_vocab.to_json()},
                        {"training", training.dump()}});
}

}  // namespace

std::vector<std::vector<std::string>> tokenized(const std::vector<SentencePair>& pairs, bool source_side) {
  std::vector<std::vector<std::string>> out;
  out.reserve(pairs.size());
  for (const SentencePair& p : pairs) out.push_back(tokenize(preprocess(source_side ? p.source : p.target)));
  return out;
}

Dataset make_dataset(const std::vector<SentencePair>& pairs, const Vocab& source_vocab, const Vocab& target_vocab,
                     int64_t max_tokens, size_t* dropped) {
  Dataset d;
  size_t skipped = 0;
  for (const SentencePair& p : pairs) {
    std::vector<std::string> s = tokenize(preprocess(p.source)), t = tokenize(preprocess(p.target));
    std::vector<int64_t> s_ids = source_vocab.encode(s), t_ids = target_vocab.encode(t);  // subwords: more ids than words
    if (s.empty() || t.empty() || static_cast<int64_t>(s_ids.size()) >= max_tokens ||
        static_cast<int64_t>(t_ids.size()) >= max_tokens) {
      ++skipped;
      continue;
    }
    d.source_ids.push_back(std::move(s_ids));
    d.target_ids.push_back(std::move(t_ids));
    d.source_tokens.push_back(std::move(s));
    d.target_tokens.push_back(std::move(t));
  }
  if (dropped) *dropped = skipped;
  return d;
}

namespace {
// The line's tokens, after checking that it is UTF-8 at all and not empty.
std::vector<std::string> checked_tokens(const std::string& text) {
  // longer lines are refused rather than translated for minutes (a few hundred sentences fit)
  constexpr size_t kMaxLineBytes = 10000;
  TS_CHECK(text.size() <= kMaxLineBytes,
           "translate: the line is {} bytes long, more than the {} translated at once; break the text into lines",
           text.size(), kMaxLineBytes);
  TS_CHECK(text.find('\0') == std::string::npos, "translate: the input holds a NUL byte (at offset {}); it is not text",
           text.find('\0'));
  const size_t bad = examples::find_invalid_utf8(text);
  TS_CHECK(bad == std::string::npos,
           "translate: the input is not valid UTF-8 (byte 0x{:02x} at offset {}); save the text as UTF-8",
           static_cast<unsigned>(static_cast<unsigned char>(text[bad < text.size() ? bad : 0])), bad);
  std::vector<std::string> tokens = tokenize(preprocess(text));
  TS_CHECK(!tokens.empty(), "translate: the sentence is empty");
  return tokens;
}
}  // namespace

std::vector<int64_t> encode_sentence(const std::string& sentence, const Vocab& source_vocab,
                                     std::vector<std::string>* unknown) {
  std::vector<int64_t> ids = source_vocab.encode(checked_tokens(sentence), unknown);
  ids.push_back(kEos);
  return ids;
}

std::string translate_text(TranslatorModel& model, const Vocab& source_vocab, const Vocab& target_vocab,
                           const std::string& line, int64_t beam_size, double length_penalty,
                           std::vector<std::string>* unknown) {
  DecodeOptions options;
  options.beam_size = beam_size;
  options.length_penalty = length_penalty;
  std::vector<std::string> out;
  for (const std::vector<std::string>& sentence : split_sentences(checked_tokens(line))) {
    std::vector<int64_t> ids = source_vocab.encode(sentence, unknown);
    ids.push_back(kEos);
    TS_CHECK(static_cast<int64_t>(ids.size()) <= model.config.max_length,
             "translate: the sentence has {} tokens, the model takes at most {}", ids.size(),
             model.config.max_length);
    for (std::string& word : target_vocab.decode(translate_ids(model, {ids}, options)[0])) out.push_back(std::move(word));
  }
  return detokenize(out);
}

double evaluate_bleu(TranslatorModel& model, const Vocab& target_vocab, const Dataset& data, int64_t beam_size,
                     size_t max_sentences, std::vector<std::vector<std::string>>* hypotheses, int64_t batch_size) {
  const size_t n = max_sentences > 0 ? std::min(max_sentences, data.size()) : data.size();
  std::vector<std::vector<std::string>> hyps, refs(data.target_tokens.begin(), data.target_tokens.begin() + n);
  DecodeOptions options;
  options.beam_size = beam_size;
  for (size_t start = 0; start < n; start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(n, start + static_cast<size_t>(batch_size));
    std::vector<std::vector<int64_t>> sources(data.source_ids.begin() + start, data.source_ids.begin() + end);
    for (auto& ids : sources) ids.push_back(kEos);
    for (const auto& ids : translate_ids(model, sources, options)) hyps.push_back(target_vocab.decode(ids));
  }
  const double score = corpus_bleu(hyps, refs).score;
  if (hypotheses) *hypotheses = std::move(hyps);
  return score;
}

// Each rank translates its contiguous part, the translations are gathered in order, and every rank
// scores all of them, so the score (and the hypotheses) are one process's.
double evaluate_bleu_distributed(TranslatorModel& model, const Vocab& target_vocab, const Dataset& data,
                                 int64_t beam_size, size_t max_sentences,
                                 std::vector<std::vector<std::string>>* hypotheses, int64_t batch_size) {
  if (dist::world_size() == 1)
    return evaluate_bleu(model, target_vocab, data, beam_size, max_sentences, hypotheses, batch_size);
  const size_t n = max_sentences > 0 ? std::min(max_sentences, data.size()) : data.size();
  const dist::Range mine = dist::shard_range(static_cast<int64_t>(n));
  Dataset part;
  const auto b = static_cast<size_t>(mine.begin), e = static_cast<size_t>(mine.end);
  part.source_ids.assign(data.source_ids.begin() + b, data.source_ids.begin() + e);
  part.target_tokens.assign(data.target_tokens.begin() + b, data.target_tokens.begin() + e);
  std::vector<std::vector<std::string>> mine_hyps;
  if (part.size() > 0) evaluate_bleu(model, target_vocab, part, beam_size, 0, &mine_hyps, batch_size);
  // sentences separated by \x1e, tokens by \x1f (neither occurs in a token)
  std::string packed;
  for (const auto& sentence : mine_hyps) {
    for (size_t t = 0; t < sentence.size(); ++t) packed += (t ? "\x1f" : "") + sentence[t];
    packed += '\x1e';
  }
  std::vector<std::vector<std::string>> hyps;
  for (const std::string& from_rank : dist::all_gather(packed)) {
    size_t start = 0;
    for (size_t end; (end = from_rank.find('\x1e', start)) != std::string::npos; start = end + 1) {
      std::vector<std::string> sentence;
      const std::string text = from_rank.substr(start, end - start);
      for (size_t a = 0, z; a <= text.size() && !text.empty(); a = z + 1) {
        z = std::min(text.find('\x1f', a), text.size());
        sentence.push_back(text.substr(a, z - a));
      }
      hyps.push_back(std::move(sentence));
    }
  }
  const std::vector<std::vector<std::string>> refs(data.target_tokens.begin(), data.target_tokens.begin() + n);
  const double score = corpus_bleu(hyps, refs).score;
  if (hypotheses) *hypotheses = std::move(hyps);
  return score;
}

std::vector<EpochRecord> train(TranslatorModel& model, const Vocab& source_vocab, const Vocab& target_vocab,
                               const Dataset& train_set, const Dataset& valid_set, const TrainOptions& options) {
  TS_CHECK(train_set.size() > 0, "train: the training set is empty");
  TS_CHECK(options.epochs > 0 && options.batch_size > 0, "train: epochs {} and batch size {} must be positive",
           options.epochs, options.batch_size);
  Optimization opt(model, options);
  std::vector<EpochRecord> history;
  int64_t first_epoch = 1;
  examples::MidEpoch resume_point;  // the steps of first_epoch a checkpoint written by Ctrl-C holds
  if (!options.checkpoint.empty()) examples::remove_stale_temporaries(options.checkpoint);
  if (options.resume) {
    TS_CHECK(!options.checkpoint.empty(), "train: --resume needs a checkpoint path");
    const nn::SafetensorsFile file = nn::load_safetensors(options.checkpoint);
    examples::check_checkpoint_writer(file.metadata, options.checkpoint, "translator");
    const ModelConfig saved = ModelConfig::from_json(file.metadata.count("config") ? file.metadata.at("config") : "");
    TS_CHECK(saved.to_json() == model.config.to_json(),
             "train: {} was trained with a different model config ({}); resume with the same options",
             options.checkpoint, saved.to_json());
    model.load_state_dict(with_prefix(file.tensors, "model."));
    opt.adam.load_state_dict(with_prefix(file.tensors, "optimizer."));
    opt.schedule.load_state_dict(with_prefix(file.tensors, "scheduler."));
    TS_CHECK(file.metadata.count("training"), "train: {} is not a translator checkpoint (its metadata has no "
             "training record)", options.checkpoint);
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
    const std::string note = resume_point.ranks_note(options.checkpoint, dist::world_size());
    if (dist::is_main() && model.config.dropout > 0 && !note.empty()) fmt::print(stderr, "{}\n", note);
  }

  // Data parallelism (nn/distributed.h, docs/distributed.md; in one process none of this does
  // anything): every rank starts from rank 0's weights and walks the same global batches, trains
  // on its rows of each, and the gradients are averaged; rank 0 alone prints and writes.
  const bool distributed = dist::world_size() > 1, main_rank = dist::is_main();
  const bool progress = options.progress && main_rank;
  dist::broadcast_parameters(model);
  dist::DistributedDataParallel ddp(model);
  auto stop_requested = [] {  // Ctrl-C / SIGTERM on any rank: all stop after the same step, on the same signal
    const auto sum = [](std::vector<double>& values) { dist::all_reduce_sum(values); };
    return examples::stop_agreed(dist::rank(), dist::world_size(), sum);
  };

  const nn::CrossEntropyOptions loss_options{.ignore_index = 0, .label_smoothing = options.label_smoothing};
  for (int64_t epoch = first_epoch; epoch <= options.epochs; ++epoch) {
    // Every random choice of the epoch (batch order, dropout) derives from (seed, epoch); each rank
    // draws its own dropout masks (rank 0's stream is the one-process run's).
    manual_seed(options.seed * 1000003ULL + static_cast<uint64_t>(epoch) +
                0x9E3779B97F4A7C15ull * static_cast<uint64_t>(dist::rank()));
    const std::vector<Batch> batches =
        make_batches(train_set.source_ids, train_set.target_ids, options.batch_size, true, options.seed, epoch);
    model.train();
    std::optional<examples::ProgressBar> bar;
    if (progress)
      bar.emplace(fmt::format("epoch {}/{}", epoch, options.epochs), static_cast<int64_t>(batches.size()), "batches");
    const auto start = std::chrono::steady_clock::now();
    double loss_sum = 0, seconds_before = 0;
    int64_t tokens = 0, step = 0;
    if (resume_point.epoch == epoch) {  // continue where a checkpoint written mid-epoch stopped
      step = resume_point.steps, seconds_before = resume_point.seconds;
      loss_sum = resume_point.sums.at(0), tokens = static_cast<int64_t>(resume_point.sums.at(1));
      resume_point.restore({&default_generator()}, dist::rank());  // this rank's dropout stream
    }
    const auto steps_per_epoch = static_cast<int64_t>(batches.size());
    TS_CHECK(step <= steps_per_epoch, "train: {} says {} steps of epoch {} are done, but the epoch has {}; it was "
             "written by a run with other data or batch size", options.checkpoint, step, epoch, steps_per_epoch);
    for (auto next = batches.begin() + step; next != batches.end(); ++next) {
      const Batch& global = *next;
      ++step;
      // this rank's rows of the global batch (in one process, all of it)
      const dist::Range rows = dist::shard_range(global.size());
      const Batch shard = distributed ? slice_rows(global, rows.begin, rows.end) : Batch();
      const Batch& batch = distributed ? shard : global;
      Tensor loss;
      if (batch.size() > 0) {
        const Tensor source_mask = non_padding_mask(batch.source);
        const Tensor logits = model.forward(batch.source, source_mask, batch.target_input, Tensor());  // [B, T, V]
        const int64_t v = logits.shape()[2];
        loss = nn::cross_entropy(reshape(logits, Shape{-1, v}),
                                 batch.target_output.reshape(Shape{batch.target_output.numel()}), loss_options);
      }
      double value = loss.defined() ? loss.item() : 0;
      double weight = 1;  // this rank's share of the global batch's tokens (docs/distributed.md)
      if (distributed) {  // one all-reduce: the global mean loss and the token count
        std::vector<double> sums{value * static_cast<double>(batch.num_target_tokens),
                                 static_cast<double>(batch.num_target_tokens)};
        dist::all_reduce_sum(sums);
        value = sums[0] / sums[1];
        weight = static_cast<double>(dist::world_size()) * static_cast<double>(batch.num_target_tokens) / sums[1];
      }
      TS_CHECK(std::isfinite(value),
               "train: the loss became {} at epoch {}, step {}; lower --lr or raise --warmup (the last checkpoint "
               "is kept)", value, epoch, step);
      opt.adam.zero_grad();
      if (loss.defined()) (distributed ? loss * static_cast<scalar_t>(weight) : loss).backward();
      ddp.synchronize_gradients();  // the average over the ranks (nothing to do in one process)
      if (options.clip_norm > 0) nn::utils::clip_grad_norm_(model.parameters(), options.clip_norm);
      opt.adam.step();
      opt.schedule.step();
      loss_sum += value * static_cast<double>(global.num_target_tokens);
      tokens += global.num_target_tokens;
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (bar)
        bar->update(step, {{"loss", loss_sum / static_cast<double>(tokens)},
                           {"tok/s", static_cast<double>(tokens) / std::max(seconds, 1e-9)},
                           {"lr", opt.schedule.get_last_lr()}});
      if (stop_requested() && !options.checkpoint.empty()) {  // Ctrl-C: checkpoint this step, stop
        if (bar) bar->finish();
        examples::MidEpoch mid{epoch, step, seconds_before + seconds, {loss_sum, static_cast<double>(tokens)}, {}, {}};
        mid.capture({&default_generator()});
        mid.gather_ranks(dist::all_gather);  // every rank's dropout stream, for rank 0 to write
        if (main_rank) {
          save_checkpoint(options.checkpoint, model, source_vocab, target_vocab, opt, options, epoch - 1, history, mid);
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
    const double seconds =
        seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double bleu =
        valid_set.size() > 0 ? evaluate_bleu_distributed(model, target_vocab, valid_set, 1,
                                                            static_cast<size_t>(options.eval_sentences))
                             : 0;
    history.push_back({epoch, loss_sum / static_cast<double>(tokens), bleu, seconds,
                       static_cast<double>(tokens) / seconds});
    if (progress)
      fmt::print(stderr, "epoch {}: loss {:.4f}, validation BLEU {:.2f}, {:.1f} s, {:.0f} target tokens/s\n", epoch,
                 history.back().train_loss, bleu, seconds, history.back().tokens_per_second);
    if (progress && distributed)
      fmt::print(stderr, "  {} ranks: {:.2f} MB of gradients all-reduced per step in {} bucket(s); rank 0 waited {:.2f} s "
                 "for them this epoch ({:.1f} % of the epoch)\n", dist::world_size(), ddp.stats().bytes_per_step / 1e6,
                 ddp.num_buckets(), ddp.stats().wait_seconds, 100 * ddp.stats().wait_seconds / seconds);
    ddp.reset_stats();
    const bool stop = stop_requested();
    if (main_rank && !options.checkpoint.empty())
      save_checkpoint(options.checkpoint, model, source_vocab, target_vocab, opt, options, epoch, history);
    if (main_rank && !options.curve_svg.empty()) write_curve(options.curve_svg, history);
    if (stop && !options.checkpoint.empty()) {
      if (main_rank)
        fmt::print(stderr, "{}\n", examples::stop_message(examples::stop_signal(), epoch * steps_per_epoch, epoch,
                                                       steps_per_epoch, steps_per_epoch, options.checkpoint,
                                                       dist::world_size()));
      dist::barrier();  // as above: the checkpoint is whole before any rank exits
      return history;
    }
  }
  return history;
}

Checkpoint load_checkpoint(const std::string& path) {
  const nn::SafetensorsFile file = nn::load_safetensors(path);
  examples::check_checkpoint_writer(file.metadata, path, "translator");
  for (const char* key : {"config", "source_vocab", "target_vocab", "training"})
    TS_CHECK(file.metadata.count(key), "{}: not a translator checkpoint (its metadata has no '{}')", path, key);
  Checkpoint c;
  c.config = ModelConfig::from_json(file.metadata.at("config"));
  c.source_vocab = Vocab::from_json(file.metadata.at("source_vocab"));
  c.target_vocab = Vocab::from_json(file.metadata.at("target_vocab"));
  TS_CHECK(c.source_vocab.size() == c.config.source_vocab_size && c.target_vocab.size() == c.config.target_vocab_size,
           "{}: the vocabularies ({} and {} tokens) do not match the model config ({} and {})", path,
           c.source_vocab.size(), c.target_vocab.size(), c.config.source_vocab_size, c.config.target_vocab_size);
  c.model = std::make_shared<TranslatorModel>(c.config);
  try {
    c.model->load_state_dict(with_prefix(file.tensors, "model."));
  } catch (const Error& e) {
    fail("{}: the weights do not fit the model config: {}", path, e.what());
  }
  try {
    TrainingRecord record = training_record_from_json(file.metadata.at("training"));
    c.epoch = record.epoch;
    c.history = std::move(record.history);
    c.data = std::move(record.data);
    c.seed = record.seed;
    c.bundled_pairs = record.bundled_pairs;
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
  return c;
}

TrainingRecord training_record_from_json(const std::string& text) {
  TrainingRecord r;
  try {
    const nlohmann::json training = nlohmann::json::parse(text);
    r.epoch = examples::json_epoch(training.at("epoch"));
    r.history = history_from_json(training.at("history"));
    r.data = training.value("data", std::string("bundled"));
    if (training.contains("seed")) r.seed = examples::json_uint64(training.at("seed"));
    if (training.contains("bundled_pairs")) r.bundled_pairs = examples::json_int64(training.at("bundled_pairs"));
  } catch (const nlohmann::json::exception& e) {
    fail("the training record is damaged ({})", e.what());
  }
  return r;
}

}  // namespace translator
