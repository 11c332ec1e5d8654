// tessera/nn/safetensors.cpp — reading and writing safetensors checkpoints (nn/safetensors.h).
//
// Reading is two passes over the header and one over the data:
//   1. HeaderParser, a SAX handler for nlohmann::json, turns the JSON into a list of raw entries
//      without building a JSON tree (a 100 MB header would need gigabytes as a tree), rejecting
//      wrong types, unknown fields and duplicate names as they stream past;
//   2. check_entries validates each entry (dtype, shape, byte length) and the offsets as a whole
//      (they must tile the data section exactly, like the reference implementation requires);
//   3. only then are tensors allocated — their total size is bounded by the file size — and
//      filled from the file, converting F64/F16/BF16 to scalar_t.
#include "nn/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <set>
#include <vector>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace tessera::nn {
namespace {

using json = nlohmann::json;
using Metadata = std::map<std::string, std::string>;

constexpr uint64_t kMaxHeaderSize = 100'000'000;  // the reference implementation's limit
constexpr const char* kMetadataKey = "__metadata__";
constexpr const char* kReadableDtypes = "F32, F64, F16 and BF16";

// A name for an error message: quoted, and cut short if a damaged file made it huge.
std::string in_quotes(std::string_view s) {
  constexpr size_t kMax = 100;
  if (s.size() <= kMax) return fmt::format("'{}'", s);
  return fmt::format("'{}…' ({} bytes)", s.substr(0, kMax), s.size());
}

// Index of the first byte that breaks UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF), or npos.
size_t invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string_view::npos;
}

// ---- dtypes ----
enum class Dtype { F32, F64, F16, BF16 };

struct DtypeInfo {
  Dtype dtype;
  const char* name;
  uint64_t size;  // bytes per element
};
constexpr DtypeInfo kDtypes[] = {
    {Dtype::F32, "F32", 4}, {Dtype::F64, "F64", 8}, {Dtype::F16, "F16", 2}, {Dtype::BF16, "BF16", 2}};

const DtypeInfo* find_dtype(std::string_view name) {
  for (const DtypeInfo& info : kDtypes)
    if (name == info.name) return &info;
  return nullptr;
}

constexpr Dtype kNativeDtype = sizeof(scalar_t) == 8 ? Dtype::F64 : Dtype::F32;

