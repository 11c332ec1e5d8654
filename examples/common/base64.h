// examples/common/base64.h — standard base64 (RFC 4648, with '=' padding): SVG data: URIs of the
// attention CNN's images, and binary blobs (a SentencePiece model) inside JSON metadata.
#pragma once

#include <string>
#include <string_view>

namespace examples {

std::string base64_encode(std::string_view bytes);

// The inverse of base64_encode. Throws tessera::Error naming the offset of the first character
// that is not a base64 digit, or a length that is not a multiple of 4.
std::string base64_decode(std::string_view text);

}  // namespace examples
