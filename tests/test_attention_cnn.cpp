// Tests for examples/attention_cnn: batches and augmentation, the model, training (a tiny overfit,
// resume bit for bit), the confusion matrix, the SVG image grid, the attention and explain figures
// and the report page. The data is synthetic and small, so the whole file runs in seconds.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "examples/attention_cnn/attention_figure.h"
#include "examples/attention_cnn/data.h"
#include "examples/attention_cnn/explain_figure.h"
#include "examples/attention_cnn/image_grid.h"
#include "examples/attention_cnn/model.h"
#include "examples/attention_cnn/run_report.h"
#include "examples/attention_cnn/train.h"
#include "examples/common/files.h"
#include "nn/safetensors.h"
#include "tests/examples_helpers.h"
#include "tests/helpers.h"

using namespace attention_cnn;
using namespace tessera;
using tessera::testing::same_state;
using tessera::testing::TempDir;
using tessera::testing::throws_with;
namespace fs = std::filesystem;

namespace {


// `count` size x size images of `classes` classes: class k is a bright 3 x 3 square at a
// class-specific place on a noisy background.
LabeledImages synthetic_images(int64_t count, int64_t size, int classes, uint64_t seed) {
  Generator gen(seed);
  LabeledImages d;
  d.count = count, d.rows = size, d.cols = size;
  for (int64_t i = 0; i < count; ++i) {
    const int label = static_cast<int>(i % classes);
    d.labels.push_back(static_cast<uint8_t>(label));
    const int64_t top = (label * 5) % (size - 3), left = (label * 3 + 1) % (size - 3);
    for (int64_t r = 0; r < size; ++r)
      for (int64_t c = 0; c < size; ++c) {
        const bool square = r >= top && r < top + 3 && c >= left && c < left + 3;
        d.pixels.push_back(static_cast<uint8_t>(square ? 200 + gen.randint(56) : gen.randint(60)));
      }
  }
  return d;
}

// How often `needle` occurs in `text`.
size_t occurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

// Options for a few quick epochs on synthetic images: batches of 8, a high peak lr, no
// augmentation, no progress bar, no evaluation after each epoch.
TrainOptions quick_options(int64_t epochs) {
  TrainOptions o;
  o.epochs = epochs;
  o.batch_size = 8;
  o.lr = 1e-2;
  o.augment = {false, 0};
  o.progress = false;
  o.evaluate_each_epoch = false;
  return o;
}

ModelConfig tiny_config() {
  ModelConfig c;
  c.image_size = 12;
  c.widths = {8, 16};
  c.num_classes = 4;
  return c;
}


}  // namespace

// ---------------- data ----------------

TEST_CASE("attention_cnn data: normalisation, flips and shifts move pixels where they should") {
  const uint8_t pixels[6] = {0, 255, 0, 0, 0, 51};  // 2 x 3
  scalar_t out[6];
  const double black = -kFashionMnistMean / kFashionMnistStd, white = (1 - kFashionMnistMean) / kFashionMnistStd;
  prepare_image(pixels, 2, 3, false, 0, 0, out);
  CHECK(out[0] == doctest::Approx(black));
  CHECK(out[1] == doctest::Approx(white));
  CHECK(out[5] == doctest::Approx((0.2 - kFashionMnistMean) / kFashionMnistStd));
  prepare_image(pixels, 2, 3, true, 0, 0, out);  // mirrored: the 51 moves to (1, 0)
  CHECK(out[3] == doctest::Approx((0.2 - kFashionMnistMean) / kFashionMnistStd));
  CHECK(out[5] == doctest::Approx(black));
  prepare_image(pixels, 2, 3, false, 1, 1, out);  // out(r, c) = in(r + 1, c + 1): in(1, 2) lands at (0, 1)
  CHECK(out[1] == doctest::Approx((0.2 - kFashionMnistMean) / kFashionMnistStd));
  CHECK(out[3] == doctest::Approx(black));  // row 1 reads row 2: outside, background
}

