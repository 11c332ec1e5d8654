// Replays every fuzz target's seed corpus and found crashes (tests/fuzz/targets.h) in ./run test:
// tests/fuzz/corpus/<target>/* are valid inputs and must parse; tests/fuzz/regressions/<target>/*
// once crashed a reader (or broke an invariant) and must now parse or throw tessera::Error.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/error.h"
#include "examples/common/files.h"
#include "tests/fuzz/targets.h"

namespace fs = std::filesystem;
using tessera::fuzz::FuzzTarget;
using tessera::fuzz::fuzz_targets;

namespace {

const fs::path kFuzzDir = TESSERA_FUZZ_DIR;

// The files of a directory, sorted (none when it does not exist).
std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

// What the target says about one input: "" when it parsed, "error: ..." for a tessera::Error, and
// "BUG: ..." for anything else.
std::string outcome(const FuzzTarget& target, const fs::path& file) {
  const std::string bytes = examples::read_file(file.string());
  try {
    target.run(bytes);
    return "";
  } catch (const tessera::Error& e) {
    return std::string("error: ") + e.what();
  } catch (const std::exception& e) {
    return std::string("BUG: ") + e.what();
  }
}

}  // namespace

TEST_CASE("fuzz: every target's seed corpus parses") {
  for (const FuzzTarget& target : fuzz_targets()) {
    const std::vector<fs::path> seeds = files_in(kFuzzDir / "corpus" / target.name);
    INFO("target ", target.name);
    CHECK(!seeds.empty());
    for (const fs::path& seed : seeds) {
      INFO("seed ", seed.string());
      CHECK(outcome(target, seed) == "");
    }
  }
}

TEST_CASE("fuzz: inputs that once crashed a reader now parse or give tessera::Error") {
  size_t replayed = 0;
  for (const FuzzTarget& target : fuzz_targets()) {
    for (const fs::path& input : files_in(kFuzzDir / "regressions" / target.name)) {
      const std::string result = outcome(target, input);
      INFO("target ", target.name, ", input ", input.string(), ": ", result);
      CHECK(result.rfind("BUG: ", 0) == std::string::npos);
      ++replayed;
    }
  }
  MESSAGE(replayed, " fuzz regression inputs replayed");
}
