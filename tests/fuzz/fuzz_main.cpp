// tests/fuzz/fuzz_main.cpp — the libFuzzer entry of one target (tests/fuzz/targets.h), compiled once
// per target with TESSERA_FUZZ_TARGET set to its name (tests/fuzz/meson.build). A tessera::Error is
// the reader's answer to bad bytes; any other exception escapes and libFuzzer reports it as a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/error.h"
#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const tessera::fuzz::FuzzTarget& target = tessera::fuzz::fuzz_target(TESSERA_FUZZ_TARGET);
  try {
    target.run(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const tessera::Error&) {
  }
  return 0;
}
