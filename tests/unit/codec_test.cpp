// codec: the exact text of every server->client object and the WebSocket and SSE framing.
#include <catch2/catch.hpp>

#include <string>

#include "core/codec.hpp"
#include "core/json_scan.hpp"
#include "transport/sse/sse_kind.hpp"
#include "transport/ws/ws_kind.hpp"

using namespace rthub;

namespace {

Message sample_message() {
  Message m;
  m.channel = "geometry";
  m.type = "geometry.updated";
  m.data = R"({"x":1,"big":12345678901234567890123})";
  m.position = Position{"k3j9", 42};
  m.ts_ms = 1763880000123;
  return m;
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

}  // namespace

TEST_CASE("codec::message writes the message object with data passed through", "[codec]") {
  CHECK(codec::message(sample_message()) ==
        R"({"op":"message","channel":"geometry","epoch":"k3j9","seq":42,"type":"geometry.updated",)"
        R"("data":{"x":1,"big":12345678901234567890123},"ts":1763880000123})");
}

TEST_CASE("codec::message escapes channel, epoch and type but not data", "[codec]") {
  Message m;
  m.channel = "user:42";
  m.type = "say \"hi\"\n";
  m.data = "[ 1,\n 2 ]";
  m.position = Position{"e\\1", 18446744073709551615ull};
  m.ts_ms = 0;
  std::string json = codec::message(m);
  CHECK(json ==
        "{\"op\":\"message\",\"channel\":\"user:42\",\"epoch\":\"e\\\\1\",\"seq\":"
        "18446744073709551615,"
        "\"type\":\"say \\\"hi\\\"\\n\",\"data\":[ 1,\n 2 ],\"ts\":0}");
  CHECK(json::is_valid_json(json));
}

TEST_CASE("codec::subscribed writes recovered only when a position was asked for", "[codec]") {
  Position latest{"k3j9", 41};
  CHECK(
      codec::subscribed("geometry", latest, true, "2") ==
      R"({"op":"subscribed","channel":"geometry","epoch":"k3j9","seq":41,"recovered":true,"ref":2})");
  CHECK(
      codec::subscribed("geometry", latest, false, R"("a")") ==
      R"({"op":"subscribed","channel":"geometry","epoch":"k3j9","seq":41,"recovered":false,"ref":"a"})");
  CHECK(codec::subscribed("geometry", latest, std::nullopt, "") ==
        R"({"op":"subscribed","channel":"geometry","epoch":"k3j9","seq":41})");
  CHECK(codec::subscribed("c", Position{"e", 0}, std::nullopt, "1") ==
        R"({"op":"subscribed","channel":"c","epoch":"e","seq":0,"ref":1})");
}

TEST_CASE("codec::unsubscribed, published, pong and ping", "[codec]") {
  CHECK(codec::unsubscribed("geometry", "3") ==
        R"({"op":"unsubscribed","channel":"geometry","ref":3})");
  CHECK(codec::unsubscribed("geometry", "") == R"({"op":"unsubscribed","channel":"geometry"})");
  CHECK(codec::published("incidents", Position{"p2x1", 8}, "4") ==
        R"({"op":"published","channel":"incidents","epoch":"p2x1","seq":8,"ref":4})");
  CHECK(codec::published("incidents", Position{"p2x1", 8}, "") ==
        R"({"op":"published","channel":"incidents","epoch":"p2x1","seq":8})");
  CHECK(codec::pong("7") == R"({"op":"pong","ref":7})");
  CHECK(codec::pong(R"("x")") == R"({"op":"pong","ref":"x"})");
  CHECK(codec::pong("") == R"({"op":"pong"})");
  CHECK(codec::ping(1763880000123) == R"({"op":"ping","ts":1763880000123})");
}

TEST_CASE("codec::error writes every protocol code", "[codec]") {
  CHECK(codec::error(codec::ErrorCode::kBadRequest, "human readable", "7") ==
        R"({"op":"error","code":"bad_request","message":"human readable","ref":7})");
  CHECK(codec::error(codec::ErrorCode::kNotFound, "not subscribed to a", "") ==
        R"({"op":"error","code":"not_found","message":"not subscribed to a"})");
  CHECK(codec::error(codec::ErrorCode::kBadRequest, "bad \"x\"\n\x01", "") ==
        R"({"op":"error","code":"bad_request","message":"bad \"x\"\n\u0001"})");

  using codec::ErrorCode;
  CHECK(std::string(codec::error_code_name(ErrorCode::kBadRequest)) == "bad_request");
  CHECK(std::string(codec::error_code_name(ErrorCode::kUnauthorized)) == "unauthorized");
  CHECK(std::string(codec::error_code_name(ErrorCode::kForbidden)) == "forbidden");
  CHECK(std::string(codec::error_code_name(ErrorCode::kTooLarge)) == "too_large");
  CHECK(std::string(codec::error_code_name(ErrorCode::kLimit)) == "limit");
  CHECK(std::string(codec::error_code_name(ErrorCode::kNotFound)) == "not_found");
  CHECK(std::string(codec::error_code_name(ErrorCode::kUnavailable)) == "unavailable");
  CHECK(std::string(codec::error_code_name(ErrorCode::kInternal)) == "internal");
  CHECK(codec::error(ErrorCode::kTooLarge, "m", "") ==
        R"({"op":"error","code":"too_large","message":"m"})");
}

