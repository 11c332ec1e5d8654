// tests/test_safetensors.cpp — safetensors checkpoints: exact bytes, round trips, hand-built files,
// one test per kind of damage, atomic saves, module save/load, and a seeded corruption loop.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>

#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/safetensors.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;
namespace fs = std::filesystem;

namespace {

// A fresh directory, removed with everything in it at scope exit.
struct TempDir {
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() / fmt::format("tessera_safetensors_{}_{}", ::getpid(), counter++);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  fs::path path;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <class U>
std::string le(U value) {
  std::string out(sizeof(U), '\0');
  for (size_t i = 0; i < sizeof(U); ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  return out;
}

std::string f32_bytes(const std::vector<float>& values) {
  std::string out;
  for (float v : values) out += le(std::bit_cast<uint32_t>(v));
  return out;
}
std::string f64_bytes(const std::vector<double>& values) {
  std::string out;
  for (double v : values) out += le(std::bit_cast<uint64_t>(v));
  return out;
}
std::string u16_bytes(const std::vector<uint16_t>& values) {
  std::string out;
  for (uint16_t v : values) out += le(v);
  return out;
}
// The bytes of values written as this build's native dtype.
std::string native_bytes(const std::vector<double>& values) {
  if (kDouble) return f64_bytes(values);
  return f32_bytes(std::vector<float>(values.begin(), values.end()));
}

// 8-byte little-endian header size, header, data: a safetensors file per the spec.
std::string make_file(const std::string& header, const std::string& data) {
  return le<uint64_t>(header.size()) + header + data;
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) {
    MESSAGE("shapes differ: " << a.shape().str() << " vs " << b.shape().str());
    return false;
  }
  return std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(scalar_t)) == 0;
}

scalar_t nan_with_payload() {
  if constexpr (sizeof(scalar_t) == 8) return std::bit_cast<double>(uint64_t{0x7FF8000000000123});
  else return std::bit_cast<float>(uint32_t{0x7FC00123});
}

// A state dict with every awkward case: rank 0, empty, rank 8, special values, > 1 MiB.
nn::StateDict awkward_state() {
  Generator gen(7);
  nn::StateDict state;
  state.insert("encoder.layers.0.weight", randn({3, 4}, &gen));
  state.insert("encoder.layers.0.bias", randn({4}, &gen));
  state.insert("step", scalar_tensor(1000));
  state.insert("empty", zeros({0, 3}));
  state.insert("empty_1d", zeros({0}));
  state.insert("rank8", randn({1, 2, 1, 2, 1, 2, 1, 2}, &gen));
  const scalar_t inf = std::numeric_limits<scalar_t>::infinity();
  state.insert("special", from_vector({0, -0.0, inf, -inf, nan_with_payload(),
                                       std::numeric_limits<scalar_t>::denorm_min(),
                                       std::numeric_limits<scalar_t>::max(),
                                       std::numeric_limits<scalar_t>::lowest()}));
  state.insert("big", randn({600, 500}, &gen));  // larger than the writer's 1 MiB buffer
  state.insert("a_name_after_big", randn({2}, &gen));
  return state;
}

const std::map<std::string, std::string> kAwkwardMetadata = {
    {"format", "pt"},
    {"note", "quote \" backslash \\ newline \n tab \t"},
    {"ünïcödé 名前", "値"},
    {"empty", ""},
};

}  // namespace

