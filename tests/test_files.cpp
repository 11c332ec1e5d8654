// Tests for examples/common/files.h and base64.h.
#include <doctest/doctest.h>

#include "tests/examples_helpers.h"

#include <sys/stat.h>
#include <zlib.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "examples/common/base64.h"
#include "examples/common/files.h"
#include "tests/helpers.h"

using namespace examples;
using tessera::testing::throws_with;
namespace fs = std::filesystem;

using tessera::testing::TempDir;

namespace {


}  // namespace

TEST_CASE("files: write_file_atomically then read_file gives the bytes back, and overwrites") {
  TempDir dir;
  const std::string path = (dir.path / "out.txt").string();
  const std::string bytes("line 1\n\0binary\xFF", 15);
  write_file_atomically(path, bytes);
  CHECK(read_file(path) == bytes);
  ::chmod(path.c_str(), 0600);
  write_file_atomically(path, "second");
  CHECK(read_file(path) == "second");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);  // the old file's mode is kept
  write_file_atomically(path, "");
  CHECK(read_file(path).empty());
  // No temporary is left behind.
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path)) ++files;
  CHECK(files == 1);
}

TEST_CASE("files: errors name the path and the reason") {
  TempDir dir;
  const std::string missing = (dir.path / "nope.txt").string();
  CHECK(throws_with([&] { read_file(missing); }, "read_file: cannot open '" + missing + "': No such file"));
  CHECK(throws_with([&] { read_file(dir.path.string()); }, "Is a directory"));
  const std::string in_missing_dir = (dir.path / "no_dir" / "x.txt").string();
  CHECK(throws_with([&] { write_file_atomically(in_missing_dir, "x"); }, "does not exist"));
  CHECK(throws_with([&] { write_file_atomically(dir.path.string(), "x"); }, "it is a directory"));
  CHECK(throws_with([&] { write_file_atomically("", "x"); }, "the path is empty"));
  if (::geteuid() != 0) {  // root may write anywhere
    fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);
    CHECK(throws_with([&] { write_file_atomically((dir.path / "y.txt").string(), "x"); }, "Permission denied"));
    fs::permissions(dir.path, fs::perms::owner_all);
  }
}

TEST_CASE("files: read_gzip_file inflates gzip files and rejects damaged ones") {
  TempDir dir;
  const std::string path = (dir.path / "data.gz").string();
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i) + "\n";
  gzFile gz = gzopen(path.c_str(), "wb");
  REQUIRE(gz != nullptr);
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  CHECK(read_gzip_file(path) == text);
  const std::string compressed = read_file(path);
  CHECK(compressed.size() < text.size() / 3);
  write_file_atomically(path, compressed.substr(0, compressed.size() / 2));  // truncated
  CHECK(throws_with([&] { read_gzip_file(path); }, "read_gzip_file: '" + path + "' is damaged"));
  write_file_atomically(path, "plain text");  // no gzip header: read as it is
  CHECK(read_gzip_file(path) == "plain text");
  CHECK(throws_with([&] { read_gzip_file((dir.path / "missing.gz").string()); }, "No such file"));
}

TEST_CASE("base64: RFC 4648 test vectors, round trips of every byte, and bad input") {
  // RFC 4648 section 10.
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    CHECK(base64_encode(plain) == encoded);
    CHECK(base64_decode(encoded) == plain);
  }
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (size_t n = 0; n <= all.size(); n += 37) CHECK(base64_decode(base64_encode(all.substr(0, n))) == all.substr(0, n));
  CHECK(base64_decode(base64_encode(all)) == all);
  CHECK(throws_with([] { base64_decode("Zm9"); }, "not a multiple of 4"));
  CHECK(throws_with([] { base64_decode("Zm9v*A=="); }, "character 4 ('*')"));
  CHECK(throws_with([] { base64_decode("Z=9v"); }, "character 1 ('=')"));
  CHECK(throws_with([] { base64_decode("Zg=A"); }, "character 2 ('=')"));
  CHECK(throws_with([] { base64_decode("Zg==Zm9v"); }, "character 2 ('=')"));
}
