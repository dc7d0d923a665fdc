// The text/event-stream reader: fields, line endings, and bytes split anywhere.
#include <catch2/catch.hpp>

#include <vector>

#include "client/sse_parser.hpp"

using rthub::client::SseEvent;
using rthub::client::SseParser;

namespace {

std::vector<SseEvent> parse_all(SseParser& parser, const std::string& text, size_t chunk = 0) {
  std::vector<SseEvent> out;
  auto collect = [&](const SseEvent& e) { out.push_back(e); };
  if (chunk == 0) {
    REQUIRE(parser.feed(text, collect));
  } else {
    for (size_t i = 0; i < text.size(); i += chunk)
      REQUIRE(parser.feed(text.substr(i, chunk), collect));
  }
  return out;
}

}  // namespace

TEST_CASE("sse parser reads the hub's stream", "[unit][sse]") {
  const std::string stream =
      "retry: 2000\n\n"
      "id: a:k3:0\ndata: {\"op\":\"subscribed\",\"channel\":\"a\",\"epoch\":\"k3\",\"seq\":0}\n\n"
      "id: a:k3:1\ndata: {\"op\":\"message\",\"seq\":1}\n\n";
  for (size_t chunk : {0, 1, 2, 3, 7, 13}) {
    SseParser parser;
    auto events = parse_all(parser, stream, chunk);
    REQUIRE(events.size() == 2);
    CHECK(events[0].data == "{\"op\":\"subscribed\",\"channel\":\"a\",\"epoch\":\"k3\",\"seq\":0}");
    CHECK(events[0].id == "a:k3:0");
    CHECK(events[1].data == "{\"op\":\"message\",\"seq\":1}");
    CHECK(events[1].id == "a:k3:1");
    CHECK(events[1].type == "message");
    CHECK(parser.retry_ms() == 2000);
  }
}

TEST_CASE("sse parser handles CRLF, CR, multi-line data, comments and BOM", "[unit][sse]") {
  const std::string stream =
      "\xEF\xBB\xBF: a comment\r\n"
      "event: custom\r\ndata: line one\r\ndata:line two\r\n\r\n"
      "id: 7\rdata: cr only\r\r"
      "data\n\n"      // a field with no colon: empty data
      "id: only\n\n"  // no data: no event, but the id sticks
      "data: after\n\n";
  for (size_t chunk : {0, 1, 2, 5}) {
    SseParser parser;
    auto events = parse_all(parser, stream, chunk);
    REQUIRE(events.size() == 4);
    CHECK(events[0].type == "custom");
    CHECK(events[0].data == "line one\nline two");
    CHECK(events[1].data == "cr only");
    CHECK(events[1].id == "7");
    CHECK(events[1].type == "message");
    CHECK(events[2].data == "");
    CHECK(events[3].data == "after");
    CHECK(events[3].id == "only");
    CHECK(parser.last_event_id() == "only");
  }
}

TEST_CASE("sse parser refuses an endless line", "[unit][sse]") {
  SseParser parser(64);
  auto ignore = [](const SseEvent&) {};
  CHECK(parser.feed("data: short\n\n", ignore));
  CHECK_FALSE(parser.feed(std::string(100, 'x'), ignore));
}
