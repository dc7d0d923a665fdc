// sse_kind.hpp: what the hub knows of Server-Sent Events: "sse", each object as "data:" lines.
// A stream cannot carry an error object: it ends instead.
#pragma once

#include <string>
#include <string_view>

#include "rthub/transport.hpp"

namespace rthub {

const TransportKind& event_stream_kind();

// "data: <line>\n" per line of `json` (so raw newlines in passed-through data are safe), then
// the blank line that ends the event. The per-stream "id:" line is written by the session.
std::string event_stream_frame(std::string_view json);

}  // namespace rthub
