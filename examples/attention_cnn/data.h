// examples/attention_cnn/data.h — turning Fashion-MNIST bytes into normalised, augmented batches.
//
// A batch is images [B, 1, H, W] (pixels scaled to [0, 1], then standardised with the training
// set's mean and standard deviation) and labels [B]. Training batches may be augmented: each image
// is flipped left-right with probability 1/2 and shifted by up to `crop_padding` pixels in each
// direction (a random crop of the image padded with background), as in the ResNet papers' CIFAR
// recipe. Every random choice of epoch e — the order of the images and each image's flip and
// shift — comes from one generator seeded by (seed, e), so an epoch is the same whether training
// ran straight through or resumed from a checkpoint before it.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tessera.h"
#include "examples/attention_cnn/idx.h"

namespace attention_cnn {

// The mean and standard deviation of Fashion-MNIST's training pixels, scaled to [0, 1].
inline constexpr double kFashionMnistMean = 0.2860;
inline constexpr double kFashionMnistStd = 0.3530;

struct Augmentation {
  bool flip = true;          // mirror left-right with probability 1/2
  int64_t crop_padding = 0;  // shift by a uniform integer in [-p, p] along each axis (0 = off)
};

struct Batch {
  tessera::Tensor images;       // [B, 1, H, W], normalised
  tessera::IndexTensor labels;  // [B]
};

// The seed of epoch `epoch`'s generator: a fixed mix of the run's seed and the epoch number.
uint64_t epoch_seed(uint64_t seed, int64_t epoch);

// The images `indices` of `data` as one batch. With `augment` and `generator`, each image draws its
// flip and shift from the generator, in order; with either null, the images are used as they are.
Batch make_batch(const LabeledImages& data, const std::vector<int64_t>& indices, const Augmentation* augment = nullptr,
                 tessera::Generator* generator = nullptr);

// The batches of one training epoch: a random order of images 0..count-1 drawn from `generator`,
// cut into batches of batch_size (the last may be smaller).
std::vector<std::vector<int64_t>> epoch_batches(int64_t count, int64_t batch_size, tessera::Generator& generator);

// One image, normalised and optionally augmented, into out[H·W] (row-major). Exposed for tests.
void prepare_image(const uint8_t* pixels, int64_t rows, int64_t cols, bool flip, int64_t shift_rows,
                   int64_t shift_cols, tessera::scalar_t* out);

}  // namespace attention_cnn