TEST_CASE("safetensors: a state dict round-trips bit-identically, with its order and metadata") {
  TempDir dir;
  const nn::StateDict state = awkward_state();
  const std::string path = dir.file("model.safetensors");
  nn::save_safetensors(path, state, kAwkwardMetadata);
  const nn::SafetensorsFile file = nn::load_safetensors(path);

  REQUIRE(file.tensors.size() == state.size());
  auto loaded = file.tensors.begin();
  for (const auto& [name, t] : state) {
    CHECK(loaded->first == name);  // the StateDict's order survives
    CHECK(bit_identical(loaded->second, t));
    CHECK(file.dtypes.at(name) == nn::safetensors_native_dtype());
    CHECK_FALSE(loaded->second.requires_grad());
    ++loaded;
  }
  CHECK(file.metadata == kAwkwardMetadata);
  CHECK(file.tensors.at("step").dim() == 0);
  CHECK(file.tensors.at("empty").shape() == Shape{0, 3});

  // The file is exactly what safetensors_bytes gives, and saving again gives the same bytes.
  const std::string bytes = read_bytes(path);
  CHECK(bytes == nn::safetensors_bytes(state, kAwkwardMetadata));
  nn::save_safetensors(path, state, kAwkwardMetadata);
  CHECK(read_bytes(path) == bytes);

  // Layout: the header size is a multiple of 8, the header is an object, data follows it.
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);  // the test machine is little-endian
  CHECK(header_size % 8 == 0);
  CHECK(bytes[8] == '{');
  int64_t elements = 0;
  for (const auto& [name, t] : state) elements += t.numel();
  CHECK(bytes.size() == 8 + header_size + static_cast<uint64_t>(elements) * sizeof(scalar_t));
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});  // no temporary left

  // An empty state dict round-trips too.
  nn::save_safetensors(path, nn::StateDict());
  CHECK(nn::load_safetensors(path).tensors.size() == 0);
}

TEST_CASE("safetensors: the writer's bytes follow the spec exactly") {
  const std::string dtype = nn::safetensors_native_dtype();
  const std::string offsets_end = kDouble ? "48" : "24";  // 6 elements of 8 or 4 bytes

  // A 64-byte header needs no padding.
  nn::StateDict state;
  state.insert("attn.0", from_vector({0, 1, 2, 3, 4, 5}, {1, 2, 3}));
  std::string header = "{\"attn.0\":{\"dtype\":\"" + dtype + "\",\"shape\":[1,2,3],\"data_offsets\":[0," +
                       offsets_end + "]}}";
  REQUIRE(header.size() == 64);
  CHECK(nn::safetensors_bytes(state) == make_file(header, native_bytes({0, 1, 2, 3, 4, 5})));

  // One more dimension makes it 65 bytes: padded with 7 spaces to 72, so data is 8-byte aligned.
  nn::StateDict state4;
  state4.insert("attn0", from_vector({0, 1, 2, 3, 4, 5}, {1, 1, 2, 3}));
  header = "{\"attn0\":{\"dtype\":\"" + dtype + "\",\"shape\":[1,1,2,3],\"data_offsets\":[0," + offsets_end +
           "]}}";
  REQUIRE(header.size() == 65);
  CHECK(nn::safetensors_bytes(state4) == make_file(header + std::string(7, ' '), native_bytes({0, 1, 2, 3, 4, 5})));

  // The example in docs/checkpoints.md, byte for byte (0.5 is 00 00 00 3f, -1 is 00 00 80 bf).
  if (!kDouble) {
    nn::StateDict w;
    w.insert("w", from_vector({0.5, -1}));
    CHECK(nn::safetensors_bytes(w, {{"format", "pt"}}) ==
          std::string("\x58\0\0\0\0\0\0\0", 8) +
              R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}   )" +
              std::string("\0\0\0\x3f\0\0\x80\xbf", 8));
  }

  // No tensors: "{}" padded to 8; metadata comes first under "__metadata__".
  CHECK(nn::safetensors_bytes(nn::StateDict()) == make_file("{}      ", ""));
  CHECK(nn::safetensors_bytes(nn::StateDict(), {{"framework", "pt"}}) ==
        make_file("{\"__metadata__\":{\"framework\":\"pt\"}}     ", ""));
}

