// examples/attention_cnn/data.cpp — see data.h.
#include "examples/attention_cnn/data.h"

#include <algorithm>

namespace attention_cnn {

using namespace tessera;

uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
  // splitmix64's finaliser over (seed, epoch): nearby seeds and epochs give unrelated streams.
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void prepare_image(const uint8_t* pixels, int64_t rows, int64_t cols, bool flip, int64_t shift_rows,
                   int64_t shift_cols, scalar_t* out) {
  // out(r, c) = in(r + shift_rows, c' + shift_cols) with c' = c, or cols − 1 − c when flipped;
  // pixels outside the image are background (0).
  const double scale = 1.0 / (255.0 * kFashionMnistStd), offset = -kFashionMnistMean / kFashionMnistStd;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t source_row = r + shift_rows;
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t source_col = (flip ? cols - 1 - c : c) + shift_cols;
      const bool inside = source_row >= 0 && source_row < rows && source_col >= 0 && source_col < cols;
      const double value = inside ? pixels[source_row * cols + source_col] : 0;
      out[r * cols + c] = static_cast<scalar_t>(value * scale + offset);
    }
  }
}

Batch make_batch(const LabeledImages& data, const std::vector<int64_t>& indices, const Augmentation* augment,
                 Generator* generator) {
  const int64_t b = static_cast<int64_t>(indices.size()), plane = data.rows * data.cols;
  TS_CHECK(b > 0, "make_batch: no images");
  Tensor images = empty({b, 1, data.rows, data.cols});
  std::vector<int64_t> labels(indices.size());
  for (int64_t i = 0; i < b; ++i) {
    const int64_t index = indices[i];
    TS_CHECK(index >= 0 && index < data.count, "make_batch: image {} of a set of {}", index, data.count);
    bool flip = false;
    int64_t shift_rows = 0, shift_cols = 0;
    if (augment && generator) {
      // Always three draws per image, whatever is switched off, so the stream stays aligned.
      const bool coin = generator->randint(2) == 1;
      const int64_t p = augment->crop_padding;
      const int64_t dy = generator->randint(2 * p + 1) - p, dx = generator->randint(2 * p + 1) - p;
      flip = augment->flip && coin;
      shift_rows = dy, shift_cols = dx;
    }
    prepare_image(data.image(index), data.rows, data.cols, flip, shift_rows, shift_cols, images.data() + i * plane);
    labels[i] = data.labels[index];
  }
  return {images, IndexTensor(std::move(labels))};
}

std::vector<std::vector<int64_t>> epoch_batches(int64_t count, int64_t batch_size, Generator& generator) {
  TS_CHECK(count > 0 && batch_size > 0, "epoch_batches: {} images in batches of {}", count, batch_size);
  const std::vector<int64_t> order = generator.permutation(count);
  std::vector<std::vector<int64_t>> batches;
  for (int64_t start = 0; start < count; start += batch_size)
    batches.emplace_back(order.begin() + start, order.begin() + std::min(count, start + batch_size));
  return batches;
}

}  // namespace attention_cnn
