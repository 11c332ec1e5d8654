// examples/common/state_dict.h — one checkpoint file holding several state dicts (model,
// optimizer, schedule), told apart by a name prefix: "model.encoder.layers.0...",
// "optimizer.state.0.exp_avg", "scheduler.last_epoch". Header-only: it needs nn/, which the
// rest of examples/common does not.
#pragma once

#include <string>

#include "nn/module.h"

namespace examples {

// Copies every entry of `from` into `into` under `prefix` + its name.
inline void add_prefixed(tessera::nn::StateDict& into, const std::string& prefix, const tessera::nn::StateDict& from) {
  for (const auto& [name, tensor] : from) into.insert(prefix + name, tensor);
}

// The entries of `all` whose names start with `prefix`, with the prefix removed.
inline tessera::nn::StateDict with_prefix(const tessera::nn::StateDict& all, const std::string& prefix) {
  tessera::nn::StateDict out;
  for (const auto& [name, tensor] : all)
    if (name.rfind(prefix, 0) == 0) out.insert(name.substr(prefix.size()), tensor);
  return out;
}

}  // namespace examples
