// examples/common/json_fields.h — integers from JSON that a damaged or hand-edited file may hold.
//
// nlohmann's get<int64_t>() converts a floating-point value with a plain cast: 2.5 becomes 2 and
// 1e300 is undefined behaviour (found by fuzzing the config readers, docs/reliability.md). These
// accept only JSON integers that fit, and otherwise throw nlohmann's type_error like get() does for
// a string, so the readers' one catch turns every bad field into their own message.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

namespace examples {

inline int64_t json_int64(const nlohmann::json& value) {
  if (!value.is_number_integer() ||
      (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}))
    throw nlohmann::json::type_error::create(302, "expected an integer that fits 64 bits, got " + value.dump(), &value);
  return value.get<int64_t>();
}

inline uint64_t json_uint64(const nlohmann::json& value) {
  if (!value.is_number_integer() || (!value.is_number_unsigned() && value.get<int64_t>() < 0))
    throw nlohmann::json::type_error::create(302, "expected a non-negative integer, got " + value.dump(), &value);
  return value.get<uint64_t>();
}

// A checkpoint's count of completed epochs: resuming starts at epoch + 1 and the history holds one
// record per epoch, so it must be in [0, 2^40).
inline int64_t json_epoch(const nlohmann::json& value) {
  const int64_t epoch = json_int64(value);
  if (epoch < 0 || epoch >= (int64_t{1} << 40))
    throw nlohmann::json::type_error::create(302, "epoch " + value.dump() + " is not in [0, 2^40)", &value);
  return epoch;
}

}  // namespace examples
