// json_scan.hpp: reads client requests and publish bodies with RapidJSON's iterative SAX reader.
//
// Nothing is built into a DOM: the fields the hub needs are picked out while reading, and the
// values that pass through (`data`, `id`) are kept as byte ranges of the input, so a publisher's
// JSON reaches subscribers untouched. The iterative reader has no recursion, so any nesting
// depth is safe for the stack.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_string.hpp"  // json::append_string, for the writers that scan too

namespace rthub::json {

// The longest "idempotency_key" a publish may carry, in bytes.
constexpr size_t kMaxIdempotencyKeyBytes = 128;
// The longest "key" (keyed message) a publish may carry, in bytes.
constexpr size_t kMaxKeyBytes = 256;

// A [begin, end) byte range of the scanned text.
struct Range {
  size_t begin = 0, end = 0;
  bool present() const { return end > begin; }
  std::string_view in(std::string_view text) const { return text.substr(begin, end - begin); }
};

// The fields of one request object. A field given with the wrong JSON type sets `error`.
struct Fields {
  std::string op, channel, type, token;
  bool has_op = false, has_channel = false, has_type = false, has_token = false;
  Range id, data;   // raw JSON of "id" (a number or string) and "data" (any value)
  Range timestamp;  // raw JSON of "timestamp" (any value; read from bridged payloads)
  bool has_since = false;
  std::string since_epoch;
  uint64_t since_seq = 0;
  std::string idempotency_key;  // empty: none (an empty string given is an error)
  std::string key;              // keyed message; empty: none (an empty string given is an error)
  bool delete_key = false;      // "delete":true
  bool snapshot = false;        // "snapshot":true on subscribe
  bool presence = false;        // "presence":true on subscribe
  std::string error;            // first problem found, for an error object
};

struct Scan {
  bool ok = false;
  std::string error;  // why the text is not acceptable JSON of the expected shape
  bool array = false;
  std::vector<Fields> items;
};

// Scans one JSON object, or with `allow_array` an array of objects.
Scan scan_requests(std::string_view text, bool allow_array);

// True when `text` is exactly one JSON value (valid UTF-8, any depth).
bool is_valid_json(std::string_view text);

}  // namespace rthub::json