TEST_CASE("attention_cnn data: an epoch is a function of (seed, epoch)") {
  const LabeledImages data = synthetic_images(20, 12, 4, 1);
  const Augmentation augment;
  auto epoch = [&](uint64_t seed, int64_t e) {
    Generator gen(epoch_seed(seed, e));
    std::vector<scalar_t> all;
    for (const auto& indices : epoch_batches(data.count, 6, gen)) {
      const Batch b = make_batch(data, indices, &augment, &gen);
      const std::vector<scalar_t> v = b.images.to_vector();
      all.insert(all.end(), v.begin(), v.end());
      for (const int64_t label : b.labels.values()) all.push_back(static_cast<scalar_t>(label));
    }
    return all;
  };
  CHECK(epoch(1, 3) == epoch(1, 3));
  CHECK(epoch(1, 3) != epoch(1, 4));
  CHECK(epoch(1, 3) != epoch(2, 3));
  Generator gen(5);
  const auto batches = epoch_batches(20, 6, gen);
  REQUIRE(batches.size() == 4);
  CHECK(batches.back().size() == 2);
  std::vector<int64_t> seen;
  for (const auto& b : batches) seen.insert(seen.end(), b.begin(), b.end());
  std::sort(seen.begin(), seen.end());
  for (int64_t i = 0; i < 20; ++i) CHECK(seen[i] == i);
  const Batch plain = make_batch(data, {3, 0});
  CHECK(plain.images.shape() == Shape{2, 1, 12, 12});
  CHECK(plain.labels.values() == std::vector<int64_t>{3, 0});
  CHECK(throws_with([&] { make_batch(data, {20}); }, "image 20 of a set of 20"));
}

// ---------------- model ----------------

TEST_CASE("attention_cnn model: shapes, parameter names, config round trip") {
  ModelConfig config;  // the default: 28 x 28, widths 16, 32, 64
  CHECK(config.final_size() == 7);
  CHECK(ModelConfig::from_json(config.to_json()).to_json() == config.to_json());
  auto model = make_model(config, 1);
  const Tensor logits = model->forward(randn({3, 1, 28, 28}));
  CHECK(logits.shape() == Shape{3, 10});
  const nn::StateDict state = model->state_dict();
  for (const char* name : {"stem_conv.weight", "stem_norm.weight", "stem_norm.running_mean", "blocks.0.conv1.weight",
                           "blocks.1.conv2.weight", "attention.gamma", "classifier.weight", "classifier.bias"})
    CHECK_MESSAGE(state.contains(name), name);
  CHECK(!state.contains("stem_conv.bias"));

  model->keep_attention(true);
  model->forward(randn({2, 1, 28, 28}));
  const Tensor weights = model->attention_weights();
  REQUIRE(weights.shape() == Shape{2, 49, 49});
  const std::vector<scalar_t> w = weights.to_vector();
  double row_sum = 0;
  for (int j = 0; j < 49; ++j) row_sum += w[j];
  CHECK(row_sum == doctest::Approx(1).epsilon(1e-4));

  ModelConfig deeper = config;
  deeper.blocks_per_stage = 2;
  deeper.attention = false;
  auto plain = make_model(deeper, 1);
  CHECK(plain->blocks->size() == 4);
  CHECK(!plain->attention);
  CHECK(throws_with([&] { plain->keep_attention(true); }, "no attention block"));
  CHECK(plain->forward(randn({1, 1, 28, 28})).shape() == Shape{1, 10});

  ModelConfig bad = config;
  bad.widths = {16};
  CHECK(throws_with([&] { AttentionCNN m(bad); }, "at least one stage"));
  bad.widths = {16, 4};
  CHECK(throws_with([&] { AttentionCNN m(bad); }, "at least 8"));
  CHECK(throws_with([] { ModelConfig::from_json("{\"widths\": 3}"); }, "not a valid attention_cnn config"));
  CHECK(ModelConfig::classic_widths() == std::vector<int64_t>{64, 128, 256});
}

// ---------------- training ----------------

TEST_CASE("attention_cnn train: the one-cycle schedule rises then falls") {
  CHECK(one_cycle_factor(0, 100, 0.2) == doctest::Approx(1.0 / 25));
  CHECK(one_cycle_factor(10, 100, 0.2) == doctest::Approx((1.0 / 25 + 1) / 2));
  CHECK(one_cycle_factor(20, 100, 0.2) == doctest::Approx(1));
  CHECK(one_cycle_factor(99, 100, 0.2) == doctest::Approx(1.0 / 25 / 1e4));
  CHECK(one_cycle_factor(60, 100, 0.2) < one_cycle_factor(40, 100, 0.2));
}