TEST_CASE("safetensors: a file built by hand from the spec loads to the right values") {
  // Keys in a different order from the data, pretty-printed JSON, every readable dtype, a rank-0
  // and an empty tensor, metadata, and trailing spaces after the JSON.
  const std::string data = f32_bytes({2.5f}) +                                      // [0, 4)
                           f64_bytes({0.1, -1e300}) +                               // [4, 20)
                           u16_bytes({0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x03FF,  // [20, 36)
                                      0x7C00, 0x7E00}) +
                           u16_bytes({0x3F80, 0xBF00, 0x4049});                     // [36, 42)
  const std::string header = R"({
    "bf": {"dtype": "BF16", "shape": [3], "data_offsets": [36, 42]},
    "__metadata__": {"format": "pt", "source": "by hand"},
    "half": {"shape": [2, 4], "dtype": "F16", "data_offsets": [20, 36]},
    "nothing": {"dtype": "F32", "shape": [0, 5], "data_offsets": [20, 20]},
    "double": {"dtype": "F64", "shape": [2], "data_offsets": [4, 20]},
    "scalar": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}
  }   )";
  TempDir dir;
  const std::string path = dir.file("by_hand.safetensors");
  write_bytes(path, make_file(header, data));
  const nn::SafetensorsFile file = nn::load_safetensors(path);

  std::vector<std::string> names;
  for (const auto& [name, t] : file.tensors) names.push_back(name);
  // In data order; "nothing" (empty, at offset 20) sorts before "half" (also at 20, but longer).
  CHECK(names == std::vector<std::string>{"scalar", "double", "nothing", "half", "bf"});
  CHECK(file.metadata == std::map<std::string, std::string>{{"format", "pt"}, {"source", "by hand"}});
  CHECK(file.dtypes == std::map<std::string, std::string>{
                           {"bf", "BF16"}, {"half", "F16"}, {"nothing", "F32"}, {"double", "F64"}, {"scalar", "F32"}});

  const Tensor& scalar = file.tensors.at("scalar");
  CHECK(scalar.dim() == 0);
  CHECK(scalar.item() == 2.5);

  const Tensor& dbl = file.tensors.at("double");
  CHECK(dbl.data()[0] == static_cast<scalar_t>(0.1));  // rounded to nearest in the float build
  if (kDouble) {
    CHECK(dbl.data()[1] == -1e300);
  } else {
    CHECK(dbl.data()[1] == -std::numeric_limits<scalar_t>::infinity());  // beyond float's range
  }

  const Tensor& half = file.tensors.at("half");
  CHECK(half.shape() == Shape{2, 4});
  const scalar_t* h = half.data();
  CHECK(h[0] == 1);
  CHECK(h[1] == -2);
  CHECK(h[2] == 65504);                      // the largest half
  CHECK(h[3] == std::ldexp(1.0, -24));       // the smallest subnormal half
  CHECK(h[4] == 0);
  CHECK(std::signbit(h[4]));                 // -0
  CHECK(h[5] == 1023 * std::ldexp(1.0, -24));  // the largest subnormal half
  CHECK(h[6] == std::numeric_limits<scalar_t>::infinity());
  CHECK(std::isnan(h[7]));

  CHECK(all_close(file.tensors.at("bf"), {1.0, -0.5, 3.140625}, 0, 0));
  CHECK(file.tensors.at("nothing").shape() == Shape{0, 5});
}

