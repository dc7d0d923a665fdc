#include "common/sse_cursor.hpp"

#include <charconv>

#include "common/parse_seq.hpp"

namespace rthub::sse_cursor {
namespace {

bool valid_epoch(std::string_view e) {
  if (e.empty() || e.size() > 64) return false;
  for (char c : e) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string format(const std::vector<Session::Cursor>& cursors) {
  std::string out;
  append(out, cursors);
  return out;
}

void append_entry(std::string& out, bool first, std::string_view channel, std::string_view epoch,
                  uint64_t seq) {
  if (!first) out.push_back(',');
  out += channel;
  out.push_back(':');
  out += epoch;
  out.push_back(':');
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, seq).ptr;
  out.append(digits, end);
}

void append(std::string& out, const std::vector<Session::Cursor>& cursors) {
  bool first = true;
  for (const auto& c : cursors) {
    if (c.channel.empty()) continue;
    append_entry(out, first, c.channel, c.epoch, c.seq);
    first = false;
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
    if (!is_valid_channel_name(channel) || !valid_epoch(epoch) ||
        !parse_seq(entry.substr(seq_colon + 1), p.seq))
      continue;
    p.epoch.assign(epoch);
    out[std::string(channel)] = std::move(p);
  }
  return out;
}

}  // namespace rthub::sse_cursor
