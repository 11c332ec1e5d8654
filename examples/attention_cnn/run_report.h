// examples/attention_cnn/run_report.h — the page `attention_cnn train` leaves beside its
// checkpoint: <run dir>/index.html, one self-contained file (examples/common/report.h) with
//
//   - the run's settings (model config and training options, as the checkpoint stores them),
//   - the training curve (loss and test accuracy per epoch) and the per-epoch history,
//   - the test accuracy and the confusion matrix, as a table and as a heatmap,
//   - the attention figure (attention_figure.h) and the explain figure (explain_figure.h) for the
//     default images, with the integrated gradients' completeness check.
//
// The figures run the model on a few images only (the explain figure 34 forward and backward
// passes per image at the default 32 points), so the page adds seconds to a training run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "examples/attention_cnn/idx.h"
#include "examples/attention_cnn/model.h"
#include "examples/attention_cnn/train.h"

namespace attention_cnn {

struct RunReportOptions {
  std::string run_dir;    // the page is run_dir/index.html
  int64_t images = 4;     // test images in the attention and explain figures
  int steps = 32;         // integrated-gradients points
};

// Writes the page (atomically) and returns its path. `test` is the evaluation of `model` on
// `test_set`; `history` the per-epoch records train() returned.
std::string write_run_report(AttentionCNN& model, const TrainOptions& options,
                             const std::vector<EpochRecord>& history, const Evaluation& test,
                             const LabeledImages& test_set, const std::vector<std::string>& class_names,
                             const RunReportOptions& report);

// The training curve: mean training loss (left axis) and test accuracy in % (right axis) per epoch.
std::string training_curve_svg(const std::vector<EpochRecord>& history);

}  // namespace attention_cnn
