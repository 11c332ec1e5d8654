// examples/attention_cnn/idx.cpp — see idx.h.
#include "examples/attention_cnn/idx.h"

#include <filesystem>

#include "engine/error.h"
#include "examples/common/files.h"

namespace attention_cnn {

namespace {

constexpr const char* kInstall = "apt-get install dataset-fashion-mnist";

uint32_t read_be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

IdxArray parse_idx(std::string_view bytes, int expected_rank, const std::string& source) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  TS_CHECK(bytes.size() >= 4, "read_idx: {} is too short to be an IDX file ({} bytes; the header alone is 4)", source,
           bytes.size());
  TS_CHECK(p[0] == 0 && p[1] == 0 && p[2] == 0x08 && p[3] == expected_rank,
           "read_idx: {} has the magic number {:02x} {:02x} {:02x} {:02x}, expected 00 00 08 {:02x} (unsigned bytes, "
           "rank {}); is it an IDX {} file?",
           source, p[0], p[1], p[2], p[3], expected_rank, expected_rank, expected_rank == 3 ? "images" : "labels");
  const size_t header = 4 + 4 * static_cast<size_t>(expected_rank);
  TS_CHECK(bytes.size() >= header, "read_idx: {} is truncated inside its header ({} bytes, the header needs {})",
           source, bytes.size(), header);
  IdxArray out;
  uint64_t count = 1;
  for (int d = 0; d < expected_rank; ++d) {
    const uint32_t size = read_be32(p + 4 + 4 * d);
    out.dims.push_back(size);
    TS_CHECK(size == 0 || count <= (uint64_t{1} << 40) / size,
             "read_idx: {} declares an implausible size (dimension {} is {})", source, d, size);
    count *= size;  // now at most 2^40: compared with the file size below
  }
  const uint64_t have = bytes.size() - header;
  TS_CHECK(have >= count, "read_idx: {} is truncated: its header declares {} bytes of data, the file holds {}", source,
           count, have);
  TS_CHECK(have == count,
           "read_idx: {} has {} bytes after the {} bytes of data its header declares (a size mismatch)", source,
           have - count, count);
  out.data.assign(p + header, p + header + count);
  return out;
}

std::string read_maybe_gzipped(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    tessera::fail("read_idx: '{}' not found. Fashion-MNIST comes from Debian's dataset-fashion-mnist package: "
                  "install it with `{}` (or pass --data-dir)",
                  path, kInstall);
  try {
    return examples::read_gzip_file(path);
  } catch (const tessera::Error& e) {
    tessera::fail("read_idx: {} (if it is Debian's, reinstall it with `{}`)", e.what(), kInstall);
  }
}

IdxArray read_idx(const std::string& path, int expected_rank) {
  return parse_idx(read_maybe_gzipped(path), expected_rank, "'" + path + "'");
}

LabeledImages read_idx_images_and_labels(const std::string& images_path, const std::string& labels_path,
                                         int num_classes) {
  IdxArray images = read_idx(images_path, 3);
  IdxArray labels = read_idx(labels_path, 1);
  TS_CHECK(images.dims[0] == labels.dims[0], "read_idx: '{}' holds {} images but '{}' holds {} labels", images_path,
           images.dims[0], labels_path, labels.dims[0]);
  TS_CHECK(images.dims[1] > 0 && images.dims[2] > 0, "read_idx: '{}' has empty images ({} x {})", images_path,
           images.dims[1], images.dims[2]);
  for (size_t i = 0; i < labels.data.size(); ++i)
    TS_CHECK(labels.data[i] < num_classes, "read_idx: '{}': label {} is {}, but there are only {} classes",
             labels_path, i, labels.data[i], num_classes);
  LabeledImages out;
  out.count = images.dims[0];
  out.rows = images.dims[1];
  out.cols = images.dims[2];
  out.pixels = std::move(images.data);
  out.labels = std::move(labels.data);
  return out;
}

LabeledImages load_fashion_mnist(const std::string& split, const std::string& dir) {
  TS_CHECK(split == "train" || split == "test", "load_fashion_mnist: split '{}' is neither 'train' nor 'test'",
           split);
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::filesystem::path base(dir);
  LabeledImages out = read_idx_images_and_labels((base / (prefix + "-images-idx3-ubyte.gz")).string(),
                                                 (base / (prefix + "-labels-idx1-ubyte.gz")).string());
  TS_CHECK(out.rows == 28 && out.cols == 28, "load_fashion_mnist: the images in {} are {} x {}, not 28 x 28", dir,
           out.rows, out.cols);
  return out;
}

}  // namespace attention_cnn
