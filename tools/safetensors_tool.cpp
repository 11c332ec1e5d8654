// tools/safetensors_tool.cpp — look into a safetensors file with tessera's reader, or write the
// sample checkpoint that tools/safetensors_interop.py checks from PyTorch and NumPy.
//
//   safetensors_tool dump FILE     the metadata and every tensor (name, dtype in the file, shape,
//                                  values as tessera loaded them) as one JSON object on stdout;
//                                  values are strings in the shortest form that reads back to the
//                                  same float ("1.5", "-0", "inf", "nan"). A bad file: the
//                                  tessera::Error on stderr, exit status 1.
//   safetensors_tool sample FILE   writes the sample (see write_sample) with nn::save_safetensors.
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nn/linear.h"
#include "nn/safetensors.h"

using namespace tessera;

namespace {

int dump(const std::string& path) {
  const nn::SafetensorsFile file = nn::load_safetensors(path);
  nlohmann::ordered_json out;
  out["metadata"] = file.metadata;
  out["tensors"] = nlohmann::ordered_json::array();
  for (const auto& [name, t] : file.tensors) {
    nlohmann::ordered_json values = nlohmann::ordered_json::array();
    for (int64_t i = 0; i < t.numel(); ++i) values.push_back(fmt::format("{}", t.data()[i]));
    out["tensors"].push_back({{"name", name}, {"dtype", file.dtypes.at(name)}, {"shape", t.shape().vec()},
                              {"values", values}});
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// Values both sides can compute: a ramp, a rank-0 and an empty tensor, special floats, and a
// Linear layer (seed 0) with its output on the ramp, which the script recomputes with torch.
int write_sample(const std::string& path) {
  nn::StateDict state;
  std::vector<scalar_t> ramp;
  for (int i = 0; i < 6; ++i) ramp.push_back(static_cast<scalar_t>(i * 0.25 - 0.5));
  const Tensor x = from_vector(ramp, {2, 3});
  state.insert("ramp", x);
  state.insert("scalar", scalar_tensor(3.25));
  state.insert("empty", zeros({0, 4}));
  const scalar_t inf = std::numeric_limits<scalar_t>::infinity();
  state.insert("special", from_vector({0, -0.0, inf, -inf, std::numeric_limits<scalar_t>::quiet_NaN(),
                                       static_cast<scalar_t>(1e-40), std::numeric_limits<scalar_t>::max(), -1.5}));
  manual_seed(0);
  nn::Linear linear(3, 2);
  for (const auto& [name, t] : linear.state_dict()) state.insert("linear." + name, t);
  state.insert("linear_output", linear.forward(x).detach());  // [2, 2]
  nn::save_safetensors(path, state, {{"format", "pt"}, {"producer", "tessera safetensors_tool"}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc == 3 ? argv[1] : "";
  if (command != "dump" && command != "sample") {
    std::fprintf(stderr, "usage: safetensors_tool dump FILE | safetensors_tool sample FILE\n");
    return 2;
  }
  try {
    return command == "dump" ? dump(argv[2]) : write_sample(argv[2]);
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
