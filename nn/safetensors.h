// tessera/nn/safetensors.h — checkpoints in the safetensors format (Hugging Face's; what PyTorch,
// JAX and NumPy users exchange weights in).
//
// A file is three parts (docs/checkpoints.md has a byte-level example):
//   8 bytes   N, the header size, an unsigned 64-bit little-endian integer
//   N bytes   a UTF-8 JSON object: {"name": {"dtype": "F32", "shape": [2, 3],
//             "data_offsets": [begin, end]}, ..., "__metadata__": {"key": "value", ...}}
//             offsets count from the first byte after the header, end exclusive; the header may
//             be padded with trailing spaces (tessera pads it to a multiple of 8, as the
//             reference writer does, so the data that follows is 8-byte aligned)
//   the rest  the tensors' raw little-endian, row-major bytes, exactly tiled by the offsets
//
// Writing: tensors go out in the StateDict's order, as F32 in the float build and F64 in the
// double build (so a save/load round trip is bit-identical in both). The file is written to a
// temporary name in the same directory, fsync'ed and renamed over the target: a crash or an error
// leaves the old file (if any) untouched and no temporary file behind.
// Reading: every number in the file is checked before it is used (see docs/checkpoints.md for the
// list); a bad file throws tessera::Error naming the file, the tensor and what is wrong — never a
// crash or a read out of bounds. F32, F64, F16 and BF16 tensors are converted to scalar_t; other
// dtypes (I64, BOOL, …) are rejected by name.
//
//   nn::save(*model, "model.safetensors", {{"step", "1000"}});
//   nn::load(*model, "model.safetensors");                 // strict: names and shapes must match
//   nn::SafetensorsFile f = nn::load_safetensors("model.safetensors");
//   Tensor w = f.tensors.at("0.weight");
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "nn/module.h"

namespace tessera::nn {

// What a safetensors file holds, converted to scalar_t.
struct SafetensorsFile {
  StateDict tensors;                                // in the order of their data in the file
  std::map<std::string, std::string> metadata;      // the "__metadata__" object (may be empty)
  std::map<std::string, std::string> dtypes;        // name -> dtype in the file: "F32", "BF16", …
};

// The dtype this build writes: "F32" (float build) or "F64" (double build).
const char* safetensors_native_dtype();

// Writes `tensors` (every one defined) and `metadata` to `path`, atomically (see above). Throws
// tessera::Error when the directory does not exist or is not writable, when a name is not valid
// UTF-8 or is "__metadata__", or when any write fails.
void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads and validates a whole file.
SafetensorsFile load_safetensors(const std::string& path);

// The same two in memory: the exact bytes save_safetensors writes, and a parse of such bytes with
// the same validation (`source` names the bytes in error messages). For tests, fuzzing, network.
std::string safetensors_bytes(const StateDict& tensors, const std::map<std::string, std::string>& metadata = {});
SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& source = "<memory>");

// Module checkpoints: save writes module.state_dict() (parameters and buffers by hierarchical
// name) and adds the metadata {"format": "pt"} unless `metadata` has a "format" (Hugging Face's
// loaders look for it); load reads a file into the module through load_state_dict, in place.
// strict: names must match both ways (mismatches are listed in the error); shapes always must.
void save(const Module& module, const std::string& path, const std::map<std::string, std::string>& metadata = {});
void load(Module& module, const std::string& path, bool strict = true);

}  // namespace tessera::nn
