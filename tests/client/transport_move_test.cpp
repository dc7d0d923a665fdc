// A client that moves between transports mid-stream against a real hub: long-polling (a proxy
// that passes no streaming) -> WebSocket (the probe takes over once the proxy lets upgrades
// through) -> long-polling again (the proxy blocks streams and cuts the link). Messages are
// published all along; each must reach the host exactly once, in order.
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <thread>

#include "rthub/client.hpp"
#include "support/checks.hpp"
#include "support/child_process.hpp"
#include "support/http.hpp"
#include "support/hub_process.hpp"
#include "support/upgrade_proxy.hpp"

using namespace rthub_test;
using rthub::ClientState;
using rthub::ClientTransport;

namespace {

// Publishes 1, 2, ... on `channel` until stopped; `published` is the count so far.
class Publisher {
 public:
  Publisher(int port, std::string channel)
      : thread_([this, port, channel] {
          while (!stop_) {
            if (publish(port, channel, std::to_string(published_ + 1)) != 200) break;
            published_++;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        }) {}
  ~Publisher() { finish(); }
  int finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return published_;
  }
  int published() const { return published_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> published_{0};
  std::thread thread_;
};

}  // namespace

TEST_CASE("a client moving between long-polling and WebSocket mid-stream gets every message once",
          "[poll][fallback]") {
  HubProcess hub;
  UpgradeProxy proxy(hub.port(), UpgradeProxy::Mode::kRefuseStreams);
  EventLog log;
  rthub::ClientOptions options;
  options.url = proxy.url();
  options.channels = {"a"};
  options.websocket_retry_ms = 300;
  options.backoff_base_ms = 50;
  options.backoff_cap_ms = 200;
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();

  // WebSocket and the stream are refused at once: long-polling right after.
  long polling = log.wait_state(ClientState::kConnected, ClientTransport::kLongPoll, 5000);
  INFO("states: " << states_since(log.snapshot(), 0));
  REQUIRE(polling >= 0);
  REQUIRE(log.wait_subscribed("a", 5000));
  Publisher publisher(hub.port(), "a");
  REQUIRE(log.wait_messages("a", 50, 10000));

  proxy.set_mode(UpgradeProxy::Mode::kPass);  // the next probe (300 ms) takes over
  long to_ws = log.wait_state(ClientState::kConnected, ClientTransport::kWebSocket, 5000);
  REQUIRE(to_ws >= 0);
  size_t on_ws = EventLog::messages(log.snapshot(), "a").size();
  REQUIRE(log.wait_messages("a", on_ws + 50, 10000));

  proxy.set_mode(UpgradeProxy::Mode::kRefuseStreams);
  proxy.drop_all();  // the WebSocket is cut; its successor and the stream are refused
  REQUIRE(log.wait_state(ClientState::kConnected, ClientTransport::kLongPoll, 5000, to_ws) >= 0);
  size_t on_poll = EventLog::messages(log.snapshot(), "a").size();
  REQUIRE(log.wait_messages("a", on_poll + 50, 10000));

  int total = publisher.finish();
  REQUIRE(log.wait_messages("a", static_cast<size_t>(total), 10000));
  auto events = log.snapshot();
  CHECK(EventLog::messages(events, "a").size() == static_cast<size_t>(total));
  check_exactly_once_in_order(events, "a");
  CHECK(count_kind(events, rthub::ClientEvent::Kind::kReset, "a") == 0);
  client.stop();
}

TEST_CASE("rthub-listen --poll long-polls a hub directly", "[poll][listen]") {
  HubProcess hub;
  ChildProcess listen({RTHUB_LISTEN, hub.url(), "--channel", "a", "--poll"});
  REQUIRE(listen.wait_for_line("\"state\":\"connecting\",\"transport\":\"poll\"", 5000));
  REQUIRE(listen.wait_for_line("\"state\":\"connected\",\"transport\":\"poll\"", 5000));
  REQUIRE(listen.wait_for_line("\"event\":\"subscribed\"", 5000));
  REQUIRE(publish(hub.port(), "a", "{\"x\":[1,\"two\"]}") == 200);
  std::string line;
  REQUIRE(listen.wait_for_line("\"event\":\"message\"", 5000, &line));
  CHECK(line.find("\"data\":{\"x\":[1,\"two\"]}") != std::string::npos);
  for (const auto& l : listen.lines()) CHECK(l.find("\"transport\":\"ws\"") == std::string::npos);
  listen.signal(SIGTERM);
  CHECK(listen.wait_exit(5000) == 0);
}
