// json_string.hpp: the one JSON string escaper, shared by the hub (codec, HTTP answers), the
// client (requests it writes) and the rthub-listen example (lines it prints).
//
// Header-only so that examples built in this tree can use it without the library exporting it.
#pragma once

#include <string>
#include <string_view>

namespace rthub::json {

// Appends `s` as a JSON string literal, quotes included. Bytes are copied as they are (the
// callers hand in UTF-8); '"', '\\' and control characters are escaped.
inline void append_string(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

}  // namespace rthub::json
