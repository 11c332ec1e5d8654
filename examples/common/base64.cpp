// examples/common/base64.cpp — see base64.h. Three bytes are 24 bits are four 6-bit digits.
#include "examples/common/base64.h"

#include <algorithm>
#include <cstdint>

#include "engine/error.h"

namespace examples {

namespace {
constexpr char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) v = (v << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k) out.push_back(k <= n ? kDigits[(v >> (18 - 6 * k)) & 63] : '=');
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  TS_CHECK(text.size() % 4 == 0, "base64_decode: {} characters is not a multiple of 4", text.size());
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    uint32_t v = 0;
    size_t padding = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && last && k >= 2 && (k == 3 || text[i + 3] == '=')) {
        ++padding, v <<= 6;
        continue;
      }
      const char* d = c == '\0' ? nullptr : std::char_traits<char>::find(kDigits, 64, c);
      TS_CHECK(d != nullptr && padding == 0, "base64_decode: character {} ('{}') is not a base64 digit", i + k,
               c == '\0' ? std::string("\\0") : std::string(1, c));
      v = (v << 6) | static_cast<uint32_t>(d - kDigits);
    }
    for (size_t k = 0; k < 3 - padding; ++k) out.push_back(static_cast<char>((v >> (16 - 8 * k)) & 0xff));
  }
  return out;
}

}  // namespace examples
