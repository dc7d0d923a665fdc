// The client against a real rthub-server over WebSocket: receive, subscribe and unsubscribe while
// connected, publish.
#include <catch2/catch.hpp>

#include "rthub/client.hpp"
#include "support/checks.hpp"
#include "support/event_log.hpp"
#include "support/http.hpp"
#include "support/hub_process.hpp"

using namespace rthub_test;
using rthub::ClientState;
using rthub::ClientTransport;

TEST_CASE("client receives over WebSocket from a real hub", "[ws]") {
  HubProcess hub({"--allow-client-publish"});
  EventLog log;
  rthub::ClientOptions options;
  options.url = hub.url();
  options.channels = {"geometry"};
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();
  REQUIRE(log.wait_state(ClientState::kConnected, ClientTransport::kWebSocket, 5000) >= 0);
  REQUIRE(log.wait_subscribed("geometry", 5000));

  const int kCount = 100;
  for (int i = 1; i <= kCount; ++i)
    REQUIRE(publish(hub.port(), "geometry",
                    "{\"i\":" + std::to_string(i) + ",\"s\":\"\\u00e9 \\\"q\\\"\"}") == 200);
  REQUIRE(log.wait_messages("geometry", kCount, 10000));
  auto events = log.snapshot();
  auto messages = EventLog::messages(events, "geometry");
  REQUIRE(messages.size() == kCount);
  for (int i = 0; i < kCount; ++i) {
    CHECK(messages[i].position.seq == static_cast<uint64_t>(i + 1));
    CHECK(messages[i].type == "test");
    CHECK(messages[i].data ==
          "{\"i\":" + std::to_string(i + 1) + ",\"s\":\"\\u00e9 \\\"q\\\"\"}");  // untouched
    CHECK(messages[i].ts_ms > 0);
  }
  check_exactly_once_in_order(events, "geometry");

  SECTION("subscribe and unsubscribe while connected") {
    client.subscribe("user:42");
    REQUIRE(log.wait_subscribed("user:42", 5000));
    REQUIRE(publish(hub.port(), "user:42", "[1]") == 200);
    REQUIRE(log.wait_messages("user:42", 1, 5000));

    client.unsubscribe("geometry");
    REQUIRE(log.wait(
        [](const EventLog::Events& ev) {
          return count_kind(ev, Kind::kUnsubscribed, "geometry") == 1;
        },
        5000));
    REQUIRE(publish(hub.port(), "geometry", "\"after\"") == 200);
    REQUIRE(publish(hub.port(), "user:42", "[2]") == 200);
    REQUIRE(log.wait_messages("user:42", 2, 5000));
    CHECK(EventLog::messages(log.snapshot(), "geometry").size() == kCount);
  }

  SECTION("publish over the WebSocket") {
    uint64_t id = client.publish("geometry", "note", "{\"x\":[1,2,{\"y\":null}]}");
    CHECK(id > 0);
    REQUIRE(log.wait(
        [id](const EventLog::Events& ev) {
          return EventLog::find(ev, 0, [id](const rthub::ClientEvent& e) {
                   return e.kind == Kind::kPublished && e.request_id == id;
                 }) >= 0;
        },
        5000));
    REQUIRE(log.wait_messages("geometry", kCount + 1, 5000));
    auto last = EventLog::messages(log.snapshot(), "geometry").back();
    CHECK(last.type == "note");
    CHECK(last.data == "{\"x\":[1,2,{\"y\":null}]}");
    CHECK(last.position.seq == kCount + 1);
  }

  rthub::ClientStats stats = client.stats();
  CHECK(stats.connects == 1);
  CHECK(stats.reconnects == 0);
  CHECK(stats.fallbacks == 0);
  CHECK(stats.messages >= static_cast<uint64_t>(kCount));
  client.stop();
  auto final_events = log.snapshot();
  REQUIRE_FALSE(final_events.empty());
  CHECK(EventLog::is_state(final_events.back(), ClientState::kClosed));
  client.stop();  // idempotent
}

TEST_CASE("client reports a publish the hub refuses", "[ws]") {
  HubProcess hub;  // anonymous clients may not publish
  EventLog log;
  rthub::ClientOptions options;
  options.url = hub.url();
  options.on_event = log.sink();
  rthub::Client client(options);
  uint64_t id = client.publish("incidents", "incident.created", "{}");  // waits for the connection
  client.start();
  REQUIRE(log.wait(
      [id](const EventLog::Events& ev) {
        return EventLog::find(ev, 0, [id](const rthub::ClientEvent& e) {
                 return e.kind == Kind::kError && e.request_id == id;
               }) >= 0;
      },
      5000));
  auto events = log.snapshot();
  auto error = events[EventLog::find(
      events, 0, [](const rthub::ClientEvent& e) { return e.kind == Kind::kError; })];
  CHECK(error.code == "forbidden");
  CHECK(error.channel == "incidents");
}

TEST_CASE("client checks its arguments", "[ws]") {
  rthub::ClientOptions options;
  options.url = "http://127.0.0.1:1";
  rthub::Client client(options);
  CHECK_THROWS_AS(client.subscribe("bad channel"), rthub::Error);
  CHECK_THROWS_AS(client.publish("ok", "t", "{not json"), rthub::Error);
  options.url = "127.0.0.1:1";
  CHECK_THROWS_AS(rthub::Client(options), rthub::Error);
  options.url = "http://127.0.0.1:1";
  options.channels = {"ok", "not ok"};
  CHECK_THROWS_AS(rthub::Client(options), rthub::Error);
  options.channels = {};
  options.backoff_cap_ms = 1;
  CHECK_THROWS_AS(rthub::Client(options), rthub::Error);
}
