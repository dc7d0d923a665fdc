#include "core/sse_cursor.hpp"

#include <charconv>

namespace rthub::sse_cursor {
namespace {

bool valid_epoch(std::string_view e) {
  if (e.empty() || e.size() > 64) return false;
  for (char c : e) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool parse_seq(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::string format(const std::vector<Session::Cursor>& cursors) {
  std::string out;
  append(out, cursors);
  return out;
}

void append(std::string& out, const std::vector<Session::Cursor>& cursors) {
  bool first = true;
  for (const auto& c : cursors) {
    if (c.channel.empty()) continue;
    if (!first) out.push_back(',');
    first = false;
    out += c.channel;
    out.push_back(':');
    out += c.epoch;
    out.push_back(':');
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, c.seq).ptr;
    out.append(digits, end);
  }
}

std::unordered_map<std::string, Position> parse(std::string_view text) {
  std::unordered_map<std::string, Position> out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    size_t seq_colon = entry.rfind(':');
    if (seq_colon == std::string_view::npos || seq_colon == 0) continue;
    size_t epoch_colon = entry.rfind(':', seq_colon - 1);
    if (epoch_colon == std::string_view::npos) continue;
    std::string_view channel = entry.substr(0, epoch_colon);
    std::string_view epoch = entry.substr(epoch_colon + 1, seq_colon - epoch_colon - 1);
    Position p;
    if (!is_valid_channel_name(channel) || !valid_epoch(epoch) || !parse_seq(entry.substr(seq_colon + 1), p.seq))
      continue;
    p.epoch.assign(epoch);
    out[std::string(channel)] = std::move(p);
  }
  return out;
}

}  // namespace rthub::sse_cursor
