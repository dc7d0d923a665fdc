// Fuzz target: the POST /publish body path. The body is scanned as one request object or an
// array of them, each acceptable item becomes a Message, and each Message is encoded and framed
// for both transports. The JSON and UTF-8 validators are checked against each other and against
// a reference UTF-8 decoder.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/codec.hpp"
#include "core/json_scan.hpp"
#include "core/utf8.hpp"
#include "fuzz_checks.hpp"

using namespace rthub;

namespace {

// RFC 3629 by the book: decode each code point, then refuse overlong forms, surrogates and
// anything past U+10FFFF.
bool reference_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;  // truncated
    for (size_t k = 1; k <= extra; ++k) {
      unsigned char d = static_cast<unsigned char>(text[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(bytes), size);

  bool utf8 = is_valid_utf8(text);
  fuzz::require(utf8 == reference_utf8(text), "is_valid_utf8 disagrees with the reference decoder",
                text);
  bool valid_json = json::is_valid_json(text);
  fuzz::check_no_bom_accepted(text, valid_json, "is_valid_json skips leading BOM bytes");
  if (!(RTHUB_FUZZ_TOLERATE_KNOWN_BUGS &&
        (fuzz::starts_with_bom_byte(text) ||
         text.find('\0') != std::string_view::npos)))  // known bugs 1, 3
    fuzz::require(!valid_json || utf8, "is_valid_json accepts invalid UTF-8", text);
  fuzz::check_no_nul_accepted(text, valid_json, "is_valid_json accepts a raw NUL byte");
  if (utf8) {
    // Any valid UTF-8 text becomes a valid JSON string literal.
    std::string literal;
    json::append_string(literal, text);
    fuzz::require(json::is_valid_json(literal), "append_string writes invalid JSON", literal);
  }

  json::Scan scan = json::scan_requests(text, true);
  if (!scan.ok) return 0;
  fuzz::require(valid_json, "a publish body is accepted that is_valid_json refuses", text);

  int64_t seq = 0;
  for (const json::Fields& item : scan.items) {
    std::string_view data =
        fuzz::check_raw_value(text, item.data, "data range is not one JSON value");
    // What POST /publish accepts: a valid channel, data, and no mistyped field.
    if (!item.error.empty() || !item.has_channel || !is_valid_channel_name(item.channel) ||
        data.empty())
      continue;
    auto envelope = std::make_shared<Envelope>();
    Message& m = envelope->message;
    m.channel = item.channel;
    if (item.has_type) m.type = fuzz::check_decoded(item.type, "decoded type is not UTF-8");
    m.data.assign(data);
    m.position = Position{"k3j9", static_cast<uint64_t>(++seq)};
    m.ts_ms = 1763880000123;
    std::string json = codec::message(m);
    fuzz::check_object(json);
    for (const TransportKind* kind : {&websocket_kind(), &event_stream_kind()}) {
      const TransportKind& format = *kind;
      const Frame& frame = codec::envelope_frame(*envelope, format);
      fuzz::require(frame && *frame == format.frame(json),
                    "envelope frame differs from the message frame");
      fuzz::require(codec::envelope_frame(*envelope, format).get() == frame.get(),
                    "envelope frame not kept");
    }
    fuzz::check_object(codec::published(m.channel, m.position, {}));
  }
  return 0;
}
