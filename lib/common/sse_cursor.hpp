// sse_cursor.hpp: the SSE `id:` cursor, which holds the position of every channel of a stream.
//
// Format: `channel:epoch:seq` entries joined by commas, e.g. `geometry:k3j9:42,user:7:p2x1:8`.
// Channel names may contain ':' but never ',', and epochs hold neither, so each entry is split at
// its last two colons. Clients treat it as opaque.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rthub/message.hpp"
#include "rthub/transport.hpp"

namespace rthub::sse_cursor {

std::string format(const std::vector<Session::Cursor>& cursors);
// Appends the cursor to `out` (for writers that reuse one buffer).
void append(std::string& out, const std::vector<Session::Cursor>& cursors);
// Appends one `channel:epoch:seq` entry, after a comma unless it is the `first` (the client builds
// its resume cursor from its own positions with this).
void append_entry(std::string& out, bool first, std::string_view channel, std::string_view epoch,
                  uint64_t seq);

// Positions by channel; entries that cannot be read are left out (their channels then resume
// with recovered:false).
std::unordered_map<std::string, Position> parse(std::string_view text);

}  // namespace rthub::sse_cursor
