// Tests for examples/attention_cnn/idx.h: IDX files made here, gzipped with zlib.
#include <doctest/doctest.h>

#include "tests/examples_helpers.h"

#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "examples/attention_cnn/idx.h"
#include "tests/helpers.h"

using namespace attention_cnn;
using tessera::testing::throws_with;
namespace fs = std::filesystem;

using tessera::testing::TempDir;

namespace {


std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xFF), static_cast<char>((v >> 8) & 0xFF),
          static_cast<char>(v & 0xFF)};
}

// An IDX file's bytes: magic 00 00 08 <rank>, the sizes, then the data.
std::string idx_bytes(const std::vector<uint32_t>& dims, const std::string& data) {
  std::string out{'\0', '\0', '\x08', static_cast<char>(dims.size())};
  for (const uint32_t d : dims) out += be32(d);
  return out + data;
}

void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

void write_plain(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Two 2 x 3 images with pixel values 0..11, and labels 7, 2.
std::string two_images() {
  return idx_bytes({2, 2, 3}, std::string("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b", 12));
}
std::string two_labels() { return idx_bytes({2}, std::string("\x07\x02", 2)); }

}  // namespace

TEST_CASE("idx: a gzipped images file and labels file made with zlib read back exactly") {
  TempDir dir;
  write_gzip(dir.file("images.gz"), two_images());
  write_gzip(dir.file("labels.gz"), two_labels());
  const IdxArray images = read_idx(dir.file("images.gz"), 3);
  CHECK(images.dims == std::vector<int64_t>{2, 2, 3});
  REQUIRE(images.data.size() == 12);
  CHECK(images.data[0] == 0);
  CHECK(images.data[11] == 11);
  const LabeledImages set = read_idx_images_and_labels(dir.file("images.gz"), dir.file("labels.gz"));
  CHECK(set.count == 2);
  CHECK(set.rows == 2);
  CHECK(set.cols == 3);
  CHECK(set.labels == std::vector<uint8_t>{7, 2});
  CHECK(set.image(1)[0] == 6);  // the second image starts at pixel 6
}

TEST_CASE("idx: an uncompressed file reads too") {
  TempDir dir;
  write_plain(dir.file("labels"), two_labels());
  CHECK(read_idx(dir.file("labels"), 1).data == std::vector<uint8_t>{7, 2});
}

TEST_CASE("idx: a bad magic number is named") {
  CHECK(throws_with([] { parse_idx(std::string("\x00\x00\x0d\x03", 4) + be32(1) + be32(1) + be32(1) + "x", 3, "f"); },
                    "f has the magic number 00 00 0d 03, expected 00 00 08 03"));
  CHECK(throws_with([] { parse_idx(two_labels(), 3, "labels"); }, "expected 00 00 08 03"));  // labels as images
  CHECK(throws_with([] { parse_idx("PK\x03\x04 not idx", 1, "zip"); }, "magic number 50 4b 03 04"));
  TempDir dir;
  write_gzip(dir.file("bad.gz"), std::string("\x01\x00\x08\x01", 4) + be32(0));
  CHECK(throws_with([&] { read_idx(dir.file("bad.gz"), 1); }, "magic number 01 00 08 01"));
}

TEST_CASE("idx: truncated files and size mismatches are errors, never crashes") {
  CHECK(throws_with([] { parse_idx(std::string("\x00\x00", 2), 1, "f"); }, "too short"));
  CHECK(throws_with([] { parse_idx(std::string("\x00\x00\x08\x03", 4) + be32(2), 3, "f"); },
                    "truncated inside its header"));
  const std::string images = two_images();
  CHECK(throws_with([&] { parse_idx(images.substr(0, images.size() - 1), 3, "f"); },
                    "truncated: its header declares 12 bytes of data, the file holds 11"));
  CHECK(throws_with([&] { parse_idx(images + "zz", 3, "f"); }, "has 2 bytes after the 12 bytes of data"));
  CHECK(throws_with([] { parse_idx(idx_bytes({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, ""), 3, "f"); },
                    "implausible size"));
  // A truncated gzip stream (the file cut in half).
  TempDir dir;
  write_gzip(dir.file("full.gz"), two_images() + std::string(5000, '\x42'));
  const std::string compressed = [&] {
    std::ifstream in(dir.file("full.gz"), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  write_plain(dir.file("cut.gz"), compressed.substr(0, compressed.size() / 2));
  CHECK(throws_with([&] { read_idx(dir.file("cut.gz"), 3); }, "is damaged"));
}

TEST_CASE("idx: images and labels must agree, and labels must be classes") {
  TempDir dir;
  write_gzip(dir.file("images.gz"), two_images());
  write_gzip(dir.file("three_labels.gz"), idx_bytes({3}, std::string("\x01\x02\x03", 3)));
  CHECK(throws_with([&] { read_idx_images_and_labels(dir.file("images.gz"), dir.file("three_labels.gz")); },
                    "holds 2 images but"));
  write_gzip(dir.file("label_10.gz"), idx_bytes({2}, std::string("\x01\x0a", 2)));
  CHECK(throws_with([&] { read_idx_images_and_labels(dir.file("images.gz"), dir.file("label_10.gz")); },
                    "label 1 is 10, but there are only 10 classes"));
}

TEST_CASE("idx: a missing file says which package to install") {
  TempDir dir;
  CHECK(throws_with([&] { read_idx(dir.file("nope.gz"), 1); }, "apt-get install dataset-fashion-mnist"));
  CHECK(throws_with([&] { load_fashion_mnist("train", dir.path.string()); }, "not found"));
  CHECK(throws_with([&] { load_fashion_mnist("valid", dir.path.string()); }, "neither 'train' nor 'test'"));
  CHECK(throws_with([&] { read_idx(dir.path.string(), 1); }, "not a regular file"));
}

TEST_CASE("idx: Debian's Fashion-MNIST, when installed, has the documented sizes and first labels") {
  if (!fs::exists(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz")) {
    MESSAGE("dataset-fashion-mnist is not installed; skipped");
    return;
  }
  const LabeledImages test = load_fashion_mnist("test");
  CHECK(test.count == 10000);
  CHECK(test.pixels.size() == 10000u * 28 * 28);
  const IdxArray train_labels = read_idx(std::string(kFashionMnistDir) + "/train-labels-idx1-ubyte.gz", 1);
  REQUIRE(train_labels.dims == std::vector<int64_t>{60000});
  CHECK(std::vector<uint8_t>(train_labels.data.begin(), train_labels.data.begin() + 10) ==
        std::vector<uint8_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5});
}
