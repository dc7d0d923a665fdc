#include "client/sse_parser.hpp"

namespace rthub::client {

bool SseParser::feed(std::string_view bytes, const OnEvent& on_event) {
  if (at_start_ && !bytes.empty()) {
    // The BOM may itself be split; wait for three bytes before deciding.
    std::string head = pending_ + std::string(bytes.substr(0, 3));
    if (head.size() < 3 && std::string_view("\xEF\xBB\xBF").substr(0, head.size()) == head) {
      pending_ = head;
      return true;
    }
    at_start_ = false;
    if (head.compare(0, 3, "\xEF\xBB\xBF") == 0) {
      size_t from_pending = pending_.size();
      pending_.clear();
      bytes.remove_prefix(3 - from_pending);
    }
  }
  size_t start = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (c != '\n' && c != '\r') {
      after_cr_ = false;
      continue;
    }
    if (c == '\n' && after_cr_ && i == start) {  // the LF of a CRLF split across feeds
      after_cr_ = false;
      start = i + 1;
      continue;
    }
    std::string_view piece = bytes.substr(start, i - start);
    if (pending_.empty()) {
      line(piece, on_event);
    } else {
      pending_.append(piece);
      std::string full;
      full.swap(pending_);
      line(full, on_event);
    }
    after_cr_ = c == '\r';
    if (after_cr_ && i + 1 < bytes.size() && bytes[i + 1] == '\n') {
      ++i;
      after_cr_ = false;
    }
    start = i + 1;
  }
  if (start < bytes.size()) {
    if (pending_.size() + (bytes.size() - start) > max_line_) return false;
    pending_.append(bytes.substr(start));
    after_cr_ = false;
  }
  return true;
}

void SseParser::line(std::string_view text, const OnEvent& on_event) {
  if (text.empty()) {  // a blank line ends the event
    if (has_data_) {
      SseEvent event;
      event.data.swap(data_);
      event.id = last_id_;
      event.type = type_.empty() ? "message" : type_;
      has_data_ = false;
      type_.clear();
      on_event(event);
    }
    data_.clear();
    type_.clear();
    has_data_ = false;
    return;
  }
  if (text.front() == ':') return;  // a comment
  size_t colon = text.find(':');
  std::string_view field = text.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_ = std::string(value);
  } else if (field == "event") {
    type_ = std::string(value);
  } else if (field == "retry") {
    long ms = 0;
    bool digits = !value.empty();
    for (char c : value) {
      if (c < '0' || c > '9' || ms > 1000000000L) {
        digits = false;
        break;
      }
      ms = ms * 10 + (c - '0');
    }
    if (digits) retry_ms_ = ms;
  }
}

}  // namespace rthub::client