TEST_CASE("safetensors: every kind of damage gives a clear tessera::Error naming file and tensor") {
  const std::string good_header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  const std::string good_data = f32_bytes({1, 2, 3});
  const std::string good = make_file(good_header, good_data);
  REQUIRE(nn::parse_safetensors(good).tensors.size() == 2);

  auto rejects = [](const std::string& bytes, const std::string& needle) {
    return throws_with([&] { nn::parse_safetensors(bytes, "bad.safetensors"); }, needle);
  };
  // A file with entry `a` described by `a_entry` (and no other tensor) over `data`.
  auto with_a = [](const std::string& a_entry, const std::string& data = f32_bytes({1, 2})) {
    return make_file("{\"a\":" + a_entry + "}", data);
  };

  SUBCASE("too short, header size past the end or absurd") {
    CHECK(rejects("abc", "bad.safetensors: the file is 3 bytes long, too short"));
    CHECK(rejects(le<uint64_t>(1000) + "{}", "header size 1000 runs past the end of the file (10 bytes)"));
    CHECK(rejects(le<uint64_t>(uint64_t{1} << 62) + "{}", "larger than the 100000000 byte limit"));
    CHECK(rejects(le<uint64_t>(~uint64_t{0}) + "{}", "larger than the 100000000 byte limit"));
    CHECK(rejects(good.substr(0, 30), "runs past the end of the file"));  // truncated header
  }
  SUBCASE("truncated data, trailing data") {
    CHECK(rejects(good.substr(0, good.size() - 2),
                  "tensor 'b': data_offsets [8, 12] run past the end of the data section (10 bytes)"));
    CHECK(rejects(good + "xy", "2 bytes of trailing data"));
  }
  SUBCASE("not JSON, not an object, not UTF-8") {
    CHECK(rejects(make_file(R"({"a":{"dtype":"F32",)", ""), "the header is not valid JSON"));
    CHECK(rejects(make_file("[1, 2]", ""), "the header does not start with '{'"));
    CHECK(rejects(make_file(" {}", ""), "the header does not start with '{'"));
    CHECK(rejects(make_file("", ""), "the header does not start with '{'"));
    CHECK(rejects(make_file("{} x", ""), "the header is not valid JSON"));
    CHECK(rejects(make_file(std::string("{}\0\0", 4), ""), "the header is not valid JSON: a NUL byte at byte 2"));
    CHECK(rejects(make_file(std::string("{}\0{\"x\":1}", 10), ""), "a NUL byte"));  // nothing may hide after one
    CHECK(rejects(make_file("{\"a\xff\":1}", ""), "the header is not valid UTF-8 (byte 3 of the header)"));
    CHECK(rejects(make_file("{\"\xed\xa0\x80\":1}", ""), "not valid UTF-8"));  // a surrogate
    CHECK(rejects(make_file("{\"a\":3}", ""), "tensor 'a': the entry must be an object with dtype"));
  }
  SUBCASE("missing fields and unknown fields") {
    CHECK(rejects(with_a(R"({"shape":[2],"data_offsets":[0,8]})"), "tensor 'a': the entry has no dtype"));
    CHECK(rejects(with_a(R"({"dtype":"F32","data_offsets":[0,8]})"), "tensor 'a': the entry has no shape"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[2]})"), "tensor 'a': the entry has no data_offsets"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[2],"offsets":[0,8]})"), "tensor 'a': unknown field 'offsets'"));
  }
  SUBCASE("fields of the wrong type") {
    CHECK(rejects(with_a(R"({"dtype":5,"shape":[2],"data_offsets":[0,8]})"),
                  "tensor 'a': dtype must be a string like \"F32\", found a number"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":"2","data_offsets":[0,8]})"),
                  "tensor 'a': shape must be a list of non-negative integers, found a string"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,8]})"),
                  "tensor 'a': shape must hold non-negative integers, found '2.5'"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"),
                  "tensor 'a': shape has the negative value -2"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[[2]],"data_offsets":[0,8]})"),
                  "tensor 'a': shape must hold non-negative integers, found a list"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})"),
                  "tensor 'a': data_offsets must be [begin, end], found 1 value(s)"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4,8]})"),
                  "tensor 'a': data_offsets has more than 2 values"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[2],"data_offsets":null})"),
                  "tensor 'a': data_offsets must be a list of non-negative integers, found null"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]})"),
                  "tensor 'a': shape has more than 8 dimensions"));
  }
  SUBCASE("offsets out of bounds, reversed, overlapping, leaving a hole") {
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[200],"data_offsets":[0,800]})"),
                  "tensor 'a': data_offsets [0, 800] run past the end of the data section (8 bytes)"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[0],"data_offsets":[8,0]})"),
                  "tensor 'a': data_offsets [8, 0] are reversed"));
    CHECK(rejects(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f32_bytes({1, 2})),
                  "tensor 'b': data_offsets [4, 8] overlap those of tensor 'a' [0, 8]"));
    CHECK(rejects(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})", f32_bytes({1, 2, 3, 4})),
                  "tensor 'b': data_offsets [12, 16] leave bytes [8, 12) of the data section unused"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[2],"data_offsets":[4,12]})", f32_bytes({1, 2, 3})),
                  "tensor 'a': data_offsets [4, 12] leave bytes [0, 4)"));
  }
  SUBCASE("byte length that does not match shape and dtype, too many elements") {
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"),
                  "tensor 'a': data_offsets [0, 8] hold 8 bytes, but shape [3] of F32 needs 12 (3 elements of 4 bytes)"));
    CHECK(rejects(with_a(R"({"dtype":"F16","shape":[2],"data_offsets":[0,8]})"), "shape [2] of F16 needs 4"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]})", ""),
                  "tensor 'a': shape [4294967296, 4294967296, 0] has too many elements"));
    CHECK(rejects(with_a(R"({"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]})"),
                  "has too many elements"));
    CHECK(rejects(with_a(R"({"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]})"),
                  "shape must hold non-negative integers, found '99999999999999999999'"));
  }
  SUBCASE("unsupported dtypes are named") {
    CHECK(rejects(with_a(R"({"dtype":"I64","shape":[1],"data_offsets":[0,8]})"),
                  "bad.safetensors: tensor 'a': dtype 'I64' is not supported (tessera reads F32, F64, F16 and BF16"));
    CHECK(rejects(with_a(R"({"dtype":"BOOL","shape":[8],"data_offsets":[0,8]})"), "dtype 'BOOL' is not supported"));
    CHECK(rejects(with_a(R"({"dtype":"f32","shape":[2],"data_offsets":[0,8]})"), "dtype 'f32' is not supported"));
  }
  SUBCASE("duplicate keys, which plain JSON parsers silently merge") {
    CHECK(rejects(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f32_bytes({1, 2})),
                  "bad.safetensors: the name 'a' appears twice in the header"));
    CHECK(rejects(with_a(R"({"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]})"),
                  "tensor 'a': the field dtype appears twice"));
    CHECK(rejects(make_file(R"({"__metadata__":{"k":"1","k":"2"}})", ""), "__metadata__ has the key 'k' twice"));
    CHECK(rejects(make_file(R"({"__metadata__":{},"__metadata__":{}})", ""), "the name '__metadata__' appears twice"));
  }
  SUBCASE("metadata that is not a map of strings") {
    CHECK(rejects(make_file(R"({"__metadata__":{"k":1}})", ""), "__metadata__: the value of 'k' must be a string, found a number"));
    CHECK(rejects(make_file(R"({"__metadata__":[]})", ""), "__metadata__ must be an object of strings, found a list"));
    CHECK(nn::parse_safetensors(make_file(R"({"__metadata__":null})", "")).metadata.empty());  // as the reference reads it
  }
  SUBCASE("the same through a real file, and files that cannot be read") {
    TempDir dir;
    const std::string path = dir.file("broken.safetensors");
    write_bytes(path, good.substr(0, good.size() - 1));
    CHECK(throws_with([&] { nn::load_safetensors(path); }, path + ": tensor 'b': data_offsets [8, 12] run past"));
    CHECK(throws_with([&] { nn::load_safetensors(dir.file("missing.safetensors")); }, "cannot open"));
    CHECK(throws_with([&] { nn::load_safetensors(dir.path.string()); }, "is not a regular file"));
  }
  SUBCASE("names that cannot be written") {
    nn::StateDict state;
    state.insert("__metadata__", ones({1}));
    CHECK(throws_with([&] { nn::safetensors_bytes(state); }, "a tensor cannot be named '__metadata__'"));
    nn::StateDict bad_utf8;
    bad_utf8.insert("w\xc3", ones({1}));
    CHECK(throws_with([&] { nn::safetensors_bytes(bad_utf8); }, "tensor name 'w\xc3' is not valid UTF-8"));
    CHECK(throws_with([] { nn::safetensors_bytes({}, {{"k", "\xff"}}); }, "metadata value"));
  }
}

