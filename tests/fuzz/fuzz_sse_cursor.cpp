// Fuzz target: the SSE cursor (the `id:` of an event stream, sent back by browsers as
// Last-Event-ID): sse_cursor::parse, then sse_cursor::format of what it read, then parse again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/sse_cursor.hpp"
#include "fuzz_checks.hpp"

using namespace rthub;

namespace {

bool epoch_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '_';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(bytes), size);
  auto positions = sse_cursor::parse(text);

  std::vector<Session::Cursor> cursors;
  for (const auto& [channel, position] : positions) {
    fuzz::require(is_valid_channel_name(channel), "cursor parse yields a bad channel name",
                  channel);
    fuzz::require(!position.epoch.empty() && position.epoch.size() <= 64,
                  "cursor parse yields a bad epoch size");
    fuzz::require(std::all_of(position.epoch.begin(), position.epoch.end(), epoch_char),
                  "cursor parse yields a bad epoch", position.epoch);
    // (the seq may have been written with leading zeros: harmless, the hub never writes them)
    if (positions.size() <= 16) {  // a search per entry: quadratic, so only for short cursors
      std::string entry = channel + ":" + position.epoch + ":";
      fuzz::require(text.find(entry) != std::string_view::npos, "a parsed entry is not in the text",
                    entry);
    }
    cursors.push_back(Session::Cursor{channel, position.epoch, position.seq});
  }
  fuzz::require(
      positions.size() <= static_cast<size_t>(std::count(text.begin(), text.end(), ',')) + 1,
      "more positions than entries");

  // What the hub writes, it reads back the same.
  std::sort(cursors.begin(), cursors.end(), [](const Session::Cursor& a, const Session::Cursor& b) {
    return a.channel < b.channel;
  });
  std::string formatted = sse_cursor::format(cursors);
  fuzz::require(formatted.find_first_of("\r\n") == std::string::npos, "a cursor holds a line break",
                formatted);
  auto again = sse_cursor::parse(formatted);
  fuzz::require(again.size() == positions.size(), "format then parse loses entries", formatted);
  for (const auto& [channel, position] : positions) {
    auto it = again.find(channel);
    fuzz::require(it != again.end() && it->second == position,
                  "format then parse changes a position", formatted);
  }
  // A free slot (empty channel) is left out.
  cursors.push_back(Session::Cursor{});
  fuzz::require(sse_cursor::format(cursors) == formatted, "a free slot changes the cursor");
  return 0;
}
