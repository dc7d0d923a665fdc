// publish_head.hpp: the one request the hub reads itself: `POST /publish HTTP/1.1` with a
// Content-Length, and nothing else in its head the hub would have to act on. Any other request,
// or a head with anything unusual (a chunked body, Expect, Upgrade, a repeated or malformed
// field, a bare CR or LF, HTTP/1.0, a head over the size limit), is libwebsockets' to answer:
// the connection is handed over (publish_path.hpp). The parser is strict so that every request
// it accepts means the same to it as to libwebsockets and to the peer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rthub {

struct PublishHead {
  size_t head_bytes = 0;        // the request line, the fields and the blank line
  uint64_t content_length = 0;  // the body's bytes, after the head (none without Content-Length)
  bool close = false;           // `Connection: close`: the last request of the connection
  std::string origin, authorization;
};

enum class HeadVerdict {
  kIncomplete,  // could still be a publish head: wait for more bytes
  kPublish,     // a whole publish head, in `head`
  kOther,       // not one the hub reads: libwebsockets' to answer
};

// Heads longer than this are libwebsockets' (which refuses most of them).
constexpr size_t kMaxPublishHeadBytes = 16384;

// Reads the head at the start of `input` (the connection's unread bytes).
HeadVerdict read_publish_head(std::string_view input, PublishHead& head);

// Whether a connection whose first bytes are `start` (at least one) may be starting a publish
// head: false means no, libwebsockets' at once.
bool may_start_publish(std::string_view start);

}  // namespace rthub
