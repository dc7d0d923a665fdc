// Fuzz target: the WebSocket request scanner, json::scan_requests, as a lone object and with
// allow_array; each accepted request's fields are then written back into every server object.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/codec.hpp"
#include "core/json_scan.hpp"
#include "fuzz_checks.hpp"

using namespace rthub;

namespace {

void check_scan(std::string_view text, bool allow_array) {
  json::Scan scan = json::scan_requests(text, allow_array);
  if (!scan.ok) {
    fuzz::require(!scan.error.empty(), "a refused scan gives no reason");
    fuzz::require(scan.items.empty(), "a refused scan keeps items");
    return;
  }
  fuzz::require(scan.error.empty(), "an accepted scan has an error");
  fuzz::require(json::is_valid_json(text), "scan_requests accepts what is_valid_json refuses",
                text);
  fuzz::check_no_nul_accepted(text, true, "scan_requests accepts a raw NUL byte");
  fuzz::check_no_bom_accepted(text, true, "scan_requests skips leading BOM bytes");
  if (!allow_array)
    fuzz::require(!scan.array && scan.items.size() == 1, "a lone request is not one item");
  if (!scan.array) fuzz::require(scan.items.size() == 1, "an object scan is not one item");

  for (const json::Fields& f : scan.items) {
    std::string_view id = fuzz::check_raw_value(text, f.id, "id range is not one JSON value");
    std::string_view data = fuzz::check_raw_value(text, f.data, "data range is not one JSON value");
    if (f.error.empty() && !id.empty()) {
      char c = id.front();
      fuzz::require(c == '"' || c == '-' || (c >= '0' && c <= '9'),
                    "an id passed that is no number or string", id);
    }

    std::string op = fuzz::check_decoded(f.op, "decoded op is not UTF-8");
    std::string channel = fuzz::check_decoded(f.channel, "decoded channel is not UTF-8");
    std::string type = fuzz::check_decoded(f.type, "decoded type is not UTF-8");
    std::string epoch = fuzz::check_decoded(f.since_epoch, "decoded since.epoch is not UTF-8");
    fuzz::check_decoded(f.token, "decoded token is not UTF-8");

    // The fields, written back into every object the hub answers with.
    std::string ref(id);
    Position position{epoch, f.since_seq};
    fuzz::check_object(codec::subscribed(channel, position, f.has_since, ref));
    fuzz::check_object(codec::subscribed(channel, position, std::nullopt, ref));
    fuzz::check_object(codec::unsubscribed(channel, ref));
    fuzz::check_object(codec::published(channel, position, ref));
    fuzz::check_object(
        codec::error(codec::ErrorCode::kBadRequest, f.error.empty() ? op : f.error, ref));
    // (the hub cuts an unknown op at 64 bytes, which may split a character: not checked here)
    fuzz::check_object(codec::error(codec::ErrorCode::kBadRequest, "unknown op: " + op, ref));
    fuzz::check_object(codec::pong(ref));
    if (!data.empty()) {
      Message m;
      m.channel = channel;
      if (f.has_type) m.type = type;
      m.data.assign(data);
      m.position = position;
      m.ts_ms = static_cast<int64_t>(f.since_seq & 0x7fffffffffff);
      fuzz::check_object(codec::message(m));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(bytes), size);
  check_scan(text, false);
  check_scan(text, true);
  // A lone object reads the same with or without allow_array.
  json::Scan lone = json::scan_requests(text, false);
  if (lone.ok) {
    json::Scan either = json::scan_requests(text, true);
    fuzz::require(either.ok && !either.array && either.items.size() == 1,
                  "allow_array changes a lone object");
    const json::Fields& a = lone.items[0];
    const json::Fields& b = either.items[0];
    fuzz::require(a.op == b.op && a.channel == b.channel && a.type == b.type &&
                      a.token == b.token && a.error == b.error && a.since_epoch == b.since_epoch &&
                      a.since_seq == b.since_seq && a.id.begin == b.id.begin &&
                      a.id.end == b.id.end && a.data.begin == b.data.begin &&
                      a.data.end == b.data.end,
                  "allow_array changes the fields of a lone object");
  }
  return 0;
}