template <class U>
U load_le(const unsigned char* p) {
  U v = 0;
  for (size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(static_cast<U>(p[i]) << (8 * i));
  return v;
}

template <class U>
void store_le(U v, unsigned char* p) {
  for (size_t i = 0; i < sizeof(U); ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

// IEEE binary16 -> binary32, exactly (every half is a float): sign, 5-bit exponent (bias 15),
// 10-bit mantissa. Subnormal halves are mantissa * 2^-24; inf and NaN keep their payload.
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  const uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

// bfloat16 is the top half of a float32.
float bfloat16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

// n elements of `dtype` in little-endian bytes -> scalar_t.
void convert(Dtype dtype, const unsigned char* in, int64_t n, scalar_t* out) {
  switch (dtype) {
    case Dtype::F32:
      for (int64_t i = 0; i < n; ++i)
        out[i] = static_cast<scalar_t>(std::bit_cast<float>(load_le<uint32_t>(in + 4 * i)));
      break;
    case Dtype::F64:  // rounds to nearest in the float build
      for (int64_t i = 0; i < n; ++i)
        out[i] = static_cast<scalar_t>(std::bit_cast<double>(load_le<uint64_t>(in + 8 * i)));
      break;
    case Dtype::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = half_to_float(load_le<uint16_t>(in + 2 * i));
      break;
    case Dtype::BF16:
      for (int64_t i = 0; i < n; ++i) out[i] = bfloat16_to_float(load_le<uint16_t>(in + 2 * i));
      break;
  }
}

// ---- where the bytes come from ----
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Copies n bytes at `offset` into dst; callers have checked offset + n <= size().
  virtual void read(uint64_t offset, size_t n, void* dst) const = 0;
};

class MemorySource : public ByteSource {
 public:
  explicit MemorySource(std::string_view bytes) : bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  void read(uint64_t offset, size_t n, void* dst) const override {
    if (n) std::memcpy(dst, bytes_.data() + offset, n);
  }

 private:
  std::string_view bytes_;
};

class FileSource : public ByteSource {
 public:
  explicit FileSource(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      const int err = errno;
      fail("load_safetensors: cannot open '{}': {}{}", path, std::strerror(err),
           err == ENOENT ? " (check the path)" : "");
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      fail("load_safetensors: '{}' is not a regular file", path);
    }
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~FileSource() override { ::close(fd_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  uint64_t size() const override { return size_; }
  void read(uint64_t offset, size_t n, void* dst) const override {
    auto* out = static_cast<char*>(dst);
    while (n > 0) {
      const ssize_t got = ::pread(fd_, out, n, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail("load_safetensors: {}: read failed: {}", path_, std::strerror(errno));
      if (got == 0) fail("load_safetensors: {}: the file got shorter while it was being read", path_);
      out += got;
      n -= static_cast<size_t>(got);
      offset += static_cast<uint64_t>(got);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// ---- the header ----
// One tensor's entry as the header states it, before validation.
struct RawEntry {
  std::string name;
  size_t index = 0;  // position in the header
  std::string dtype;
  std::vector<uint64_t> shape;
  std::vector<uint64_t> offsets;
  bool has_dtype = false, has_shape = false, has_offsets = false;
};

// Streams the header's JSON into RawEntry's and the metadata, rejecting anything that is not a
// safetensors header: the root must be an object of objects, an entry has exactly the fields
// dtype (a string), shape and data_offsets (lists of non-negative integers), "__metadata__" is an
// object of strings, and no key appears twice in one object (plain JSON parsers silently keep
// one of the two, so a file could mean different things to different readers).
class HeaderParser : public nlohmann::json_sax<json> {
 public:
  explicit HeaderParser(const std::string& source) : source_(source) {}

  std::vector<RawEntry> entries;
  Metadata metadata;

  bool null() override {
    if (where_ == Where::root && key_ == kMetadataKey) return true;  // "__metadata__": null, no metadata
    return other_value("null");
  }
  bool boolean(bool) override { return other_value("a boolean"); }
  bool number_integer(number_integer_t value) override {
    if (value >= 0) return number_unsigned(static_cast<number_unsigned_t>(value));
    if (where_ == Where::list) bad_entry("{} has the negative value {}", field_name(), value);
    return other_value("a number");
  }
  bool number_unsigned(number_unsigned_t value) override {
    if (where_ != Where::list) return other_value("a number");
    std::vector<uint64_t>& list = field_ == Field::shape ? entry_.shape : entry_.offsets;
    if (field_ == Field::shape && list.size() == static_cast<size_t>(Shape::kMaxRank))
      bad_entry("shape has more than {} dimensions, tessera's limit", Shape::kMaxRank);
    if (field_ == Field::data_offsets && list.size() == 2) bad_entry("data_offsets has more than 2 values");
    list.push_back(value);
    return true;
  }
  bool number_float(number_float_t, const string_t& text) override {
    if (where_ == Where::list)
      bad_entry("{} must hold non-negative integers, found {}", field_name(), in_quotes(text));
    return other_value("a number");
  }
  bool string(string_t& value) override {
    if (where_ == Where::entry && field_ == Field::dtype) {
      entry_.dtype = value;
      return true;
    }
    if (where_ == Where::metadata) {
      metadata.emplace(key_, value);
      return true;
    }
    return other_value("a string");
  }
  bool binary(binary_t&) override { return other_value("binary data"); }

  bool start_object(std::size_t) override {
    if (where_ == Where::start) {
      where_ = Where::root;
      return true;
    }
    if (where_ == Where::root) {
      if (key_ == kMetadataKey) {
        where_ = Where::metadata;
      } else {
        where_ = Where::entry;
        entry_ = RawEntry{};
        entry_.name = key_;
        entry_.index = entries.size();
      }
      return true;
    }
    return other_value("an object");
  }
  bool key(string_t& key) override {
    if (where_ == Where::root) {
      if (!names_.insert(key).second) bad("the name {} appears twice in the header", in_quotes(key));
      key_ = key;
    } else if (where_ == Where::metadata) {
      if (metadata.count(key)) bad("__metadata__ has the key {} twice", in_quotes(key));
      key_ = key;
    } else {  // an entry's field
      bool* seen = nullptr;
      if (key == "dtype") {
        field_ = Field::dtype;
        seen = &entry_.has_dtype;
      } else if (key == "shape") {
        field_ = Field::shape;
        seen = &entry_.has_shape;
      } else if (key == "data_offsets") {
        field_ = Field::data_offsets;
        seen = &entry_.has_offsets;
      } else {
        bad_entry("unknown field {} (an entry has exactly dtype, shape and data_offsets)", in_quotes(key));
      }
      if (*seen) bad_entry("the field {} appears twice", key);
      *seen = true;
    }
    return true;
  }
  bool end_object() override {
    if (where_ == Where::entry) {
      if (!entry_.has_dtype) bad_entry("the entry has no dtype");
      if (!entry_.has_shape) bad_entry("the entry has no shape");
      if (!entry_.has_offsets) bad_entry("the entry has no data_offsets");
      if (entry_.offsets.size() != 2)
        bad_entry("data_offsets must be [begin, end], found {} value(s)", entry_.offsets.size());
      entries.push_back(std::move(entry_));
      where_ = Where::root;
    } else if (where_ == Where::metadata) {
      where_ = Where::root;
    } else {
      where_ = Where::done;
    }
    return true;
  }
  bool start_array(std::size_t) override {
    if (where_ == Where::entry && field_ != Field::dtype) {
      where_ = Where::list;
      return true;
    }
    return other_value("a list");
  }
  bool end_array() override {
    where_ = Where::entry;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    std::string message = e.what();  // "[json.exception.parse_error.101] parse error at ..."
    if (message.starts_with("[json.exception.")) message = message.substr(message.find(']') + 2);
    bad("the header is not valid JSON: {}", message);
  }

 private:
  enum class Where { start, root, entry, list, metadata, done };
  enum class Field { dtype, shape, data_offsets };

  template <class... Args>
  [[noreturn]] void bad(fmt::format_string<Args...> format, Args&&... args) const {
    fail("load_safetensors: {}: {}", source_, fmt::format(format, std::forward<Args>(args)...));
  }
  template <class... Args>
  [[noreturn]] void bad_entry(fmt::format_string<Args...> format, Args&&... args) const {
    fail("load_safetensors: {}: tensor {}: {}", source_, in_quotes(entry_.name),
         fmt::format(format, std::forward<Args>(args)...));
  }
  const char* field_name() const {
    return field_ == Field::dtype ? "dtype" : field_ == Field::shape ? "shape" : "data_offsets";
  }

  // A value (or an object or list) where the header has no place for it.
  bool other_value(const char* what) {
    switch (where_) {
      case Where::start:
        bad("the header is not a JSON object (it is {})", what);
      case Where::root:
        if (key_ == kMetadataKey) bad("__metadata__ must be an object of strings, found {}", what);
        fail("load_safetensors: {}: tensor {}: the entry must be an object with dtype, shape and "
             "data_offsets, found {}", source_, in_quotes(key_), what);
      case Where::entry:
        if (field_ == Field::dtype) bad_entry("dtype must be a string like \"F32\", found {}", what);
        bad_entry("{} must be a list of non-negative integers, found {}", field_name(), what);
      case Where::list:
        bad_entry("{} must hold non-negative integers, found {}", field_name(), what);
      case Where::metadata:
        bad("__metadata__: the value of {} must be a string, found {}", in_quotes(key_), what);
      case Where::done:
        break;
    }
    bad("unexpected {} after the end of the header", what);
  }

  const std::string& source_;
  Where where_ = Where::start;
  Field field_ = Field::dtype;
  std::string key_;  // the current key of the root object or of __metadata__
  RawEntry entry_;   // the entry being read
  std::set<std::string> names_;
};

[[noreturn]] void bad_tensor(const std::string& source, const std::string& name, const std::string& what) {
  fail("load_safetensors: {}: tensor {}: {}", source, in_quotes(name), what);
}

// A validated entry.
struct Entry {
  const RawEntry* raw;
  const DtypeInfo* dtype;
  Shape shape;
  uint64_t begin, end;
};

// Checks each entry against its dtype and the data section, then the offsets as a whole, and
// returns the entries in data order.
std::vector<Entry> check_entries(const std::vector<RawEntry>& raw_entries, uint64_t data_size,
                                 const std::string& source) {
  std::vector<Entry> entries;
  entries.reserve(raw_entries.size());
  for (const RawEntry& raw : raw_entries) {
    auto bad = [&](const std::string& what) { bad_tensor(source, raw.name, what); };
    const DtypeInfo* dtype = find_dtype(raw.dtype);
    if (!dtype)
      bad_tensor(source, raw.name,
                 fmt::format("dtype {} is not supported (tessera reads {}; convert the tensor to one "
                             "of them before saving)", in_quotes(raw.dtype), kReadableDtypes));
    // Sizes must fit int64 and so must the product of the non-zero ones: then no partial product
    // the engine computes (numel, strides) can overflow, even for an empty tensor.
    uint64_t numel = 1, product = 1;
    bool has_zero = false;
    for (uint64_t size : raw.shape) {
      if (size == 0) {
        has_zero = true;
        continue;
      }
      if (__builtin_mul_overflow(product, size, &product) ||
          product > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        bad(fmt::format("shape [{}] has too many elements", fmt::join(raw.shape, ", ")));
    }
    numel = has_zero ? 0 : product;
    uint64_t nbytes = 0;
    if (__builtin_mul_overflow(numel, dtype->size, &nbytes))
      bad(fmt::format("shape [{}] has too many elements", fmt::join(raw.shape, ", ")));
    const uint64_t begin = raw.offsets[0], end = raw.offsets[1];
    if (begin > end) bad(fmt::format("data_offsets [{}, {}] are reversed (begin > end)", begin, end));
    if (end > data_size)
      bad(fmt::format("data_offsets [{}, {}] run past the end of the data section ({} bytes): the "
                      "file is truncated or damaged", begin, end, data_size));
    if (end - begin != nbytes)
      bad(fmt::format("data_offsets [{}, {}] hold {} bytes, but shape [{}] of {} needs {} ({} "
                      "elements of {} bytes)", begin, end, end - begin, fmt::join(raw.shape, ", "),
                      dtype->name, nbytes, numel, dtype->size));
    std::vector<int64_t> sizes(raw.shape.begin(), raw.shape.end());
    entries.push_back(Entry{&raw, dtype, Shape(sizes), begin, end});
  }
  // The tensors must tile the data section: sorted by offset, each begins where the previous one
  // ends, and the last ends at the end of the file. No overlap (two tensors sharing bytes) and no
  // holes (bytes that belong to no tensor, where a polyglot file could hide something).
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.raw->index < b.raw->index;
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < covered)
      fail("load_safetensors: {}: tensor {}: data_offsets [{}, {}] overlap those of tensor {} [{}, {}]",
           source, in_quotes(e.raw->name), e.begin, e.end, in_quotes(previous->raw->name), previous->begin,
           previous->end);
    if (e.begin > covered)
      fail("load_safetensors: {}: tensor {}: data_offsets [{}, {}] leave bytes [{}, {}) of the data "
           "section unused; safetensors requires the tensors to cover it without holes",
           source, in_quotes(e.raw->name), e.begin, e.end, covered, e.begin);
    covered = e.end;
    previous = &e;
  }
  if (covered != data_size)
    fail("load_safetensors: {}: {} bytes of trailing data: the tensors end at byte {} of the data "
         "section, which is {} bytes long", source, data_size - covered, covered, data_size);
  return entries;
}

SafetensorsFile read_safetensors(const ByteSource& src, const std::string& source) {
  const uint64_t file_size = src.size();
  if (file_size < 8)
    fail("load_safetensors: {}: the file is {} bytes long, too short to hold the 8-byte header "
         "size: is it a safetensors file?", source, file_size);
  unsigned char size_bytes[8];
  src.read(0, 8, size_bytes);
  const uint64_t header_size = load_le<uint64_t>(size_bytes);
  if (header_size > kMaxHeaderSize)
    fail("load_safetensors: {}: header size {} is larger than the {} byte limit: the file is "
         "damaged or not a safetensors file", source, header_size, kMaxHeaderSize);
  if (header_size > file_size - 8)
    fail("load_safetensors: {}: header size {} runs past the end of the file ({} bytes): the file "
         "is truncated or not a safetensors file", source, header_size, file_size);
  std::string header(header_size, '\0');
  src.read(8, header_size, header.data());
  if (header.empty() || header[0] != '{')
    fail("load_safetensors: {}: the header does not start with '{{': not a safetensors file", source);
  if (const size_t at = invalid_utf8_at(header); at != std::string::npos)
    fail("load_safetensors: {}: the header is not valid UTF-8 (byte {} of the header)", source, at);
  // JSON never holds a raw NUL, and nlohmann's parser would take one for the end of the input.
  if (const size_t at = header.find('\0'); at != std::string::npos)
    fail("load_safetensors: {}: the header is not valid JSON: a NUL byte at byte {} of the header",
         source, at);

  HeaderParser parser(source);
  json::sax_parse(header.data(), header.data() + header.size(), &parser);  // throws on error
  const uint64_t data_start = 8 + header_size;
  const std::vector<Entry> entries = check_entries(parser.entries, file_size - data_start, source);

  SafetensorsFile file;
  file.metadata = std::move(parser.metadata);
  std::vector<unsigned char> buffer;
  for (const Entry& e : entries) {
    Tensor t = empty(e.shape);
    const uint64_t nbytes = e.end - e.begin;
    if (e.dtype->dtype == kNativeDtype && std::endian::native == std::endian::little) {
      src.read(data_start + e.begin, nbytes, t.data());
    } else {
      // In chunks, so a large tensor needs no second buffer of its size.
      const int64_t chunk = (int64_t{1} << 20) / static_cast<int64_t>(e.dtype->size);
      buffer.resize(static_cast<size_t>(std::min<int64_t>(chunk, t.numel())) * e.dtype->size);
      for (int64_t done = 0; done < t.numel(); done += chunk) {
        const int64_t n = std::min(chunk, t.numel() - done);
        src.read(data_start + e.begin + static_cast<uint64_t>(done) * e.dtype->size,
                 static_cast<size_t>(n) * e.dtype->size, buffer.data());
        convert(e.dtype->dtype, buffer.data(), n, t.data() + done);
      }
    }
    file.tensors.insert(e.raw->name, t);
    file.dtypes.emplace(e.raw->name, e.dtype->name);
  }
  return file;
}

// ---- writing ----
// The header and the tensors in file order, checked before any file is touched.
struct Prepared {
  std::string header;  // padded with spaces to a multiple of 8
  std::vector<std::pair<std::string, Tensor>> tensors;
};

Prepared prepare(const StateDict& tensors, const Metadata& metadata, const char* op) {
  auto check_text = [op](const std::string& text, const char* what) {
    if (const size_t at = invalid_utf8_at(text); at != std::string::npos)
      fail("{}: {} {} is not valid UTF-8 (byte {}): safetensors headers are UTF-8 JSON", op, what,
           in_quotes(text), at);
  };
  Prepared out;
  std::string h("{");
  if (!metadata.empty()) {
    h += fmt::format("\"{}\":{{", kMetadataKey);
    bool first = true;
    for (const auto& [key, value] : metadata) {
      check_text(key, "metadata key");
      check_text(value, "metadata value");
      h += fmt::format("{}{}:{}", first ? "" : ",", json(key).dump(), json(value).dump());
      first = false;
    }
    h += "}";
  }
  const char* dtype = safetensors_native_dtype();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    check_text(name, "tensor name");
    TS_CHECK(name != kMetadataKey, "{}: a tensor cannot be named '{}': safetensors reserves that key "
             "for the metadata", op, kMetadataKey);
    TS_CHECK(t.defined(), "{}: tensor {} is undefined: every entry of the state dict needs data", op,
             in_quotes(name));
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * sizeof(scalar_t);
    h += fmt::format("{}{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                     h.size() > 1 ? "," : "", json(name).dump(), dtype, fmt::join(t.shape(), ","),
                     offset, offset + nbytes);
    offset += nbytes;
    out.tensors.emplace_back(name, t);
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');  // so the data starts 8-byte aligned
  out.header = std::move(h);
  return out;
}

// Writes a prepared file through write(bytes, n).
void emit(const Prepared& prepared, const std::function<void(const char*, size_t)>& write) {
  unsigned char size_bytes[8];
  store_le<uint64_t>(prepared.header.size(), size_bytes);
  write(reinterpret_cast<const char*>(size_bytes), 8);
  write(prepared.header.data(), prepared.header.size());
  std::vector<unsigned char> buffer;
  for (const auto& [name, t] : prepared.tensors) {
    const size_t n = static_cast<size_t>(t.numel());
    if constexpr (std::endian::native == std::endian::little) {
      write(reinterpret_cast<const char*>(t.data()), n * sizeof(scalar_t));
    } else {
      using Bits = std::conditional_t<sizeof(scalar_t) == 8, uint64_t, uint32_t>;
      buffer.resize(n * sizeof(scalar_t));
      for (size_t i = 0; i < n; ++i)
        store_le(std::bit_cast<Bits>(t.data()[i]), buffer.data() + i * sizeof(scalar_t));
      write(reinterpret_cast<const char*>(buffer.data()), buffer.size());
    }
  }
}

// Writes a file by way of a temporary in the same directory, fsync and rename, so `path` holds
// either its old content or the complete new one. On failure the temporary is removed.
void write_atomically(const std::string& path, const char* op,
                      const std::function<void(const std::function<void(const char*, size_t)>&)>& produce) {
  namespace fs = std::filesystem;
  TS_CHECK(!path.empty(), "{}: the path is empty", op);
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    fail("{}: cannot write '{}': {} '{}' {}", op, path, "directory", dir.string(),
         fs::exists(dir, ec) ? "is not a directory" : "does not exist");
  if (fs::is_directory(target, ec)) fail("{}: cannot write '{}': it is a directory", op, path);

  static std::atomic<uint64_t> counter{0};
  const std::string temp = fmt::format("{}.tmp.{}.{}", path, ::getpid(), counter++);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    const int err = errno;
    fail("{}: cannot create a file in directory '{}' (for '{}'): {}{}", op, dir.string(), path,
         std::strerror(err), err == EACCES || err == EPERM || err == EROFS ? ": is it writable?" : "");
  }
  try {
    struct stat old_file {};
    if (::stat(path.c_str(), &old_file) == 0) (void)::fchmod(fd, old_file.st_mode & 07777);  // keep its mode
    // Small writes (the header, small tensors) are gathered into one buffer.
    std::vector<char> buffer;
    constexpr size_t kBuffer = size_t{1} << 20;
    buffer.reserve(kBuffer);
    auto write_fully = [&](const char* p, size_t n) {
      while (n > 0) {
        const ssize_t done = ::write(fd, p, n);
        if (done < 0 && errno == EINTR) continue;
        if (done < 0) fail("{}: writing '{}' failed: {} (the old file, if any, is untouched)", op, path,
                           std::strerror(errno));
        p += done;
        n -= static_cast<size_t>(done);
      }
    };
    auto flush = [&] {
      write_fully(buffer.data(), buffer.size());
      buffer.clear();
    };
    produce([&](const char* p, size_t n) {
      if (buffer.size() + n > kBuffer) flush();
      if (n >= kBuffer) write_fully(p, n);
      else buffer.insert(buffer.end(), p, p + n);
    });
    flush();
    if (::fsync(fd) != 0) fail("{}: flushing '{}' to disk failed: {}", op, path, std::strerror(errno));
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) fail("{}: closing '{}' failed: {}", op, path, std::strerror(errno));
    if (::rename(temp.c_str(), path.c_str()) != 0)
      fail("{}: cannot replace '{}': {}", op, path, std::strerror(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  // Make the rename itself durable (best effort: some file systems refuse fsync on a directory).
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    (void)::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace

const char* safetensors_native_dtype() { return sizeof(scalar_t) == 8 ? "F64" : "F32"; }

std::string safetensors_bytes(const StateDict& tensors, const Metadata& metadata) {
  const Prepared prepared = prepare(tensors, metadata, "safetensors_bytes");
  std::string out;
  emit(prepared, [&out](const char* p, size_t n) { out.append(p, n); });
  return out;
}

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata) {
  const Prepared prepared = prepare(tensors, metadata, "save_safetensors");
  write_atomically(path, "save_safetensors", [&](const auto& write) { emit(prepared, write); });
}

SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& source) {
  return read_safetensors(MemorySource(bytes), source);
}

SafetensorsFile load_safetensors(const std::string& path) { return read_safetensors(FileSource(path), path); }

void save(const Module& module, const std::string& path, const Metadata& metadata) {
  Metadata with_format = metadata;
  with_format.emplace("format", "pt");  // keeps the caller's "format" if there is one
  save_safetensors(path, module.state_dict(), with_format);
}

void load(Module& module, const std::string& path, bool strict) {
  const SafetensorsFile file = load_safetensors(path);
  try {
    module.load_state_dict(file.tensors, strict);
  } catch (const Error& e) {
    fail("load: {}: {}", path, e.what());
  }
}

}  // namespace tessera::nn
