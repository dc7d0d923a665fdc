// The request head the hub reads itself (POST /publish): what it serves, and what it leaves to
// libwebsockets because it is another request or anything out of the ordinary.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "transport/publish/publish_head.hpp"

using namespace rthub;

namespace {

const std::string kLine = "POST /publish HTTP/1.1\r\n";

HeadVerdict verdict(const std::string& input) {
  PublishHead head;
  return read_publish_head(input, head);
}

}  // namespace

TEST_CASE("a publish head is read with its length, origin, key and Connection", "[publish_head]") {
  std::string input =
      kLine +
      "Host: 127.0.0.1\r\ncontent-LENGTH:  24 \r\nOrigin: http://a.test\r\n"
      "Authorization: Bearer k\r\nConnection: keep-alive, close\r\n\r\n{\"channel\"";
  PublishHead head;
  REQUIRE(read_publish_head(input, head) == HeadVerdict::kPublish);
  CHECK(head.head_bytes == input.find("{\"channel\""));
  CHECK(head.content_length == 24);
  CHECK(head.origin == "http://a.test");
  CHECK(head.authorization == "Bearer k");
  CHECK(head.close);
}

TEST_CASE("a query is allowed, a missing Content-Length means no body", "[publish_head]") {
  PublishHead head;
  REQUIRE(read_publish_head("POST /publish?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", head) ==
          HeadVerdict::kPublish);
  CHECK(head.content_length == 0);
  CHECK_FALSE(head.close);
}

TEST_CASE("every prefix of a publish head waits for more", "[publish_head]") {
  std::string input = kLine + "Content-Length: 2\r\nOrigin: o\r\n\r\n";
  for (size_t n = 1; n < input.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK(verdict(input.substr(0, n)) == HeadVerdict::kIncomplete);
    CHECK(may_start_publish(input.substr(0, n)));
  }
  CHECK(verdict(input) == HeadVerdict::kPublish);
}

TEST_CASE("other requests are libwebsockets'", "[publish_head]") {
  for (const char* start :
       {"GET /publish HTTP/1.1\r\n", "POST /publication HTTP/1.1\r\n",
        "POST /publish/ HTTP/1.1\r\n", "POST /publish HTTP/1.0\r\n", "POST  /publish HTTP/1.1\r\n",
        "post /publish HTTP/1.1\r\n", "POST http://h/publish HTTP/1.1\r\n",
        "POST /publish HTTP/1.1\n", "PRI * HTTP/2.0\r\n", "\x16\x03\x01"}) {
    INFO(start);
    CHECK(verdict(std::string(start) + "Content-Length: 0\r\n\r\n") == HeadVerdict::kOther);
  }
  CHECK_FALSE(may_start_publish("GET"));
  CHECK_FALSE(may_start_publish("POST /publication"));
  CHECK(may_start_publish("POST /publish?"));
}

TEST_CASE("a head with anything unusual is libwebsockets'", "[publish_head]") {
  const std::vector<std::string> odd = {"Transfer-Encoding: chunked\r\n",
                                        "Content-Length: 2\r\nContent-Length: 2\r\n",
                                        "Content-Length: 2, 2\r\n",
                                        "Content-Length: -1\r\n",
                                        "Content-Length: 0x10\r\n",
                                        "Content-Length: \r\n",
                                        "Content-Length: 12345678901234567890\r\n",
                                        "Expect: 100-continue\r\n",
                                        "Upgrade: h2c\r\n",
                                        "Connection: Upgrade\r\n",
                                        "HTTP2-Settings: AAMAAABkAAQAAP__\r\n",
                                        "Origin: a\r\nOrigin: b\r\n",
                                        "Authorization: a\r\nAuthorization: b\r\n",
                                        " folded: value\r\n",
                                        "No-Colon\r\n",
                                        ": no name\r\n",
                                        "Bad Name: x\r\n",
                                        "Name: bare\rCR\r\n",
                                        std::string("Name: nul\0x\r\n", 13),
                                        "Name: bare\nLF\r\n",
                                        "Name: del\x7f\r\n"};
  for (const std::string& fields : odd) {
    std::string input = kLine + fields + "\r\n";
    INFO(input);
    CHECK(verdict(input) == HeadVerdict::kOther);
  }
}

TEST_CASE("a head past the size limit is libwebsockets'", "[publish_head]") {
  std::string input = kLine + "X-Pad: " + std::string(kMaxPublishHeadBytes, 'a');
  CHECK(verdict(input) == HeadVerdict::kOther);
  CHECK(verdict(input.substr(0, kMaxPublishHeadBytes - 1)) == HeadVerdict::kIncomplete);
  std::string whole = kLine + "X-Pad: " + std::string(kMaxPublishHeadBytes, 'a') + "\r\n\r\n";
  CHECK(verdict(whole) == HeadVerdict::kOther);
}

TEST_CASE("values may carry tabs and obs-text, trimmed of spaces", "[publish_head]") {
  PublishHead head;
  REQUIRE(read_publish_head(kLine + "Origin:\t http://\xc3\xa9.test \t\r\nContent-Length:0\r\n\r\n",
                            head) == HeadVerdict::kPublish);
  CHECK(head.origin == "http://\xc3\xa9.test");
}
