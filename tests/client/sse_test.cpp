// The client over Server-Sent Events only: receive, change channels (the stream reopens and
// resumes), publish by POST /publish.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "rthub/client.hpp"
#include "support/checks.hpp"
#include "support/event_log.hpp"
#include "support/http.hpp"
#include "support/hub_process.hpp"

using namespace rthub_test;
using rthub::ClientState;
using rthub::ClientTransport;

TEST_CASE("client with sse_only receives over SSE", "[sse]") {
  HubProcess hub;
  EventLog log;
  rthub::ClientOptions options;
  options.url = hub.url();
  options.channels = {"a"};
  options.sse_only = true;
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();
  REQUIRE(log.wait_state(ClientState::kConnected, ClientTransport::kEventStream, 5000) >= 0);
  REQUIRE(log.wait_subscribed("a", 5000));
  for (int i = 1; i <= 50; ++i)
    REQUIRE(publish(hub.port(), "a", "{\"n\":" + std::to_string(i) + "}") == 200);
  REQUIRE(log.wait_messages("a", 50, 10000));
  auto messages = EventLog::messages(log.snapshot(), "a");
  CHECK(messages.front().data == "{\"n\":1}");
  CHECK(messages.back().data == "{\"n\":50}");
  check_exactly_once_in_order(log.snapshot(), "a");
  CHECK(metric(hub.port(), "rthub_sse_fallbacks_total") == 0);  // chosen, not a fallback
  CHECK(EventLog::find(log.snapshot(), 0, [](const rthub::ClientEvent& e) {
          return e.kind == Kind::kState && e.transport == ClientTransport::kWebSocket;
        }) < 0);

  SECTION("changing channels reopens the stream without losing a message") {
    std::atomic<bool> stop{false};
    std::atomic<int> published{50};
    std::thread publisher([&] {
      while (!stop) {
        if (publish(hub.port(), "a", "{\"n\":" + std::to_string(published + 1) + "}") == 200)
          published++;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
    client.subscribe("b");
    REQUIRE(log.wait_subscribed("b", 5000));
    client.unsubscribe("b");
    client.subscribe("c");
    REQUIRE(log.wait_subscribed("c", 5000));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop = true;
    publisher.join();
    REQUIRE(publish(hub.port(), "c", "true") == 200);
    REQUIRE(log.wait_messages("a", static_cast<size_t>(published.load()), 10000));
    REQUIRE(log.wait_messages("c", 1, 5000));
    auto events = log.snapshot();
    CHECK(EventLog::messages(events, "a").size() == static_cast<size_t>(published.load()));
    check_exactly_once_in_order(events, "a");
    CHECK(count_kind(events, Kind::kReset) == 0);
  }

  SECTION("publish goes by POST /publish") {
    uint64_t id = client.publish("a", "from-sse", "{\"ok\":true}");
    REQUIRE(log.wait(
        [id](const EventLog::Events& ev) {
          return EventLog::find(ev, 0, [id](const rthub::ClientEvent& e) {
                   return e.kind == Kind::kPublished && e.request_id == id && e.position.seq == 51;
                 }) >= 0;
        },
        5000));
    REQUIRE(log.wait_messages("a", 51, 5000));
    CHECK(EventLog::messages(log.snapshot(), "a").back().type == "from-sse");
  }
  client.stop();
}

TEST_CASE("an SSE client with no channel waits for one", "[sse]") {
  HubProcess hub;
  EventLog log;
  rthub::ClientOptions options;
  options.url = hub.url();
  options.sse_only = true;
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();
  REQUIRE(log.wait_state(ClientState::kDisconnected, ClientTransport::kEventStream, 5000) >= 0);
  client.subscribe("late");
  REQUIRE(log.wait_subscribed("late", 5000));
  REQUIRE(publish(hub.port(), "late", "1") == 200);
  REQUIRE(log.wait_messages("late", 1, 5000));
}
