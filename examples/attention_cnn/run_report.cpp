// examples/attention_cnn/run_report.cpp — see run_report.h.
#include "examples/attention_cnn/run_report.h"

#include <cmath>
#include <filesystem>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "examples/attention_cnn/attention_figure.h"
#include "examples/attention_cnn/explain_figure.h"
#include "examples/common/report.h"
#include "examples/common/svg.h"

namespace attention_cnn {

using namespace tessera;

namespace {

// One row per setting of a flat JSON object ("widths" -> "[16,32,64]"), prefixed by `group`.
void add_settings(std::vector<std::vector<std::string>>& rows, const std::string& group, const std::string& json) {
  const nlohmann::json object = nlohmann::json::parse(json);
  for (const auto& item : object.items())
    rows.push_back({group, item.key(), item.value().is_string() ? item.value().get<std::string>() : item.value().dump()});
}

std::string percent(double fraction) { return fmt::format("{:.2f}%", 100 * fraction); }

// The confusion matrix as shares of each true class: row i, column j = P(predicted j | true i).
std::string confusion_heatmap_svg(const Evaluation& e, const std::vector<std::string>& class_names) {
  const int64_t c = e.num_classes;
  examples::Heatmap map;
  map.rows = map.cols = c;
  map.row_labels = map.column_labels = class_names;
  for (int64_t i = 0; i < c; ++i) {
    int64_t row_total = 0;
    for (int64_t j = 0; j < c; ++j) row_total += e.confusion[static_cast<size_t>(i * c + j)];
    for (int64_t j = 0; j < c; ++j)
      map.values.push_back(row_total > 0 ? static_cast<double>(e.confusion[static_cast<size_t>(i * c + j)]) /
                                               static_cast<double>(row_total)
                                         : std::numeric_limits<double>::quiet_NaN());
  }
  examples::HeatmapStyle style;
  style.colours = examples::ColourMap::Reds;
  style.x_label = "predicted class";
  style.y_label = "true class";
  style.fixed_range = true;  // shares: 0 … 1
  return examples::svg_heatmaps({map}, 1, "confusion matrix, rows normalised", style);
}

}  // namespace

std::string training_curve_svg(const std::vector<EpochRecord>& history) {
  examples::Series loss{"training loss", {}, {}}, accuracy{"test accuracy (%)", {}, {}};
  for (const EpochRecord& r : history) {
    loss.x.push_back(static_cast<double>(r.epoch));
    loss.y.push_back(r.train_loss);
    accuracy.x.push_back(static_cast<double>(r.epoch));
    // -1 = not evaluated that epoch (--no-eval): a gap in the line
    accuracy.y.push_back(r.test_accuracy >= 0 ? 100 * r.test_accuracy : std::numeric_limits<double>::quiet_NaN());
  }
  return examples::svg_line_plot({.title = "training curve",
                                  .x_label = "epoch",
                                  .y_label = "mean training loss (label-smoothed cross-entropy)",
                                  .series = {loss, accuracy},
                                  .second_axis_for_last = true});  // accuracy on the right-hand axis
}

std::string write_run_report(AttentionCNN& model, const TrainOptions& options,
                             const std::vector<EpochRecord>& history, const Evaluation& test,
                             const LabeledImages& test_set, const std::vector<std::string>& class_names,
                             const RunReportOptions& report) {
  const std::string path = (std::filesystem::path(report.run_dir) / "index.html").string();
  examples::Report page(fmt::format("attention_cnn — {}", report.run_dir.empty() ? "." : report.run_dir));

  // ---- settings ----
  std::vector<std::vector<std::string>> settings;
  add_settings(settings, "model", model.config.to_json());
  settings.push_back({"model", "parameters", std::to_string(model.num_parameters())});
  add_settings(settings, "training", options.to_json());
  double seconds = 0;
  for (const EpochRecord& r : history) seconds += r.seconds;
  settings.push_back({"training", "seconds of training", fmt::format("{:.1f}", seconds)});
  page.add_table("Settings", {"part", "setting", "value"}, settings);

  // ---- training curve and history ----
  if (!history.empty()) {
    page.add_svg("Training curve", training_curve_svg(history),
                 "mean training loss over each epoch (augmented images, training mode) and the test accuracy after it");
    std::vector<std::vector<std::string>> rows;
    for (const EpochRecord& r : history)
      rows.push_back({std::to_string(r.epoch), fmt::format("{:.4f}", r.train_loss), percent(r.train_accuracy),
                      r.test_accuracy >= 0 ? percent(r.test_accuracy) : "—", fmt::format("{:.1f}", r.seconds),
                      fmt::format("{:.0f}", r.images_per_second)});
    page.add_table("History", {"epoch", "training loss", "training accuracy", "test accuracy", "seconds", "images/s"},
                   rows);
  }

  // ---- test score and confusion matrix ----
  page.add_text("Test accuracy", fmt::format("{} of {} test images ({}), mean cross-entropy {:.4f}.",
                                             static_cast<int64_t>(std::llround(test.accuracy * static_cast<double>(test.count))),
                                             test.count, percent(test.accuracy), test.loss));
  const int64_t c = test.num_classes;
  if (c > 0 && static_cast<int64_t>(class_names.size()) == c) {
    std::vector<std::string> header = {"true \\ predicted"};
    header.insert(header.end(), class_names.begin(), class_names.end());
    header.push_back("accuracy");
    std::vector<std::vector<std::string>> rows;
    for (int64_t i = 0; i < c; ++i) {
      std::vector<std::string> row = {class_names[static_cast<size_t>(i)]};
      int64_t row_total = 0;
      for (int64_t j = 0; j < c; ++j) {
        const int64_t count = test.confusion[static_cast<size_t>(i * c + j)];
        row_total += count;
        row.push_back(std::to_string(count));
      }
      const int64_t correct = test.confusion[static_cast<size_t>(i * c + i)];
      row.push_back(row_total > 0 ? percent(static_cast<double>(correct) / static_cast<double>(row_total)) : "—");
      rows.push_back(std::move(row));
    }
    page.add_table("Confusion matrix", header, rows, "rows: true class, columns: predicted class (test set)");
    page.add_svg("Confusion heatmap", confusion_heatmap_svg(test, class_names),
                 "each row divided by its total: the diagonal is each class's accuracy");
  }

  // ---- pictures of the default images ----
  const std::vector<int64_t> indices =
      test_set.count > 0 ? default_attention_images(test_set, report.images) : std::vector<int64_t>{};
  if (!indices.empty()) {
    if (model.attention)
      page.add_svg("Attention",
                   attention_figure(model, test_set, indices, default_queries(model.config.final_size()), class_names),
                   "where the SAGAN block looks from three query positions of the final feature map, and the "
                   "attention each position receives (attention_cnn attention)");
    else
      page.add_text("Attention", "This model has no attention block (trained with --no-attention).");
    const std::vector<Explanation> explanations = explain_images(model, test_set, indices, report.steps);
    page.add_svg("Saliency", explain_figure(explanations, test_set, class_names, report.steps),
                 "gradient saliency and integrated gradients of the predicted class's logit with respect to the "
                 "pixels, beside the attention map (attention_cnn explain). Gradients are local and noisy; "
                 "integrated gradients depend on the black baseline; attention weights are not an explanation.");
    page.add_preformatted("Integrated gradients: completeness", format_completeness(explanations, class_names));
  }
  page.write(path);
  return path;
}

}  // namespace attention_cnn
