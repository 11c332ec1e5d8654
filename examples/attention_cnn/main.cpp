// examples/attention_cnn — a residual CNN with a self-attention block, trained on Fashion-MNIST.
// docs/attention_cnn.md explains the network, the attention block's math and every flag.
//
//   attention_cnn train                        # default config, checkpoint runs/attention_cnn/model.safetensors,
//                                              # report page runs/attention_cnn/index.html
//   attention_cnn train --epochs 2 --resume    # continue an interrupted run, bit for bit
//   attention_cnn eval                         # test accuracy and the confusion matrix
//   attention_cnn attention --out attention.svg  # images beside their attention maps
//   attention_cnn explain                      # images beside their saliency maps: runs/attention_cnn/explain.svg
//
// The data is Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist).
#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "examples/attention_cnn/attention_figure.h"
#include "examples/attention_cnn/explain_figure.h"
#include "examples/attention_cnn/idx.h"
#include "examples/attention_cnn/model.h"
#include "examples/attention_cnn/run_report.h"
#include "examples/attention_cnn/train.h"
#include "nn/distributed.h"
#include "examples/common/cli_checks.h"
#include "examples/common/files.h"
#include "examples/common/interrupt.h"

using namespace tessera;
using namespace attention_cnn;

namespace {

constexpr const char* kDefaultCheckpoint = "runs/attention_cnn/model.safetensors";

std::vector<std::string> class_names() {
  return std::vector<std::string>(std::begin(kFashionMnistClasses), std::end(kFashionMnistClasses));
}

// "3,3 1,3" or "3,3;1,3" -> {(3, 3), (1, 3)}
std::vector<Position> parse_positions(const std::string& text) {
  std::vector<Position> out;
  std::string spaced = text;
  for (char& c : spaced)
    if (c == ';') c = ' ';
  std::istringstream in(spaced);
  std::string item;
  while (in >> item) {
    const size_t comma = item.find(',');
    TS_CHECK(comma != std::string::npos, "attention: query '{}' is not row,col (e.g. --queries \"1,3 3,3 5,3\")", item);
    try {
      out.emplace_back(std::stoll(item.substr(0, comma)), std::stoll(item.substr(comma + 1)));
    } catch (const std::exception&) {
      fail("attention: query '{}' is not row,col (e.g. --queries \"1,3 3,3 5,3\")", item);
    }
  }
  return out;
}

// The run directory: where the checkpoint lives (its pictures and report page go beside it).
std::string run_dir_of(const std::string& checkpoint) {
  return std::filesystem::path(checkpoint).parent_path().string();
}

// Writes an SVG (or any file) atomically, creating its directory first.
void write_output(const std::string& path, const std::string& contents) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  examples::write_file_atomically(path, contents);
}

