// fuzz_checks.hpp: invariants shared by the fuzz targets. A broken invariant aborts, which both
// libFuzzer and the replay driver report as a failure (with the message on stderr).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/codec.hpp"
#include "core/json_scan.hpp"
#include "core/utf8.hpp"
#include "transport/sse/sse_kind.hpp"
#include "transport/ws/ws_kind.hpp"

// RTHUB_FUZZ_TOLERATE_KNOWN_BUGS (off by default, and in every replay test) lets a long fuzzing
// run look past the library bugs listed below, found by these targets and still open, so that it
// can find others. Remove each entry, and the code it guards, once its bug is fixed.
//   1. A NUL byte after a complete JSON value is taken for the end of the input, so
//      is_valid_json("1\0junk") and scan_requests("{}\0junk") accept it.
//   2. A lone low surrogate escape ("\udc00") is decoded into the bytes ED B0 80, which are not
//      UTF-8; op, type, channel, token and epoch strings can hold them.
//   3. Leading bytes EF, BB or BF (any of them, each optional: a UTF-8 BOM or a piece of one) are
//      skipped, so is_valid_json("\xbb" "1") is true.
#ifndef RTHUB_FUZZ_TOLERATE_KNOWN_BUGS
#define RTHUB_FUZZ_TOLERATE_KNOWN_BUGS 0
#endif

namespace rthub::fuzz {

[[noreturn]] inline void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  if (!detail.empty()) {
    std::fprintf(stderr, "  detail (%zu bytes): ", detail.size());
    for (unsigned char c : detail.substr(0, 512))
      std::fprintf(stderr, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    std::fprintf(stderr, "\n");
  }
  std::abort();
}

inline void require(bool condition, const char* what, std::string_view detail = {}) {
  if (!condition) fail(what, detail);
}

// The payload of a frame built by a transport's framing, after checking it.
inline std::string unframe(bool websocket, const std::string& frame) {
  if (websocket) {
    require(frame.size() >= 2, "WebSocket frame shorter than its header");
    const auto* b = reinterpret_cast<const unsigned char*>(frame.data());
    require(b[0] == 0x81, "WebSocket frame is not a final text frame");
    size_t length = b[1] & 0x7f, header = 2;
    require((b[1] & 0x80) == 0, "server WebSocket frame is masked");
    if (length == 126) {
      require(frame.size() >= 4, "WebSocket frame shorter than its 16-bit length");
      length = (size_t(b[2]) << 8) | b[3];
      header = 4;
      require(length >= 126, "16-bit WebSocket length used for a short payload");
    } else if (length == 127) {
      require(frame.size() >= 10, "WebSocket frame shorter than its 64-bit length");
      length = 0;
      for (int i = 2; i < 10; ++i) length = (length << 8) | b[i];
      header = 10;
      require(length > 0xffff, "64-bit WebSocket length used for a short payload");
    }
    require(frame.size() == header + length, "WebSocket length does not match the payload");
    return frame.substr(header);
  }
  // SSE: "data: " lines, one blank line at the end, no CR anywhere (it would end a line).
  require(frame.size() >= 8 && frame.compare(0, 6, "data: ") == 0,
          "SSE frame does not start with data: ");
  require(frame.compare(frame.size() - 2, 2, "\n\n") == 0,
          "SSE frame does not end with a blank line");
  require(frame.find('\r') == std::string::npos, "SSE frame holds a raw CR");
  std::string joined;
  size_t start = 0, lines = 0;
  while (true) {
    size_t end = frame.find('\n', start);
    std::string_view line(frame.data() + start, end - start);
    if (line.empty()) {
      require(end + 1 == frame.size(), "SSE frame holds a blank line before its end");
      break;
    }
    require(line.substr(0, 6) == "data: ", "SSE line without data: ", line);
    if (lines++) joined += '\n';
    joined += line.substr(6);
    start = end + 1;
  }
  return joined;
}

// What EventSource reassembles from the data lines of `json`: CRLF, CR and LF all become LF.
inline std::string sse_normalised(std::string_view json) {
  std::string out;
  for (size_t i = 0; i < json.size(); ++i) {
    if (json[i] == '\r') {
      if (i + 1 < json.size() && json[i + 1] == '\n') ++i;
      out += '\n';
    } else {
      out += json[i];
    }
  }
  return out;
}

// Frames `json` in both formats and checks that each gives it back.
inline void check_frames(const std::string& json) {
  require(unframe(true, websocket_frame(0x1, json)) == json,
          "WebSocket frame does not carry the JSON unchanged", json);
  require(unframe(false, event_stream_frame(json)) == sse_normalised(json),
          "SSE data lines do not join back into the JSON", json);
}

// A server object the codec wrote must be one valid JSON value.
inline void check_object(const std::string& json) {
  require(!json.empty() && json.front() == '{' && json.back() == '}',
          "server object is not an object", json);
  require(json::is_valid_json(json), "server object is not valid JSON", json);
  check_frames(json);
}

// A raw range the scanner kept (`data`, `id`) must be exactly one JSON value: it is copied into
// server objects as it is. Returns the value's text.
inline std::string_view check_raw_value(std::string_view text, const json::Range& range,
                                        const char* what) {
  if (!range.present()) return {};
  require(range.begin <= range.end && range.end <= text.size(), what);
  std::string_view raw = range.in(text);
  const std::string_view blanks = " \t\r\n";
  require(blanks.find(raw.front()) == std::string_view::npos &&
              blanks.find(raw.back()) == std::string_view::npos,
          "raw range includes blanks around the value", raw);
  require(json::is_valid_json(raw), what, raw);
  return raw;
}

// A string the scanner decoded must be UTF-8: the codec writes it into text frames as it is.
// Returns the string to use further.
inline std::string check_decoded(const std::string& decoded, const char* what) {
  if (is_valid_utf8(decoded)) return decoded;
  if (RTHUB_FUZZ_TOLERATE_KNOWN_BUGS) return "?";  // known bug 2
  fail(what, decoded);
}

// What is_valid_json accepts is embedded as it is, so it must not start with (a piece of) a BOM.
inline void check_no_bom_accepted(std::string_view text, bool accepted, const char* what) {
  if (RTHUB_FUZZ_TOLERATE_KNOWN_BUGS || !accepted || text.empty()) return;  // known bug 3
  unsigned char first = static_cast<unsigned char>(text.front());
  require(first != 0xef && first != 0xbb && first != 0xbf, what, text);
}

// True when `text` starts with a byte that known bug 3 skips.
inline bool starts_with_bom_byte(std::string_view text) {
  if (text.empty()) return false;
  unsigned char first = static_cast<unsigned char>(text.front());
  return first == 0xef || first == 0xbb || first == 0xbf;
}

// No valid JSON text holds a raw NUL byte (not in a string, not as a blank).
inline void check_no_nul_accepted(std::string_view text, bool accepted, const char* what) {
  if (RTHUB_FUZZ_TOLERATE_KNOWN_BUGS) return;  // known bug 1
  require(!accepted || text.find('\0') == std::string_view::npos, what, text);
}

}  // namespace rthub::fuzz
