#include "transport/poll/poll_cursor.hpp"

#include <random>

#include "common/sse_cursor.hpp"

namespace rthub::poll_cursor {
namespace {

constexpr size_t kTokenHexDigits = 32;  // 128 random bits: a poller's state cannot be guessed

bool is_token(std::string_view entry) {
  if (entry.size() != kTokenHexDigits + 1 || entry[0] != '~') return false;
  for (char c : entry.substr(1))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::optional<Parts> parse(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes || (!text.empty() && text.back() == ',')) return std::nullopt;
  Parts parts;
  size_t entries = 0;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (is_token(entry)) {
      if (!parts.token.empty()) return std::nullopt;
      parts.token.assign(entry.substr(1));
      continue;
    }
    // An entry the SSE reader accepts, alone, parses to exactly one position.
    if (sse_cursor::parse(entry).size() != 1) return std::nullopt;
    if (entries++) parts.positions.push_back(',');
    parts.positions.append(entry);
  }
  return parts;
}

std::string join(std::string_view positions, std::string_view token) {
  std::string out(positions);
  if (!out.empty()) out.push_back(',');
  out.push_back('~');
  out.append(token);
  return out;
}

std::string new_token() {
  // The system's random source for every token: a token seen must not tell the next one.
  static const char kHex[] = "0123456789abcdef";
  std::random_device source;
  std::string out;
  while (out.size() < kTokenHexDigits) {
    uint32_t bits = source();
    for (int i = 0; i < 8; ++i, bits >>= 4) out.push_back(kHex[bits & 15]);
  }
  return out;
}

}  // namespace rthub::poll_cursor