TEST_CASE("safetensors: a failed save leaves the old file intact and no temporary behind") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  nn::StateDict old_state;
  old_state.insert("w", from_vector({1, 2, 3}));
  nn::save_safetensors(path, old_state);
  const std::string old_bytes = read_bytes(path);
  auto old_file_intact = [&] {
    return read_bytes(path) == old_bytes && dir.entries() == std::vector<std::string>{"model.safetensors"};
  };

  SUBCASE("the write fails half-way (the file size limit is hit)") {
    nn::StateDict big;
    big.insert("w", zeros({1 << 18}));  // 1 MiB in float, 2 in double
    struct rlimit saved {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    struct rlimit small = saved;
    small.rlim_cur = 64 * 1024;
    void (*saved_handler)(int) = ::signal(SIGXFSZ, SIG_IGN);  // the write then fails with EFBIG
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    bool threw = throws_with([&] { nn::save_safetensors(path, big); }, "writing '" + path + "' failed: File too large");
    ::setrlimit(RLIMIT_FSIZE, &saved);
    ::signal(SIGXFSZ, saved_handler);
    CHECK(threw);
    CHECK(old_file_intact());
  }
  SUBCASE("a tensor cannot be written") {
    nn::StateDict bad;
    bad.insert("fine", ones({4}));
    bad.insert("undefined", Tensor());
    CHECK(throws_with([&] { nn::save_safetensors(path, bad); }, "tensor 'undefined' is undefined"));
    CHECK(old_file_intact());
  }
  SUBCASE("the directory does not exist or is not a directory") {
    CHECK(throws_with([&] { nn::save_safetensors(dir.file("gone/model.safetensors"), old_state); },
                      "directory '" + dir.file("gone") + "' does not exist"));
    CHECK(throws_with([&] { nn::save_safetensors(path + "/model.safetensors", old_state); }, "is not a directory"));
    CHECK(throws_with([&] { nn::save_safetensors(dir.path.string(), old_state); }, "it is a directory"));
    CHECK(old_file_intact());
  }
  SUBCASE("the directory is not writable") {
    if (::geteuid() == 0) {
      MESSAGE("skipped: root can write into read-only directories");
    } else {
      fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);
      CHECK(throws_with([&] { nn::save_safetensors(path, old_state); }, "is it writable?"));
      fs::permissions(dir.path, fs::perms::owner_all);
      CHECK(old_file_intact());
    }
  }
  SUBCASE("a successful save replaces the file") {
    nn::StateDict new_state;
    new_state.insert("v", from_vector({4, 5}));
    nn::save_safetensors(path, new_state);
    CHECK(nn::load_safetensors(path).tensors.contains("v"));
    CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
  }
}

