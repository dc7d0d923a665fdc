// poll_cursor.hpp: the cursor of GET /poll: the SSE stream cursor (`channel:epoch:seq` entries,
// common/sse_cursor.hpp), plus one `~TOKEN` entry naming the poller's state on the hub. The SSE
// reader skips the token entry, so the cursor moves between SSE and long-polling unchanged.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rthub::poll_cursor {

struct Parts {
  std::string positions;  // the SSE part, as given (maybe empty)
  std::string token;      // empty: none
};

// Splits a cursor; nullopt when an entry is neither a readable position nor one token, or when
// the cursor is longer than `max_bytes`.
std::optional<Parts> parse(std::string_view text, size_t max_bytes);
// `positions` with the token entry appended.
std::string join(std::string_view positions, std::string_view token);
// A fresh random token (hex).
std::string new_token();

}  // namespace rthub::poll_cursor
