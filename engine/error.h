// tessera/engine/error.h — the one exception type every user-facing failure throws.
//
// Messages follow one pattern: "<op>: <what is wrong, with shapes/values>: <the fix>", e.g.
//   matmul: cannot multiply [2, 3] by [4, 5]: inner sizes 3 and 4 differ
// TS_CHECK(cond, fmt, args...) throws tessera::Error with a fmt-formatted message when cond fails.
#pragma once

#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace tessera {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tessera

#define TS_CHECK(cond, ...)                 \
  do {                                      \
    if (!(cond)) ::tessera::fail(__VA_ARGS__); \
  } while (0)