namespace {

// A small model with a nested child and a buffer, like the layers that will be checkpointed.
struct TinyNet : nn::Module {
  TinyNet() : Module("TinyNet") {
    body = register_module("body", std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::UnaryModule>>{
                                       std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::ReLU>(),
                                       std::make_shared<nn::Linear>(8, 3)}));
    running = register_buffer("running", randn({3}));
  }
  Tensor forward(const Tensor& x) { return body->forward(x) + running; }
  std::shared_ptr<nn::Sequential> body;
  Tensor running;
};

}  // namespace

TEST_CASE("safetensors: a module saved and loaded into a fresh one has identical parameters") {
  TempDir dir;
  const std::string path = dir.file("tiny.safetensors");
  manual_seed(1);
  TinyNet trained;
  manual_seed(2);
  TinyNet fresh;
  const Tensor fresh_weight = fresh.named_parameters().front().second;  // a handle held elsewhere
  CHECK_FALSE(bit_identical(fresh.state_dict().at("body.0.weight"), trained.state_dict().at("body.0.weight")));

  nn::save(trained, path, {{"epoch", "3"}});
  nn::load(fresh, path);
  const nn::StateDict want = trained.state_dict(), got = fresh.state_dict();
  REQUIRE(got.size() == want.size());
  for (const auto& [name, t] : want) CHECK(bit_identical(got.at(name), t));
  CHECK(bit_identical(fresh_weight, trained.state_dict().at("body.0.weight")));  // loaded in place
  CHECK(fresh.named_parameters().front().second.requires_grad());

  const Tensor x = randn({5, 4});
  CHECK(bit_identical(fresh.forward(x), trained.forward(x)));
  const nn::SafetensorsFile file = nn::load_safetensors(path);
  CHECK(file.metadata == std::map<std::string, std::string>{{"epoch", "3"}, {"format", "pt"}});
  nn::save(trained, path, {{"format", "tessera"}});
  CHECK(nn::load_safetensors(path).metadata.at("format") == "tessera");  // the caller's wins
}

