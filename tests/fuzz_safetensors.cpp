// tests/fuzz_safetensors.cpp — a libFuzzer target for the safetensors reader: any input must
// either parse or throw tessera::Error; anything else (a crash, another exception, an
// AddressSanitizer or UBSan report) is a bug. Not part of ./run test, which runs the seeded
// corruption loop in tests/test_safetensors.cpp instead.
//
// Build by hand with clang (Debian: clang, libclang-rt-14-dev), from the repository root, after
// `ninja -C build` has built the float libraries; nn/safetensors.cpp is compiled again with the
// fuzzer's instrumentation, the rest links from the build:
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//     -I/usr/include/x86_64-linux-gnu/openblas-openmp tests/fuzz_safetensors.cpp nn/safetensors.cpp \
//     build/nn/libtessera_nn.a build/engine/libtessera_engine.a -lfmt -lgomp \
//     -L/usr/lib/x86_64-linux-gnu/openblas-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp \
//     -lopenblas -o build/fuzz_safetensors
//   mkdir -p build/fuzz_corpus && build/tools/safetensors_tool sample build/fuzz_corpus/sample.safetensors
//   build/fuzz_safetensors -max_total_time=300 build/fuzz_corpus
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "nn/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const tessera::nn::SafetensorsFile file =
        tessera::nn::parse_safetensors(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    double sum = 0;  // touch every value, so a wrong size shows up here
    for (const auto& [name, t] : file.tensors)
      for (int64_t i = 0; i < t.numel(); ++i) sum += t.data()[i];
    volatile double keep = sum;
    (void)keep;
  } catch (const tessera::Error&) {
  }
  return 0;
}
