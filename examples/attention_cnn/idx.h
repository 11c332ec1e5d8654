// examples/attention_cnn/idx.h — reading IDX files (the MNIST / Fashion-MNIST format), gzipped or not.
//
// An IDX file is big-endian:
//   bytes 0-1   0x00 0x00
//   byte  2     the element type: 0x08 = unsigned byte (the only one image data sets use)
//   byte  3     the rank r (3 for images [count, rows, cols], 1 for labels [count])
//   4·r bytes   the r dimension sizes, uint32 each
//   the rest    the elements, row-major: exactly the product of the sizes, nothing after
// Debian's dataset-fashion-mnist ships them gzip-compressed under /usr/share/datasets/fashion-mnist;
// zlib's gzread reads compressed and plain files alike. Every size is checked before use: a bad
// magic number, a wrong rank, a truncated or over-long file, or images and labels that disagree
// give a tessera::Error naming the file and what is wrong — never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace attention_cnn {

// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// The ten Fashion-MNIST classes, by label.
inline constexpr const char* kFashionMnistClasses[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                         "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

// An unsigned-byte IDX array: its sizes and its elements, row-major.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// Parses the bytes of an (uncompressed) IDX file whose rank must be `expected_rank`. `source`
// names the bytes in error messages.
IdxArray parse_idx(std::string_view bytes, int expected_rank, const std::string& source);

// The whole file, inflated when it is gzip-compressed. Throws when it is missing (the message
// says which package provides Fashion-MNIST), unreadable or a damaged gzip stream.
std::string read_maybe_gzipped(const std::string& path);

// read_maybe_gzipped + parse_idx.
IdxArray read_idx(const std::string& path, int expected_rank);

// Images with their labels: pixels [count, rows, cols] row-major, 0 = background, 255 = ink.
struct LabeledImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> labels;  // count labels, each < num_classes
  const uint8_t* image(int64_t i) const { return pixels.data() + i * rows * cols; }
};

// An images file (rank 3) and a labels file (rank 1) that must agree on the count; every label
// must be below num_classes.
LabeledImages read_idx_images_and_labels(const std::string& images_path, const std::string& labels_path,
                                         int num_classes = 10);

// split "train" (60,000 images) or "test" (10,000) of Fashion-MNIST from `dir`.
LabeledImages load_fashion_mnist(const std::string& split, const std::string& dir = kFashionMnistDir);

}  // namespace attention_cnn