TEST_CASE("attention_cnn train: a handful of images is learnt to 100%") {
  const LabeledImages data = synthetic_images(16, 12, 4, 2);
  auto model = make_model(tiny_config(), 3);
  TrainOptions o = quick_options(30);
  o.label_smoothing = 0;
  const std::vector<EpochRecord> history = train(*model, data, LabeledImages{}, o);
  REQUIRE(history.size() == 30);
  CHECK(history.back().train_loss < history.front().train_loss);
  const Evaluation e = evaluate(*model, data);
  CHECK(e.accuracy == 1.0);
  CHECK(e.count == 16);
  int64_t diagonal = 0;
  for (int k = 0; k < 4; ++k) diagonal += e.confusion[k * 4 + k];
  CHECK(diagonal == 16);
}

TEST_CASE("attention_cnn train: resuming from a checkpoint continues bit for bit") {
  const LabeledImages data = synthetic_images(24, 12, 4, 4);
  TempDir dir;
  TrainOptions o;
  o.epochs = 3;
  o.batch_size = 10;
  o.progress = false;
  o.evaluate_each_epoch = false;
  o.seed = 7;
  o.checkpoint = dir.file("straight.safetensors");
  auto straight = make_model(tiny_config(), o.seed);
  const std::vector<EpochRecord> full = train(*straight, data, data, o);

  // The same run, stopped after epoch 1 (as if interrupted), then resumed twice, one epoch a time.
  o.checkpoint = dir.file("resumed.safetensors");
  o.stop_after = 1;
  auto first = make_model(tiny_config(), o.seed);
  CHECK(train(*first, data, data, o).size() == 1);
  o.resume = true;
  o.stop_after = 2;
  auto second = make_model(tiny_config(), 99);  // other initial weights: the checkpoint replaces them
  CHECK(train(*second, data, data, o).size() == 2);
  o.stop_after = 0;
  auto third = make_model(tiny_config(), 98);
  const std::vector<EpochRecord> resumed = train(*third, data, data, o);
  REQUIRE(resumed.size() == 3);
  CHECK(same_state(third->state_dict(), straight->state_dict()));
  for (size_t e = 0; e < 3; ++e) {
    CHECK(resumed[e].train_loss == full[e].train_loss);
    CHECK(resumed[e].test_accuracy == full[e].test_accuracy);
  }
  const nn::SafetensorsFile a = nn::load_safetensors(dir.file("straight.safetensors"));
  const nn::SafetensorsFile b = nn::load_safetensors(dir.file("resumed.safetensors"));
  CHECK(same_state(a.tensors, b.tensors));  // optimizer and schedule state too
  CHECK(a.tensors.contains("optimizer.state.0.exp_avg"));
  CHECK(a.tensors.contains("scheduler.last_epoch"));
  CHECK(a.metadata.at("config") == tiny_config().to_json());

  const Checkpoint straight_checkpoint = load_checkpoint(dir.file("straight.safetensors"));
  CHECK(straight_checkpoint.epoch == 3);
  CHECK(straight_checkpoint.history.size() == 3);
  CHECK(same_state(straight_checkpoint.model->state_dict(), straight->state_dict()));
  CHECK(full.size() == 3);

  // A checkpoint of another model, and files that are not checkpoints, are refused by name.
  ModelConfig other = tiny_config();
  other.widths = {8, 8};
  auto wrong = make_model(other, 1);
  CHECK(throws_with([&] { train(*wrong, data, data, o); }, "different config"));
  nn::save(*wrong, dir.file("plain.safetensors"));
  CHECK(throws_with([&] { load_checkpoint(dir.file("plain.safetensors")); }, "not an attention_cnn checkpoint"));
}