TEST_CASE("every server object is valid JSON", "[codec]") {
  Position p{"k3j9", 1};
  for (const std::string& json :
       {codec::message(sample_message()), codec::subscribed("a", p, true, "1"),
        codec::unsubscribed("a", "\"r\""), codec::published("a", p, "1.5"),
        codec::error(codec::ErrorCode::kInternal, "x", ""), codec::pong(""), codec::ping(0)}) {
    INFO(json);
    CHECK(json::is_valid_json(json));
  }
}

TEST_CASE("the transports' framing writes the WebSocket header for each length class", "[codec]") {
  struct Case {
    size_t length;
    std::string header;
  };
  for (const Case& c :
       {Case{0, bytes({0x81, 0x00})}, Case{1, bytes({0x81, 0x01})}, Case{125, bytes({0x81, 0x7d})},
        Case{126, bytes({0x81, 0x7e, 0x00, 0x7e})}, Case{127, bytes({0x81, 0x7e, 0x00, 0x7f})},
        Case{65535, bytes({0x81, 0x7e, 0xff, 0xff})},
        Case{65536, bytes({0x81, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00})},
        Case{70000, bytes({0x81, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70})}}) {
    INFO("length " << c.length);
    std::string payload(c.length, 'x');
    std::string frame = websocket_frame(0x1, payload);
    REQUIRE(frame.size() == c.header.size() + c.length);
    CHECK(frame.substr(0, c.header.size()) == c.header);
    CHECK(frame.substr(c.header.size()) == payload);
  }
}

TEST_CASE("the transports' framing writes one SSE data line for a one-line object", "[codec]") {
  CHECK(event_stream_frame(R"({"op":"pong"})") == "data: {\"op\":\"pong\"}\n\n");
  CHECK(event_stream_frame("") == "data: \n\n");
}

TEST_CASE("codec::frame splits raw newlines in SSE data into several data lines", "[codec]") {
  CHECK(event_stream_frame("a\nb") == "data: a\ndata: b\n\n");
  CHECK(event_stream_frame("a\r\nb") == "data: a\ndata: b\n\n");
  CHECK(event_stream_frame("a\rb") == "data: a\ndata: b\n\n");
  CHECK(event_stream_frame("a\n\nb") == "data: a\ndata: \ndata: b\n\n");
  CHECK(event_stream_frame("a\r\rb") == "data: a\ndata: \ndata: b\n\n");
  CHECK(event_stream_frame("a\n\r\nb") == "data: a\ndata: \ndata: b\n\n");
  CHECK(event_stream_frame("a\n") == "data: a\ndata: \n\n");
}

TEST_CASE("an SSE frame of passed-through data reads back as the same JSON", "[codec]") {
  // EventSource joins the data lines of one event with "\n"; JSON treats the CR it loses as a
  // blank.
  Message m = sample_message();
  m.data = "{\r\n  \"x\": [1,\n 2],\r  \"y\": \"\\n\"\n}";
  std::string json = codec::message(m);
  std::string frame = event_stream_frame(json);
  REQUIRE(frame.size() > 2);
  CHECK(frame.substr(frame.size() - 2) == "\n\n");
  std::string joined;
  size_t lines = 0;
  size_t start = 0;
  while (start < frame.size() - 1) {
    size_t end = frame.find('\n', start);
    std::string line = frame.substr(start, end - start);
    start = end + 1;
    if (line.empty()) break;
    REQUIRE(line.rfind("data: ", 0) == 0);
    if (lines++) joined += '\n';
    joined += line.substr(6);
  }
  CHECK(lines == 5);
  CHECK(frame.find('\r') == std::string::npos);
  CHECK(json::is_valid_json(joined));
  std::string expected = json;
  for (size_t i = expected.find("\r\n"); i != std::string::npos; i = expected.find("\r\n", i))
    expected.erase(i, 1);
  for (char& c : expected)
    if (c == '\r') c = '\n';
  CHECK(joined == expected);
}

TEST_CASE("codec::make_frame and envelope_frame encode each format once", "[codec]") {
  Frame f = codec::make_frame(websocket_kind(), "{}");
  REQUIRE(f);
  CHECK(*f == bytes({0x81, 0x02}) + "{}");

  Envelope envelope;
  envelope.message = sample_message();
  const Frame& ws = codec::envelope_frame(envelope, websocket_kind());
  const Frame& sse = codec::envelope_frame(envelope, event_stream_kind());
  REQUIRE(ws);
  REQUIRE(sse);
  std::string json = codec::message(envelope.message);
  CHECK(*ws == websocket_frame(0x1, json));
  CHECK(*sse == "data: " + json + "\n\n");
  const std::string* first = ws.get();
  CHECK(codec::envelope_frame(envelope, websocket_kind()).get() == first);
  CHECK(envelope.frames[websocket_kind().index()].get() == first);
}
