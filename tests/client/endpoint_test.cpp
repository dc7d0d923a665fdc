// Base URLs and the request paths built on them.
#include <catch2/catch.hpp>

#include "client/endpoint.hpp"

using namespace rthub::client;

TEST_CASE("endpoint parses base URLs", "[unit][endpoint]") {
  std::string error;
  auto e = parse_endpoint("http://127.0.0.1:8080", error);
  REQUIRE(e);
  CHECK_FALSE(e->tls);
  CHECK(e->host == "127.0.0.1");
  CHECK(e->port == 8080);
  CHECK(e->path_prefix.empty());
  CHECK(e->host_header() == "127.0.0.1:8080");
  CHECK(e->websocket_path() == "/ws");

  e = parse_endpoint("HTTPS://hub.example/rt/", error);
  REQUIRE(e);
  CHECK(e->tls);
  CHECK(e->port == 443);
  CHECK(e->path_prefix == "/rt");
  CHECK(e->host_header() == "hub.example");
  CHECK(e->publish_path() == "/rt/publish");

  e = parse_endpoint("wss://[::1]:9443/ws", error);
  REQUIRE(e);
  CHECK(e->tls);
  CHECK(e->host == "::1");
  CHECK(e->port == 9443);
  CHECK(e->path_prefix.empty());
  CHECK(e->host_header() == "[::1]:9443");

  e = parse_endpoint("ws://h/events", error);
  REQUIRE(e);
  CHECK(e->port == 80);
  CHECK(e->path_prefix.empty());
}

TEST_CASE("endpoint refuses bad URLs", "[unit][endpoint]") {
  std::string error;
  for (const char* bad :
       {"127.0.0.1:8080", "ftp://h", "http://", "http://h:0", "http://h:70000", "http://h:x",
        "http://u:p@h", "http://h/?q=1", "http://[::1", "http://h#f"}) {
    INFO(bad);
    CHECK_FALSE(parse_endpoint(bad, error));
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("endpoint builds the event stream path", "[unit][endpoint]") {
  std::string error;
  auto e = parse_endpoint("http://h:1/p", error);
  REQUIRE(e);
  CHECK(e->events_path({"a", "user:42", "x/y@z"}, false) ==
        "/p/events?channel=a&channel=user%3A42&channel=x%2Fy%40z");
  CHECK(e->events_path({"a"}, true) == "/p/events?channel=a&fallback=1");
  CHECK(e->events_path({"a"}, true, true) == "/p/events?channel=a&fallback=1&snapshot=1");
  CHECK(e->events_path({"a"}, false, true) == "/p/events?channel=a&snapshot=1");
  CHECK(percent_encode("A-z_0.9~ +") == "A-z_0.9~%20%2B");
}

TEST_CASE("endpoint builds the long-polling path", "[unit][endpoint]") {
  std::string error;
  auto e = parse_endpoint("http://h:1/p", error);
  REQUIRE(e);
  CHECK(e->poll_path({"a", "user:42"}, "", false) == "/p/poll?channel=a&channel=user%3A42");
  CHECK(e->poll_path({"a"}, "a:e1:4,b:e2:0", true) ==
        "/p/poll?channel=a&cursor=a%3Ae1%3A4%2Cb%3Ae2%3A0&fallback=1");
}
