// WebSocket first, SSE when the WebSocket handshake cannot pass, and back to WebSocket when it
// can again. A loopback proxy plays the old proxy.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "rthub/client.hpp"
#include "support/checks.hpp"
#include "support/event_log.hpp"
#include "support/http.hpp"
#include "support/hub_process.hpp"
#include "support/upgrade_proxy.hpp"

using namespace rthub_test;
using rthub::ClientState;
using rthub::ClientTransport;

TEST_CASE("client falls back to SSE when a proxy refuses the upgrade, and returns to WebSocket",
          "[fallback]") {
  HubProcess hub;
  UpgradeProxy proxy(hub.port(), UpgradeProxy::Mode::kRefuseUpgrade);
  EventLog log;
  rthub::ClientOptions options;
  options.url = proxy.url();
  options.channels = {"a"};
  options.websocket_retry_ms = 1000;
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();

  long fallback = log.wait_state(ClientState::kFallback, ClientTransport::kEventStream, 5000);
  REQUIRE(fallback >= 0);
  CHECK(log.snapshot()[fallback].reason.find("502") != std::string::npos);
  REQUIRE(log.wait_state(ClientState::kConnected, ClientTransport::kEventStream, 5000, fallback) >=
          0);
  REQUIRE(log.wait_subscribed("a", 5000));
  for (int i = 1; i <= 20; ++i) REQUIRE(publish(hub.port(), "a", std::to_string(i)) == 200);
  REQUIRE(log.wait_messages("a", 20, 5000));
  CHECK(metric(hub.port(), "rthub_sse_fallbacks_total") == 1);  // marked with fallback=1
  CHECK(client.stats().fallbacks == 1);
  // The client tries WebSocket again now and then (once a second here), without leaving SSE:
  // wait for two more tries (an event) rather than for a time.
  int tried = proxy.upgrades_seen();
  REQUIRE(wait_until([&] { return proxy.upgrades_seen() >= tried + 2; }, kHangMs));
  CHECK(EventLog::find(log.snapshot(), 0, [](const rthub::ClientEvent& e) {
          return EventLog::is_state(e, ClientState::kDisconnected);
        }) < 0);

  // The proxy learns WebSocket: the next probe takes over while messages keep flowing.
  std::atomic<bool> stop{false};
  std::atomic<int> published{20};
  std::thread publisher([&] {
    while (!stop) {
      if (publish(hub.port(), "a", std::to_string(published + 1)) == 200) published++;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  size_t before = log.size();
  proxy.set_mode(UpgradeProxy::Mode::kPass);
  long back = log.wait_state(ClientState::kConnected, ClientTransport::kWebSocket, 5000, before);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  publisher.join();
  REQUIRE(back >= 0);
  CHECK(log.snapshot()[back].reason.find("WebSocket") != std::string::npos);
  REQUIRE(log.wait_messages("a", static_cast<size_t>(published.load()), 5000));
  auto events = log.snapshot();
  CHECK(EventLog::messages(events, "a").size() == static_cast<size_t>(published.load()));
  check_exactly_once_in_order(events, "a");
  CHECK(count_kind(events, Kind::kReset) == 0);
  CHECK(client.stats().reconnects == 0);  // a switch, not a reconnect
}

TEST_CASE("client falls back when upgrades are never answered", "[fallback]") {
  HubProcess hub;
  UpgradeProxy proxy(hub.port(), UpgradeProxy::Mode::kSwallowUpgrade);
  EventLog log;
  rthub::ClientOptions options;
  options.url = proxy.url();
  options.channels = {"a"};
  options.handshake_timeout_ms = 400;
  options.backoff_base_ms = 50;
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();
  long fallback = log.wait_state(ClientState::kFallback, ClientTransport::kEventStream, 5000);
  REQUIRE(fallback >= 0);
  CHECK(log.snapshot()[fallback].reason.find("no answer") != std::string::npos);
  CHECK(proxy.upgrades_seen() == 1);  // the first unanswered upgrade leads to the event stream
  REQUIRE(log.wait_subscribed("a", 5000));
  REQUIRE(publish(hub.port(), "a", "{}") == 200);
  REQUIRE(log.wait_messages("a", 1, 5000));
}
