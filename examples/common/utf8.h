// examples/common/utf8.h — decoding and encoding UTF-8 one code point at a time.
//
// The examples read user text (TSV files, dictionary entries) and write it into SVG/JSON, so they
// need to know where a character starts and ends, reject malformed bytes with a useful position,
// and lowercase letters beyond ASCII. This is the small subset of UTF-8 handling they share.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace examples {

constexpr char32_t kInvalidCodePoint = 0xFFFFFFFF;
constexpr char32_t kReplacementCharacter = 0xFFFD;  // U+FFFD, shown for undecodable bytes

// Decodes the code point starting at text[pos] and advances pos past it. On a malformed sequence
// (bad lead byte, truncated or bad continuation, overlong form, surrogate, > U+10FFFF) returns
// kInvalidCodePoint and advances pos by one byte, so a caller can resynchronise.
char32_t decode_utf8(std::string_view text, size_t& pos);

// Appends the UTF-8 encoding of code point c (which must be <= U+10FFFF and not a surrogate).
void append_utf8(std::string& out, char32_t c);

// The byte offset of the first malformed sequence, or std::string_view::npos when text is valid.
size_t find_invalid_utf8(std::string_view text);

// Number of code points (each malformed byte counts as one), for estimating text widths.
size_t utf8_length(std::string_view text);

}  // namespace examples