TEST_CASE("attention_cnn train: options validate and round-trip through JSON") {
  TrainOptions o;
  o.optimizer = "sgd";
  o.augment.crop_padding = 3;
  o.seed = 12345678901ULL;
  CHECK(TrainOptions::from_json(o.to_json()).to_json() == o.to_json());
  o.optimizer = "rmsprop";
  CHECK(throws_with([&] { o.validate(); }, "neither 'adamw' nor 'sgd'"));
  o.optimizer = "adamw";
  o.label_smoothing = 1;
  CHECK(throws_with([&] { o.validate(); }, "label smoothing 1"));
}

TEST_CASE("attention_cnn eval: the confusion matrix table names the classes") {
  Evaluation e;
  e.num_classes = 2;
  e.confusion = {3, 1, 0, 4};
  const std::string table = format_confusion(e, {"cat", "dog"});
  CHECK(table.find("0 cat") != std::string::npos);
  CHECK(table.find("1 dog") != std::string::npos);
  CHECK(table.find("75.0%") != std::string::npos);
  CHECK(table.find("100.0%") != std::string::npos);
  CHECK(throws_with([&] { format_confusion(e, {"cat"}); }, "1 class names for 2 classes"));
}

// ---------------- pictures ----------------

TEST_CASE("attention_cnn image grid: PNG bytes, SVG structure and errors") {
  const std::string png = grey_png({0, 0.5, 1, 2, -1, 0.25}, 2, 3);
  CHECK(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  CHECK(png.substr(12, 4) == "IHDR");
  CHECK(png.substr(16, 8) == std::string("\0\0\0\x03\0\0\0\x02", 8));  // width 3, height 2
  CHECK(png.substr(png.size() - 8, 4) == "IEND");
  CHECK(throws_with([] { grey_png({1, 2}, 2, 3); }, "2 values for a 2 x 3 image"));

  ImagePanel p;
  p.caption = "a <b>";
  p.rows = 2, p.cols = 2;
  p.pixels = {0, 1, 1, 0};
  p.overlay_rows = p.overlay_cols = 1;
  p.overlay = {0.5};
  p.markers = {{0, 0, "red"}};
  const std::string svg = svg_image_grid({p, p, p}, 2, "title & more");
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("a &lt;b&gt;") != std::string::npos);
  CHECK(svg.find("title &amp; more") != std::string::npos);
  size_t images = 0;
  for (size_t at = svg.find("data:image/png;base64,"); at != std::string::npos; at = svg.find("data:image/png", at + 1))
    ++images;
  CHECK(images == 3);
  const std::string two_lines = svg_image_grid({p}, 1, "first line\nsecond line");
  CHECK(two_lines.find(">first line</text>") != std::string::npos);
  CHECK(two_lines.find(">second line</text>") != std::string::npos);
  ImagePanel bad = p;
  bad.markers = {{1, 0, "red"}};
  CHECK(throws_with([&] { svg_image_grid({bad}, 1, ""); }, "outside its 1 x 1 grid"));
  bad = p;
  bad.pixels.pop_back();
  CHECK(throws_with([&] { svg_image_grid({bad}, 1, ""); }, "3 pixels for a 2 x 2 image"));
}

TEST_CASE("attention_cnn attention figure: one image and one map per query, per image") {
  const LabeledImages data = synthetic_images(8, 12, 4, 5);
  auto model = make_model(tiny_config(), 1);
  const int64_t size = tiny_config().final_size();
  CHECK(size == 6);
  const std::vector<Position> queries = default_queries(size);
  CHECK(queries.size() == 3);
  const std::vector<int64_t> indices = default_attention_images(data, 2);
  REQUIRE(indices.size() == 2);
  const std::vector<std::string> names = {"a", "b", "c", "d"};
  const std::string svg = attention_figure(*model, data, indices, queries, names);
  size_t images = 0;
  for (size_t at = svg.find("<image"); at != std::string::npos; at = svg.find("<image", at + 1)) ++images;
  CHECK(images == 2 * (1 + 3 + 1));
  CHECK(throws_with([&] { attention_figure(*model, data, indices, {{6, 0}}, names); }, "outside the 6 x 6"));
  CHECK(throws_with([&] { attention_figure(*model, data, {8}, queries, names); }, "image 8 of a set of 8"));
}

