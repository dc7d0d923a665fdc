// parse_seq.hpp: the one reader of a sequence number (or any unsigned 64-bit integer) written in
// decimal, shared by the hub's request scanner, the SSE cursor codec and the client's reader of
// the hub's objects.
#pragma once

#include <cstdint>
#include <string_view>

namespace rthub {

// Reads 1 to 19 decimal digits (no sign, no blanks) into `out`: every seq, id and timestamp the
// protocol uses fits (19 digits cover 2^63 - 1, and never overflow a uint64_t). False, leaving
// `out` alone, for anything else.
inline bool parse_seq(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

}  // namespace rthub