void print_evaluation(const Evaluation& e, const std::string& what) {
  fmt::print("{}: accuracy {:.2f}% ({} of {} images), mean cross-entropy {:.4f}\n\n", what, 100 * e.accuracy,
             static_cast<int64_t>(std::llround(e.accuracy * static_cast<double>(e.count))), e.count, e.loss);
  fmt::print("confusion matrix (rows: true class, columns: predicted class)\n{}", format_confusion(e, class_names()));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tessera attention_cnn: a residual CNN with SAGAN self-attention on Fashion-MNIST"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  app.require_subcommand(1);
  app.fallthrough();  // the options below may come before or after the command
  int threads = 0;
  std::string data_dir = kFashionMnistDir;
  std::string checkpoint = kDefaultCheckpoint;
  app.add_option("--threads", threads, "worker threads (0 = all cores)")
      ->check(examples::between(0, 4096));
  app.add_option("--data-dir", data_dir,
                 "where the Fashion-MNIST IDX files are (apt-get install dataset-fashion-mnist)");
  app.add_option("--checkpoint", checkpoint, "checkpoint file (safetensors)");

  // ---- train ----
  CLI::App* train_cmd = app.add_subcommand("train", "train, saving a checkpoint after every epoch; then evaluate");
  ModelConfig config;
  TrainOptions options;
  bool classic = false, no_attention = false, no_flip = false, no_eval = false;
  train_cmd->add_option("--epochs", options.epochs, "passes over the training set")
      ->check(examples::positive());
  train_cmd->add_option("--batch-size", options.batch_size, "images per step")
      ->check(examples::positive());
  train_cmd->add_option("--lr", options.lr, "peak learning rate of the one-cycle schedule")
      ->check(examples::positive());
  train_cmd->add_option("--optimizer", options.optimizer, "adamw | sgd (Nesterov momentum 0.9)");
  train_cmd->add_option("--weight-decay", options.weight_decay, "weight decay (AdamW: decoupled)")
      ->check(examples::non_negative());
  train_cmd->add_option("--warmup", options.warmup_fraction, "fraction of the steps spent rising to the peak lr")
      ->check(examples::fraction());
  train_cmd->add_option("--label-smoothing", options.label_smoothing, "label smoothing of the loss")
      ->check(examples::fraction());
  train_cmd->add_option("--crop-padding", options.augment.crop_padding,
                        "random shifts of up to this many pixels (0 = off)")
      ->check(examples::between(0, 13));
  train_cmd->add_flag("--no-flip", no_flip, "no random left-right flips");
  train_cmd->add_option("--seed", options.seed, "seed of the initial weights and of every epoch's randomness")
      ->check(examples::non_negative());
  train_cmd->add_option("--limit", options.train_limit, "train on the first N images only (quick runs; 0 = all)")
      ->check(examples::non_negative());
  train_cmd->add_flag("--no-eval", no_eval,
                      "skip the test accuracy after each epoch (it is still measured at the end)");
  train_cmd->add_flag("--resume", options.resume, "continue from --checkpoint with its model and settings");
  train_cmd->add_option("--stop-after", options.stop_after, "stop after this epoch, as if interrupted (then --resume)")
      ->check(examples::non_negative());
  train_cmd->add_option("--widths", config.widths, "channels of the stem and of each stage, e.g. 16,32,64")
      ->delimiter(',');
  train_cmd->add_option("--blocks", config.blocks_per_stage, "residual blocks per stage")
      ->check(examples::positive());
  train_cmd->add_flag("--classic", classic, "the classic widths 64,128,256 (about 15x the compute of the default)");
  train_cmd->add_flag("--no-attention", no_attention, "leave out the self-attention block (an ablation)");

  // ---- eval ----
  CLI::App* eval_cmd = app.add_subcommand("eval", "accuracy and confusion matrix of a checkpoint");
  std::string split = "test";
  int64_t eval_limit = 0;
  eval_cmd->add_option("--split", split, "test | train");
  eval_cmd->add_option("--limit", eval_limit, "evaluate the first N images only (0 = all)")
      ->check(examples::non_negative());

  // ---- attention ----
  CLI::App* attention_cmd = app.add_subcommand("attention", "draw test images beside their attention maps (SVG)");
  std::string out = "runs/attention_cnn/attention.svg";
  std::vector<int64_t> indices;
  int64_t count = 4;
  std::string queries_text;
  attention_cmd->add_option("--out", out, "the SVG file to write");
  attention_cmd
      ->add_option("--images", indices, "test-set indices, e.g. 0,1,2 (default: one image of each of --count classes)")
      ->delimiter(',');
  attention_cmd->add_option("--count", count, "how many images when --images is not given")
      ->check(examples::between(1, 10));
  attention_cmd->add_option("--queries", queries_text,
                            "query positions row,col on the final feature map, e.g. \"1,3 3,3 5,3\"");

  // ---- explain ----
  CLI::App* explain_cmd = app.add_subcommand(
      "explain", "draw test images beside their gradient saliency, integrated gradients and attention (SVG)");
  std::string explain_out;
  int64_t explain_count = 4;
  std::vector<int64_t> explain_indices;
  int ig_steps = 32;
  explain_cmd->add_option("--out", explain_out, "the SVG file to write (default: explain.svg beside the checkpoint)");
  explain_cmd->add_option("--images", explain_count,
                          "how many test images: the first of each of that many classes, as `attention` (1 to 10)")
      ->check(examples::between(1, 10));
  explain_cmd->add_option("--indices", explain_indices, "test-set indices instead, e.g. 0,1,2")->delimiter(',');
  explain_cmd->add_option("--steps", ig_steps, "points on the integrated-gradients path (Gauss-Legendre, 2 to 1000)")
      ->check(examples::between(2, 1000));

  CLI11_PARSE(app, argc, argv);
  // Under mpirun, `train` runs data-parallel (docs/distributed.md); one process otherwise.
  try {
    tessera::dist::init(argc, argv);
  } catch (const Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  const bool distributed = tessera::dist::world_size() > 1;
  examples::install_stop_handlers(argc, argv);  // Ctrl-C: finish the step, write the checkpoint
  try {
    if (threads > 0) set_num_threads(threads);
    TS_CHECK(!distributed || *train_cmd,
             "{} runs as one process; under mpirun only `train` runs (data-parallel): start it without mpirun",
             app.get_subcommands().front()->get_name());
    if (*train_cmd) {
      if (classic) config.widths = ModelConfig::classic_widths();
      config.attention = !no_attention;
      options.augment.flip = !no_flip;
      options.evaluate_each_epoch = !no_eval;
      options.checkpoint = checkpoint;
      if (options.resume) {
        // The checkpoint's model and settings, so the run continues as it began; --epochs may extend it.
        const Checkpoint saved = load_checkpoint(checkpoint);
        const int64_t epochs = train_cmd->count("--epochs") ? options.epochs : saved.options.epochs;
        TrainOptions resumed = saved.options;
        resumed.epochs = epochs;
        resumed.evaluate_each_epoch = options.evaluate_each_epoch;
        resumed.checkpoint = checkpoint;
        resumed.resume = true;
        resumed.stop_after = options.stop_after;
        if (epochs != saved.options.epochs)
          fmt::print(stderr, "note: {} epochs instead of {}: the learning-rate schedule is stretched, so the run will "
                             "differ from an uninterrupted one\n", epochs, saved.options.epochs);
        options = resumed;
        config = saved.config;
      }
      const LabeledImages train_set = load_fashion_mnist("train", data_dir);
      const LabeledImages test_set = load_fashion_mnist("test", data_dir);
      const std::filesystem::path parent = std::filesystem::path(checkpoint).parent_path();
      if (!parent.empty()) std::filesystem::create_directories(parent);
      std::shared_ptr<AttentionCNN> model = make_model(config, options.seed);
      if (tessera::dist::is_main())
        fmt::print(stderr, "model: widths {}, {} block(s) per stage, attention {}: {} parameters; {} threads{}\n",
                   fmt::join(config.widths, ","), config.blocks_per_stage, config.attention ? "on" : "off",
                   model->num_parameters(), get_num_threads(),
                   distributed ? fmt::format(" in each of {} ranks", tessera::dist::world_size()) : "");
      const auto start = std::chrono::steady_clock::now();
      const std::vector<EpochRecord> history = train(*model, train_set, test_set, options);
      examples::exit_if_stopped();  // stopped by Ctrl-C: train() wrote the checkpoint and said how to resume
      const Evaluation test = evaluate_distributed(*model, test_set);  // every rank scores its share
      if (!tessera::dist::is_main()) {  // the other ranks are done: rank 0 prints and writes the page
        tessera::dist::finalize();
        return 0;
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      double training_seconds = 0;
      for (const EpochRecord& r : history) training_seconds += r.seconds;
      fmt::print("trained {} epochs: {:.1f} s of training ({:.1f} s in this run, evaluations included)\n",
                 history.size(), training_seconds, seconds);
      print_evaluation(test, "test set");
      fmt::print("\ncheckpoint: {}\n", checkpoint);
      RunReportOptions report;
      report.run_dir = run_dir_of(checkpoint);
      fmt::print("report: {}\n", write_run_report(*model, options, history, test, test_set, class_names(), report));
    } else if (*eval_cmd) {
      const Checkpoint c = load_checkpoint(checkpoint);
      const LabeledImages data = load_fashion_mnist(split, data_dir);
      fmt::print("{}: epoch {}, widths {}, attention {}\n", checkpoint, c.epoch, fmt::join(c.config.widths, ","),
                 c.config.attention ? "on" : "off");
      print_evaluation(evaluate(*c.model, data, 500, eval_limit), split + " set");
    } else if (*attention_cmd) {
      const Checkpoint c = load_checkpoint(checkpoint);
      const LabeledImages test_set = load_fashion_mnist("test", data_dir);
      if (indices.empty()) indices = default_attention_images(test_set, count);
      const std::vector<Position> queries =
          queries_text.empty() ? default_queries(c.config.final_size()) : parse_positions(queries_text);
      const std::string svg = attention_figure(*c.model, test_set, indices, queries, class_names());
      write_output(out, svg);
      fmt::print("{} ({} images, {} query positions, {} KB)\n", out, indices.size(), queries.size(), svg.size() / 1024);
    } else if (*explain_cmd) {
      TS_CHECK(explain_count >= 1 && explain_count <= 10, "explain: --images {} must be between 1 and 10", explain_count);
      TS_CHECK(ig_steps >= 2 && ig_steps <= 1000, "explain: --steps {} must be between 2 and 1000", ig_steps);
      const Checkpoint c = load_checkpoint(checkpoint);
      const LabeledImages test_set = load_fashion_mnist("test", data_dir);
      const std::vector<int64_t> chosen =
          explain_indices.empty() ? default_attention_images(test_set, explain_count) : explain_indices;
      const std::vector<Explanation> explanations = explain_images(*c.model, test_set, chosen, ig_steps);
      const std::string svg = explain_figure(explanations, test_set, class_names(), ig_steps);
      if (explain_out.empty()) explain_out = (std::filesystem::path(run_dir_of(checkpoint)) / "explain.svg").string();
      write_output(explain_out, svg);
      fmt::print("{}", format_completeness(explanations, class_names()));
      fmt::print("{} ({} images, {} KB)\n", explain_out, explanations.size(), svg.size() / 1024);
    }
  } catch (const std::exception& e) {
    // under mpirun the other ranks cannot know: dist::abort ends the whole job with this message
    if (distributed) tessera::dist::abort(fmt::format("error: {}", e.what()));
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  tessera::dist::finalize();
  return 0;
}
