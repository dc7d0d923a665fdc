// sse_parser.hpp: reads a text/event-stream body (the WHATWG "server-sent events" format) into
// events. Bytes may arrive split anywhere, even inside a CRLF.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace rthub::client {

struct SseEvent {
  std::string data;  // the data lines joined with '\n'
  std::string id;    // the stream's last event id after this event
  std::string type;  // the event: field, "message" when absent
};

class SseParser {
 public:
  using OnEvent = std::function<void(const SseEvent&)>;

  // A line longer than `max_line_bytes` makes feed() fail: a stream that never ends its lines
  // must not grow memory without bound.
  explicit SseParser(size_t max_line_bytes = 16 * 1024 * 1024) : max_line_(max_line_bytes) {}

  // Consumes `bytes`, calling `on_event` for each complete event. False when the stream is
  // unusable (a line over the bound); the parser is then left as it was.
  bool feed(std::string_view bytes, const OnEvent& on_event);

  // The last `retry:` value, or -1.
  long retry_ms() const { return retry_ms_; }
  const std::string& last_event_id() const { return last_id_; }

 private:
  void line(std::string_view text, const OnEvent& on_event);

  size_t max_line_;
  std::string pending_;    // the unfinished line
  bool after_cr_ = false;  // the previous byte ended a line with CR: a following LF belongs to it
  bool at_start_ = true;   // a leading UTF-8 BOM is skipped
  std::string data_, type_, last_id_;
  bool has_data_ = false;
  long retry_ms_ = -1;
};

}  // namespace rthub::client
