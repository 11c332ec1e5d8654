// Tests for examples/common/utf8.h.
#include <doctest/doctest.h>

#include "examples/common/utf8.h"

using namespace examples;

TEST_CASE("utf8: decodes one to four byte sequences and advances past them") {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a é € 😀
  size_t pos = 0;
  CHECK(decode_utf8(text, pos) == U'a');
  CHECK(pos == 1);
  CHECK(decode_utf8(text, pos) == U'\u00E9');
  CHECK(pos == 3);
  CHECK(decode_utf8(text, pos) == U'\u20AC');
  CHECK(pos == 6);
  CHECK(decode_utf8(text, pos) == U'\U0001F600');
  CHECK(pos == 10);
  CHECK(utf8_length(text) == 4);
  CHECK(find_invalid_utf8(text) == std::string_view::npos);
}

TEST_CASE("utf8: rejects malformed sequences one byte at a time") {
  for (const std::string& bad : {std::string("\xC0\x80"),        // overlong NUL
                                std::string("\xED\xA0\x80"),    // a surrogate
                                std::string("\xF4\x90\x80\x80"),  // above U+10FFFF
                                std::string("\xC3"),            // truncated
                                std::string("\xC3(", 2),        // bad continuation
                                std::string("\x80")}) {         // a lone continuation byte
    size_t pos = 0;
    CHECK(decode_utf8(bad, pos) == kInvalidCodePoint);
    CHECK(pos == 1);
  }
  CHECK(find_invalid_utf8("ok \xC3\xA9 then \xFF") == 11);
  CHECK(utf8_length("\xFF\xFE") == 2);
}

TEST_CASE("utf8: append_utf8 is the inverse of decode_utf8") {
  for (const char32_t c : {U'A', U'\u00E9', U'\u0153', U'\u20AC', U'\U0001F600', U'\U0010FFFF'}) {
    std::string encoded;
    append_utf8(encoded, c);
    size_t pos = 0;
    CHECK(decode_utf8(encoded, pos) == c);
    CHECK(pos == encoded.size());
  }
}