TEST_CASE("safetensors: a strict load that does not fit lists the names") {
  TempDir dir;
  const std::string path = dir.file("small.safetensors");
  auto make = [](std::vector<std::pair<int64_t, int64_t>> layers) {
    std::vector<std::shared_ptr<nn::UnaryModule>> modules;
    for (auto [in, out] : layers) modules.push_back(std::make_shared<nn::Linear>(in, out));
    return std::make_shared<nn::Sequential>(modules);
  };
  auto small = make({{4, 3}});
  nn::save(*small, path);

  auto bigger = make({{4, 3}, {3, 2}});
  CHECK(throws_with([&] { nn::load(*bigger, path); }, "load: " + path + ": load_state_dict"));
  CHECK(throws_with([&] { nn::load(*bigger, path); }, "missing keys (2):\n    1.weight\n    1.bias"));
  nn::load(*bigger, path, /*strict=*/false);  // loads the keys that match
  CHECK(bit_identical(bigger->state_dict().at("0.weight"), small->state_dict().at("0.weight")));

  nn::save(*bigger, path);
  CHECK(throws_with([&] { nn::load(*small, path); }, "unexpected keys (2):\n    1.weight\n    1.bias"));

  auto wider = make({{5, 3}});
  CHECK(throws_with([&] { nn::load(*wider, path, false); }, "0.weight: checkpoint [3, 4] vs model [3, 5]"));
}

