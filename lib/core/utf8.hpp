// utf8.hpp: strict UTF-8 validation (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
#pragma once

#include <string_view>

namespace rthub {

bool is_valid_utf8(std::string_view text);

// The longest prefix of valid UTF-8 `text` of at most `max_bytes` that does not cut a character.
std::string_view utf8_prefix(std::string_view text, size_t max_bytes);

}  // namespace rthub
