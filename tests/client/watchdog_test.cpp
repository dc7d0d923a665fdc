// The heartbeat watchdog: a frozen hub (SIGSTOP: its sockets stay open, nothing comes) is noticed
// within twice its heartbeat, and the client comes back when it thaws.
#include <catch2/catch.hpp>

#include <thread>

#include "rthub/client.hpp"
#include "support/checks.hpp"
#include "support/event_log.hpp"
#include "support/http.hpp"
#include "support/hub_process.hpp"

using namespace rthub_test;
using rthub::ClientState;
using rthub::ClientTransport;

namespace {

void frozen_hub_is_noticed(bool sse, int heartbeat) {
  ClientTransport transport = sse ? ClientTransport::kEventStream : ClientTransport::kWebSocket;
  HubProcess hub({"--heartbeat", std::to_string(heartbeat)});
  EventLog log;
  rthub::ClientOptions options;
  options.url = hub.url();
  options.channels = {"a"};
  options.sse_only = sse;
  options.heartbeat_seconds = heartbeat;
  options.backoff_base_ms = 200;
  options.backoff_cap_ms = 500;
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();
  REQUIRE(log.wait_state(ClientState::kConnected, transport, 5000) >= 0);
  REQUIRE(log.wait_subscribed("a", 5000));
  REQUIRE(publish(hub.port(), "a", "1") == 200);
  REQUIRE(log.wait_messages("a", 1, 5000));

  // A healthy, idle link is not mistaken for a dead one.
  std::this_thread::sleep_for(std::chrono::milliseconds(heartbeat * 3000));
  REQUIRE(EventLog::find(log.snapshot(), 0, [](const rthub::ClientEvent& e) {
            return EventLog::is_state(e, ClientState::kDisconnected);
          }) < 0);

  size_t before = log.size();
  auto frozen_at = std::chrono::steady_clock::now();
  hub.freeze();
  long lost =
      log.wait_state(ClientState::kDisconnected, transport, heartbeat * 2000 + 3000, before);
  REQUIRE(lost >= 0);
  auto noticed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(log.time_of(lost) - frozen_at).count();
  auto events = log.snapshot();
  INFO("noticed after " << noticed_ms << " ms: " << events[lost].reason);
  CHECK(events[lost].reason.find("watchdog") != std::string::npos);
  // The watchdog's timer is armed for the silence left (lib/client/client.cpp check_watchdog), so
  // it fires 2 x heartbeat after the last input, which came before the freeze; a late timer adds
  // up to kSchedulingAllowanceMs.
  CHECK(noticed_ms <= heartbeat * 2000 + kSchedulingAllowanceMs);
  CHECK(client.stats().watchdog_timeouts == 1);

  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  size_t thawed_from = log.size();
  hub.thaw();
  REQUIRE(log.wait_state(ClientState::kConnected, ClientTransport::kNone, 15000, thawed_from) >= 0);
  REQUIRE(log.wait_subscribed("a", 5000, thawed_from));
  REQUIRE(publish(hub.port(), "a", "2") == 200);
  REQUIRE(log.wait_messages("a", 2, 5000));
  check_exactly_once_in_order(log.snapshot(), "a");
}

}  // namespace

// A healthy link must never look dead, so the heartbeat leaves the watchdog (2 x heartbeat) a
// margin of kSchedulingAllowanceMs (2 s) over the longest silence the design allows:
// - WebSocket: the client asks for a pong after 1 x heartbeat of silence and the hub answers at
//   once, so the longest silence is 1 x heartbeat: heartbeat 2 leaves 2 s.
// - SSE: the client cannot ask; the hub visits each session once per 1 s sweep and queues a ping
//   on a stream idle for a heartbeat, so the longest silence is heartbeat + 1 s: heartbeat 3
//   leaves 2 s.
TEST_CASE("watchdog notices a frozen hub over WebSocket within twice the heartbeat", "[watchdog]") {
  frozen_hub_is_noticed(false, 2);
}

TEST_CASE("watchdog notices a frozen hub over SSE within twice the heartbeat", "[watchdog]") {
  frozen_hub_is_noticed(true, 3);
}
