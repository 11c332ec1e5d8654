// tests/examples_helpers.h — what the examples' tests share: a scratch directory and a bitwise
// comparison of two state dicts (for "resume continues bit for bit").
#pragma once

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>

#include "nn/module.h"

namespace tessera::testing {

// A fresh empty directory under the system's temporary directory, removed at the end; the
// name holds the process id and a counter, so parallel test runs do not collide.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("tessera_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Every parameter drawn uniformly from [-1, 1] (a fixed generator): weights large enough that a
// model's greedy choices are far from ties.
inline void randomize_parameters(nn::Module& module, uint64_t seed) {
  Generator gen(seed);
  NoGradGuard no_grad;
  for (Tensor p : module.parameters()) {
    const Tensor r = uniform(p.shape(), -1, 1, &gen);
    std::copy(r.data(), r.data() + r.numel(), p.data());
  }
}

// Same names, and every tensor equal bit for bit (the first difference is reported).
inline bool same_state(const nn::StateDict& a, const nn::StateDict& b) {
  if (a.size() != b.size()) {
    MESSAGE("sizes differ: " << a.size() << " vs " << b.size());
    return false;
  }
  for (const auto& [name, tensor] : a) {
    if (!b.contains(name)) {
      MESSAGE("missing: " << name);
      return false;
    }
    if (tensor.to_vector() != b.at(name).to_vector()) {
      MESSAGE("differs: " << name);
      return false;
    }
  }
  return true;
}

}  // namespace tessera::testing
