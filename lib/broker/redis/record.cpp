#include "broker/redis/record.hpp"

namespace rthub::redis_record {
namespace {

bool take_number(std::string_view& text, char stop, uint64_t& out) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < text.size() && i < 20 && text[i] >= '0' && text[i] <= '9')
    v = v * 10 + static_cast<uint64_t>(text[i++] - '0');
  if (i == 0 || i >= text.size() || text[i] != stop) return false;
  out = v;
  text.remove_prefix(i + 1);
  return true;
}

}  // namespace

std::optional<Message> decode(std::string_view channel, std::string_view text) {
  Message m;
  size_t space = text.find(' ');
  if (space == 0 || space == std::string_view::npos || space > 64) return std::nullopt;
  m.position.epoch.assign(text.substr(0, space));
  text.remove_prefix(space + 1);
  uint64_t seq, ts, type_len;
  if (!take_number(text, ' ', seq) || !take_number(text, ' ', ts)) return std::nullopt;
  if (!text.empty() && text[0] == 'T') {  // a bridged publisher's "timestamp", raw JSON
    uint64_t length;
    text.remove_prefix(1);
    if (!take_number(text, ':', length) || length >= text.size() || text[length] != ' ')
      return std::nullopt;
    m.timestamp.assign(text.substr(0, length));
    text.remove_prefix(length + 1);
  }
  if (!text.empty() && (text[0] == 'K' || text[0] == 'X')) {  // keyed: K keeps, X deletes
    uint64_t length;
    m.deleted = text[0] == 'X';
    text.remove_prefix(1);
    if (!take_number(text, ':', length) || length == 0 || length >= text.size() ||
        text[length] != ' ')
      return std::nullopt;
    m.key.assign(text.substr(0, length));
    text.remove_prefix(length + 1);
  }
  if (!take_number(text, ':', type_len)) return std::nullopt;
  if (type_len > text.size()) return std::nullopt;
  m.position.seq = seq;
  m.ts_ms = static_cast<int64_t>(ts);
  m.type.assign(text.substr(0, type_len));
  m.data.assign(text.substr(type_len));
  m.channel.assign(channel);
  return m;
}

}  // namespace rthub::redis_record
