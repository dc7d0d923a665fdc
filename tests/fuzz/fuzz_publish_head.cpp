// Fuzz target: the request head the hub reads itself (read_publish_head). The verdict must not
// change as more bytes arrive once it is made (the hub peeks at a socket again and again, and a
// request it leaves to libwebsockets must stay libwebsockets'), and a publish head read must be
// one: the request line, fields without CR, LF or NUL, the blank line at head_bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_checks.hpp"
#include "transport/publish/publish_head.hpp"

using namespace rthub;

namespace {

bool clean(const std::string& value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

void check_head(std::string_view input, const PublishHead& head) {
  fuzz::require(head.head_bytes >= 4 && head.head_bytes <= input.size() &&
                    head.head_bytes <= kMaxPublishHeadBytes,
                "head_bytes out of range");
  fuzz::require(input.substr(0, 13) == "POST /publish",
                "a publish head not starting POST /publish");
  fuzz::require(input.substr(head.head_bytes - 4, 4) == "\r\n\r\n",
                "a publish head not ending with a blank line");
  fuzz::require(clean(head.origin) && clean(head.authorization),
                "a field value with CR, LF or NUL");
  fuzz::require(head.content_length < 10000000000000000000ull, "a length of more than 19 digits");
}

bool same(const PublishHead& a, const PublishHead& b) {
  return a.head_bytes == b.head_bytes && a.content_length == b.content_length &&
         a.close == b.close && a.origin == b.origin && a.authorization == b.authorization;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(bytes), size);
  PublishHead whole;
  HeadVerdict final_verdict = read_publish_head(input, whole);
  if (final_verdict == HeadVerdict::kPublish) check_head(input, whole);
  if (!input.empty() && final_verdict != HeadVerdict::kOther)
    fuzz::require(may_start_publish(input.substr(0, 16)), "a publish not seen from its start");

  // Every prefix, as the bytes would arrive one by one (a sample of them for long inputs): once
  // a verdict is made it stays.
  size_t step = size > 2048 ? size / 512 : 1;
  bool decided = false;
  HeadVerdict first = HeadVerdict::kIncomplete;
  PublishHead first_head;
  for (size_t n = 1; n <= size; n += step) {
    PublishHead head;
    HeadVerdict v = read_publish_head(input.substr(0, n), head);
    if (!decided && v != HeadVerdict::kIncomplete) {
      decided = true;
      first = v;
      first_head = head;
    }
    if (decided) {
      fuzz::require(v == first, "a verdict changed as more bytes came");
      if (v == HeadVerdict::kPublish)
        fuzz::require(same(head, first_head), "a publish head read differently with more bytes");
    }
  }
  if (decided) fuzz::require(final_verdict == first, "the whole input's verdict differs");
  return 0;
}
