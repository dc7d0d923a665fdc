// utf8.hpp: strict UTF-8 validation (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
#pragma once

#include <string_view>

namespace rthub {

bool is_valid_utf8(std::string_view text);

}  // namespace rthub