TEST_CASE("attention_cnn image grid: multi-line captions and pixel-level overlays as one bitmap") {
  ImagePanel p;
  p.caption = "first\nsecond";
  p.rows = p.cols = 3;
  p.pixels.assign(9, 0.5);
  p.overlay_rows = p.overlay_cols = 3;
  p.overlay = {0, 0.5, 1, 0, 0.5, 1, 0, 0.5, 1};
  const std::string squares = svg_image_grid({p}, 1, "t");
  CHECK(squares.find(">first</text>") != std::string::npos);
  CHECK(squares.find(">second</text>") != std::string::npos);
  CHECK(occurrences(squares, "<image") == 1);
  CHECK(occurrences(squares, "fill=\"#") == 9);  // one square per cell
  p.overlay_bitmap = true;
  const std::string bitmap = svg_image_grid({p}, 1, "t");
  CHECK(occurrences(bitmap, "<image") == 2);  // the image and its heatmap
  CHECK(occurrences(bitmap, "fill=\"#") == 0);
  const std::string png = viridis_png(p.overlay, 3, 3);
  CHECK(png.substr(16, 10) == std::string("\0\0\0\x03\0\0\0\x03\x08\x02", 10));  // 3 x 3, 8-bit RGB
  CHECK(scaled_to_max({1, 2, 4}) == std::vector<double>{0.25, 0.5, 1});
  CHECK(scaled_to_max({-1, 0}) == std::vector<double>{-1, 0});  // nothing positive: unchanged
}

TEST_CASE("attention_cnn explain: one row per image, finite maps, a well-formed SVG") {
  const LabeledImages data = synthetic_images(8, 12, 4, 5);
  auto model = make_model(tiny_config(), 1);  // untrained
  const std::vector<int64_t> indices = default_attention_images(data, 3);
  REQUIRE(indices.size() == 3);
  const std::vector<Explanation> explanations = explain_images(*model, data, indices, 8);
  REQUIRE(explanations.size() == 3);
  for (size_t k = 0; k < explanations.size(); ++k) {
    const Explanation& e = explanations[k];
    CHECK(e.index == indices[k]);
    CHECK(e.truth == data.labels[static_cast<size_t>(e.index)]);
    CHECK(e.probability > 0);
    CHECK(e.probability <= 1);
    REQUIRE(e.saliency.size() == 144);
    double largest = 0;
    for (const double v : e.saliency) {
      CHECK(std::isfinite(v));
      largest = std::max(largest, v);
    }
    CHECK(largest > 0);  // the logit depends on the pixels
    REQUIRE(e.integrated.attributions.numel() == 144);
    for (int64_t i = 0; i < 144; ++i) CHECK(std::isfinite(e.integrated.attributions.data()[i]));
    CHECK(e.attention_size == 6);
    REQUIRE(e.received_attention.size() == 36);
    double total = 0;
    for (const double v : e.received_attention) total += v;
    CHECK(total == doctest::Approx(1).epsilon(1e-5));  // every query's weights sum to 1
  }

  const std::vector<std::string> names = {"a", "b", "c", "d"};
  const std::string svg = explain_figure(explanations, data, names, 8);
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(occurrences(svg, "<svg") == 1);
  CHECK(svg.size() >= 7);
  CHECK(svg.substr(svg.size() - 7) == "</svg>\n");
  CHECK(occurrences(svg, "predicted: ") == 3);  // one row per image
  // Per row: the image; saliency and integrated gradients, each an image under a bitmap heatmap;
  // the image under the 6 x 6 attention map's squares.
  CHECK(occurrences(svg, "<image") == 3 * (1 + 2 + 2 + 1));

  CHECK(throws_with([&] { explain_images(*model, data, {8}, 8); }, "image 8 is not in the set of 8 images (0 to 7)"));
  CHECK(throws_with([&] { explain_images(*model, data, {0}, 1); }, "at least 2 points"));

  ModelConfig plain = tiny_config();
  plain.attention = false;
  auto no_attention = make_model(plain, 1);
  const std::vector<Explanation> without = explain_images(*no_attention, data, {indices[0]}, 4);
  CHECK(without[0].attention_size == 0);
  CHECK(occurrences(explain_figure(without, data, names, 4), "<image") == 1 + 2 + 2);  // no attention column
}