TEST_CASE("safetensors: thousands of damaged files each load or throw tessera::Error, never crash") {
  // Two valid files to start from: the writer's, and a hand-built one with every readable dtype.
  Generator gen(3);
  nn::StateDict state;
  state.insert("layer.weight", randn({3, 4}, &gen));
  state.insert("layer.bias", randn({4}, &gen));
  state.insert("step", scalar_tensor(7));
  state.insert("empty", zeros({0, 2}));
  const std::string written = nn::safetensors_bytes(state, {{"format", "pt"}, {"k", "v"}});
  const std::string by_hand = make_file(
      R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[4,8]},)"
      R"("d":{"dtype":"F64","shape":[],"data_offsets":[8,16]},"__metadata__":{"a":"b"}})",
      u16_bytes({0x3C00, 0x7BFF, 0x3F80, 0xBF00}) + f64_bytes({0.25}));
  const std::vector<std::string> seeds = {written, by_hand};
  // Fragments that JSON edits splice in: structure, numbers at the edges, bad bytes.
  const std::vector<std::string> fragments = {
      "{", "}", "[", "]", ",", ":", "\"", "\"x\":", "-1", "0", "1e999", "18446744073709551616", "2.5", "null",
      "true", "\"F32\"", "\"I64\"", "\"shape\":[1]", "\"data_offsets\":[0,4]", "\"__metadata__\":{}", "\\u0000",
      "\xff", "\xc3", std::string(1, '\0'), " ", "[[[[[[[[", "]]]]]]]]", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}"};

  std::mt19937_64 rng(20261122);
  auto uniform_int = [&rng](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
  auto mutate = [&](std::string file) {
    const uint64_t header_size = std::min<uint64_t>(file.size() - 8, [&] {
      uint64_t n = 0;
      std::memcpy(&n, file.data(), 8);
      return n;
    }());
    std::string header = file.substr(8, header_size), data = file.substr(8 + header_size);
    auto rebuild = [&] { return make_file(header, data); };
    switch (uniform_int(7)) {
      case 0:  // flip bytes anywhere
        for (uint64_t k = 1 + uniform_int(4); k > 0; --k)
          file[uniform_int(file.size())] ^= static_cast<char>(1 + uniform_int(255));
        return file;
      case 1:  // truncate
        return file.substr(0, uniform_int(file.size()));
      case 2: {  // rewrite the header size
        const uint64_t choices[] = {0, 1, header_size - 1, header_size + 1, header_size + 8, file.size(),
                                    99'999'999, 100'000'001, ~uint64_t{0}, rng()};
        const std::string size = le<uint64_t>(choices[uniform_int(std::size(choices))]);
        return size + file.substr(8);
      }
      case 3:  // JSON edit: replace, delete or insert at a random place, header size kept right
        for (uint64_t k = 1 + uniform_int(3); k > 0 && !header.empty(); --k) {
          const size_t at = uniform_int(header.size());
          switch (uniform_int(4)) {
            case 0: header[at] = "0123456789{}[]\",:-. e"[uniform_int(21)]; break;
            case 1: header.erase(at, 1 + uniform_int(8)); break;
            case 2: header.insert(at, fragments[uniform_int(fragments.size())]); break;
            default: header.insert(at, header.substr(uniform_int(header.size()), uniform_int(40))); break;
          }
        }
        return rebuild();
      case 4:  // change a digit inside the header (offsets, shapes) to another digit
        for (uint64_t k = 1 + uniform_int(2); k > 0; --k) {
          const size_t at = uniform_int(header.size());
          for (size_t i = at; i < header.size(); ++i)
            if (header[i] >= '0' && header[i] <= '9') {
              header[i] = static_cast<char>('0' + uniform_int(10));
              break;
            }
        }
        return rebuild();
      case 5:  // grow or shrink the data section
        if (uniform_int(2) == 0) data += std::string(1 + uniform_int(9), '\x7f');
        else data.resize(data.size() - std::min<size_t>(data.size(), 1 + uniform_int(9)));
        return rebuild();
      default:  // random bytes in the header
        for (uint64_t k = 1 + uniform_int(3); k > 0 && !header.empty(); --k)
          header[uniform_int(header.size())] = static_cast<char>(uniform_int(256));
        return rebuild();
    }
  };

  int loaded = 0, rejected = 0, other = 0;
  for (int i = 0; i < 6000; ++i) {
    std::string bytes = mutate(seeds[uniform_int(seeds.size())]);
    if (uniform_int(4) == 0 && bytes.size() >= 8) bytes = mutate(bytes);  // sometimes twice
    try {
      const nn::SafetensorsFile file = nn::parse_safetensors(bytes, "fuzzed");
      for (const auto& [name, t] : file.tensors) {
        REQUIRE(file.dtypes.count(name) == 1);
        REQUIRE(t.numel() == t.shape().numel());
      }
      ++loaded;
    } catch (const Error& e) {
      if (std::string(e.what()).find("fuzzed") == std::string::npos) {
        MESSAGE("an error that does not name the file: " << e.what());
        ++other;
      }
      ++rejected;
    } catch (const std::exception& e) {
      MESSAGE("iteration " << i << " threw something other than tessera::Error: " << e.what());
      ++other;
    }
  }
  MESSAGE(loaded << " damaged copies loaded, " << rejected << " were rejected");
  CHECK(other == 0);
  CHECK(loaded > 100);
  CHECK(rejected > 3000);
}
