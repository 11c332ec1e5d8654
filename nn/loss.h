// tessera/nn/loss.h — loss functions, like torch.nn.functional's cross_entropy, nll_loss, mse_loss.
//
// Shapes follow PyTorch. For the classification losses the class dim is dim 1:
//   input [C]                 target []  (rank 0)
//   input [N, C]              target [N]
//   input [N, C, d1, ..., dk] target [N, d1, ..., dk]   (e.g. per-pixel or per-token classes)
// and, as a convenience for sequence models, the class dim may also be the last one:
//   input [*, C]              target [*]                (e.g. logits [B, T, V], target [B, T])
// PyTorch's layout is tried first; the two differ only for an input whose dims after the first
// are all equal ([B, V, V]), which is read the PyTorch way.
// Targets are class indices (IndexTensor). A target equal to ignore_index takes no part: its
// loss is 0, it is not counted by the mean, and its row of the gradient is 0.
//
// Reductions: Mean (the default) averages over the counted targets, Sum adds them, None returns
// one loss per target, shaped like the target (0 at ignored positions). Mean over a batch whose
// targets are all ignored is 0/0 = NaN, exactly as in PyTorch (its gradient is all zeros).
#pragma once

#include <cstdint>

#include "nn/module.h"

namespace tessera::nn {

enum class Reduction { None, Mean, Sum };

struct CrossEntropyOptions {
  int64_t ignore_index = -100;
  double label_smoothing = 0;  // eps in [0, 1]
  Reduction reduction = Reduction::Mean;
};

// Cross entropy between logits (unnormalised scores) and class indices:
//   loss_i = (1 − eps) · (−log p_{i, y_i}) + eps/C · Σ_c (−log p_{i, c}),  p_i = softmax(logits_i)
// i.e. the cross entropy against the target distribution (1 − eps)·onehot(y_i) + eps/C.
// Fused: one pass per row computes the log-sum-exp and the loss (no [N, C] log-probability
// tensor is made); the backward keeps the logits and one lse per row, and recomputes
//   dL/dlogits_i = s_i · (p_i − (1 − eps)·onehot(y_i) − eps/C),  p_i = exp(logits_i − lse_i),
// s_i = dL/dloss_i (1/count for Mean).
//   cross_entropy(logits, targets)                              // mean over the batch
//   cross_entropy(logits, targets, {.ignore_index = pad_id, .label_smoothing = 0.1})
Tensor cross_entropy(const Tensor& input, const IndexTensor& target, const CrossEntropyOptions& options = {});

struct NllLossOptions {
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
};

// Negative log likelihood of log-probabilities (e.g. log_softmax's output): loss_i = −input_{i, y_i}.
// cross_entropy(x, y) equals nll_loss(log_softmax(x, 1), y).
Tensor nll_loss(const Tensor& input, const IndexTensor& target, const NllLossOptions& options = {});

// Mean squared error: (input − target)², reduced. Both may require grad. The shapes must be
// equal (PyTorch broadcasts them with a warning that it "will likely lead to incorrect
// results"; tessera refuses instead).
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

}  // namespace tessera::nn
