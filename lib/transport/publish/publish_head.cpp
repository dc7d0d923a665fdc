#include "transport/publish/publish_head.hpp"

#include <algorithm>

#include "common/parse_seq.hpp"

namespace rthub {
namespace {

constexpr std::string_view kRequestStart = "POST /publish";

bool is_token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// A field value's bytes: visible ASCII, obs-text, space and tab (RFC 9110 5.5); no CR, LF, NUL.
bool is_value_char(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

bool same_name(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (static_cast<char>(a[i] | 0x20) != lower[i]) return false;
  return true;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Whether a Connection value lists `close`; false in `ok` for one naming `upgrade`.
bool lists_close(std::string_view v, bool& ok) {
  bool close = false;
  while (!v.empty()) {
    size_t comma = v.find(',');
    std::string_view option = trim(v.substr(0, comma));
    if (same_name(option, "close")) close = true;
    if (same_name(option, "upgrade")) ok = false;
    v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
  }
  return close;
}

// The request line, up to and including its CRLF: its length, 0 when incomplete, npos when not a
// publish.
size_t request_line(std::string_view input) {
  if (!may_start_publish(input)) return std::string_view::npos;
  if (input.size() <= kRequestStart.size()) return 0;
  size_t i = kRequestStart.size();
  if (input[i] == '?') {  // a query is allowed and ignored, as libwebsockets' route does
    ++i;
    while (i < input.size() && static_cast<unsigned char>(input[i]) > 0x20 &&
           static_cast<unsigned char>(input[i]) < 0x7f)
      ++i;
  }
  std::string_view rest = input.substr(i);
  std::string_view want = " HTTP/1.1\r\n";
  size_t n = std::min(rest.size(), want.size());
  if (rest.substr(0, n) != want.substr(0, n)) return std::string_view::npos;
  return n < want.size() ? 0 : i + want.size();
}

}  // namespace

bool may_start_publish(std::string_view start) {
  size_t n = std::min(start.size(), kRequestStart.size());
  if (start.substr(0, n) != kRequestStart.substr(0, n)) return false;
  return start.size() <= kRequestStart.size() || start[n] == ' ' || start[n] == '?';
}

HeadVerdict read_publish_head(std::string_view input, PublishHead& head) {
  size_t pos = request_line(input);
  if (pos == std::string_view::npos) return HeadVerdict::kOther;
  if (pos == 0)
    return input.size() < kMaxPublishHeadBytes ? HeadVerdict::kIncomplete : HeadVerdict::kOther;
  head = PublishHead{};
  bool has_length = false, has_origin = false, has_authorization = false;
  for (;;) {
    size_t end = input.find("\r\n", pos);
    if (end == std::string_view::npos || end + 2 > kMaxPublishHeadBytes)
      return input.size() < kMaxPublishHeadBytes ? HeadVerdict::kIncomplete : HeadVerdict::kOther;
    std::string_view line = input.substr(pos, end - pos);
    pos = end + 2;
    if (line.empty()) break;
    size_t colon = 0;
    while (colon < line.size() && is_token_char(static_cast<unsigned char>(line[colon]))) ++colon;
    if (colon == 0 || colon == line.size() || line[colon] != ':') return HeadVerdict::kOther;
    std::string_view name = line.substr(0, colon);
    std::string_view raw = line.substr(colon + 1);
    for (char c : raw)
      if (!is_value_char(static_cast<unsigned char>(c))) return HeadVerdict::kOther;
    std::string_view value = trim(raw);
    if (same_name(name, "content-length")) {
      if (has_length || !parse_seq(value, head.content_length)) return HeadVerdict::kOther;
      has_length = true;
    } else if (same_name(name, "origin")) {
      if (has_origin) return HeadVerdict::kOther;
      has_origin = true;
      head.origin.assign(value);
    } else if (same_name(name, "authorization")) {
      if (has_authorization) return HeadVerdict::kOther;
      has_authorization = true;
      head.authorization.assign(value);
    } else if (same_name(name, "connection")) {
      bool ok = true;
      if (lists_close(value, ok)) head.close = true;
      if (!ok) return HeadVerdict::kOther;
    } else if (same_name(name, "transfer-encoding") || same_name(name, "expect") ||
               same_name(name, "upgrade") || same_name(name, "http2-settings")) {
      return HeadVerdict::kOther;
    }
  }
  head.head_bytes = pos;
  return HeadVerdict::kPublish;
}

}  // namespace rthub