TEST_CASE("attention_cnn explain: integrated gradients add up to the logit's change from black") {
  // A tiny model trained to 100% on its images, so that the logits move clearly between black and
  // each image (an untrained model's change is near 0 and a relative error means little).
  const LabeledImages data = synthetic_images(16, 12, 4, 2);
  auto model = make_model(tiny_config(), 3);
  TrainOptions o = quick_options(30);
  o.label_smoothing = 0;
  train(*model, data, LabeledImages{}, o);
  const std::vector<int64_t> indices = default_attention_images(data, 4);
  REQUIRE(indices.size() == 4);

  // Completeness: Σ IG = z(x) − z(black) up to the quadrature's error. Along the path the ReLUs
  // switch one after another, so z is only piecewise smooth and Gauss–Legendre converges slowly
  // and unevenly, not to machine precision. Measured on this model (float32): at most 0.52% with
  // 32 points (the program's default) and 0.12% with 128; the tolerances are 4x those, so a
  // missing factor (x − x′), a wrong baseline or a mis-weighted point (errors of order 1) fail.
  for (const auto& [steps, tolerance] : {std::pair{32, 2e-2}, std::pair{128, 5e-3}}) {
    const std::vector<Explanation> explanations = explain_images(*model, data, indices, steps);
    model->eval();
    for (const Explanation& e : explanations) {
      // f is the predicted class's logit of the standardised image, as evaluate() computes it.
      Tensor logits;
      {
        NoGradGuard no_grad;
        logits = model->forward(make_batch(data, {e.index}).images);
      }
      CHECK(e.integrated.output == doctest::Approx(logits.data()[e.predicted]).epsilon(1e-4));
      double total = 0;
      for (int64_t i = 0; i < e.integrated.attributions.numel(); ++i) total += e.integrated.attributions.data()[i];
      CHECK(e.integrated.total == doctest::Approx(total).epsilon(1e-4));
      MESSAGE(steps << " points, image " << e.index << ": sum " << e.integrated.total << " vs "
                    << e.integrated.output << " - " << e.integrated.baseline_output << ", relative error "
                    << e.integrated.relative_completeness_error());
      CHECK(std::abs(e.integrated.output - e.integrated.baseline_output) > 1);
      CHECK(e.integrated.relative_completeness_error() < tolerance);
    }
  }
}

TEST_CASE("attention_cnn report: one self-contained page with every section") {
  const LabeledImages data = synthetic_images(8, 12, 4, 6);
  auto model = make_model(tiny_config(), 1);
  TrainOptions o;
  o.epochs = 2;
  const std::vector<EpochRecord> history = {{1, 1.30, 0.40, 0.50, 1.0, 100.0}, {2, 0.90, 0.70, -1, 1.0, 100.0}};
  const Evaluation test = evaluate(*model, data);
  TempDir dir;
  RunReportOptions options;
  options.run_dir = dir.file("run");
  options.images = 2;
  options.steps = 4;
  const std::string path =
      write_run_report(*model, o, history, test, data, {"alpha", "beta", "gamma", "delta"}, options);
  CHECK(path == dir.file("run/index.html"));
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir.file("run"))) {
    CHECK(entry.path().filename() == "index.html");
    ++files;
  }
  CHECK(files == 1);
  const std::string html = examples::read_file(path);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  for (const char* heading : {"Settings", "Training curve", "History", "Test accuracy", "Confusion matrix",
                              "Confusion heatmap", "Attention", "Saliency", "Integrated gradients: completeness"})
    CHECK_MESSAGE(html.find(std::string("<h2>") + heading + "</h2>") != std::string::npos, heading);
  CHECK(occurrences(html, "<svg") == 4);  // curve, confusion heatmap, attention, explain: all inline
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("src=\"http") == std::string::npos);
  CHECK(html.find("href=\"http") == std::string::npos);
  CHECK(html.find("widths") != std::string::npos);          // a setting
  CHECK(html.find(">delta</th>") != std::string::npos);     // the confusion table's class names
  CHECK(occurrences(html, "predicted: ") == 2);             // the explain figure's rows
}
