// The connection strategy on a manual clock with links that never touch a socket: fallback to
// SSE, the WebSocket probe, backoff with jitter and its reset, giving up, and the watchdog. Each
// case runs in microseconds; time moves only when the test says so (docs/CLIENT.md).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "support/strategy_rig.hpp"

using namespace strategy_rig;
using Phase = ConnectionStrategy::Phase;
using Route = ConnectionStrategy::Route;

TEST_CASE("a refused WebSocket is followed at once by an event stream; a fallback once it opens",
          "[unit][strategy]") {
  Rig rig(settings());
  rig.strategy.start();
  REQUIRE(rig.links.links.size() == 1);
  CHECK(rig.links.last().transport == ClientTransport::kWebSocket);
  rig.links.last().refuse(502);
  REQUIRE(rig.links.links.size() == 2);  // no delay: the stream is tried right away
  CHECK(rig.links.last().transport == ClientTransport::kEventStream);
  CHECK(rig.links.last().fallback_mark);
  CHECK(rig.links.last().channels == std::vector<std::string>{"a"});
  CHECK(rig.strategy.route() == Route::kFallbackAttempt);
  CHECK(rig.counters.fallbacks == 0);
  rig.links.last().open();
  CHECK(rig.strategy.route() == Route::kFallenBack);
  CHECK(rig.strategy.phase() == Phase::kConnected);
  CHECK(rig.counters.fallbacks == 1);
  auto states = rig.states();
  REQUIRE(states.size() == 4);
  CHECK(states[0].state == ClientState::kConnecting);
  CHECK(states[1].state == ClientState::kFallback);
  CHECK(states[1].reason.find("HTTP 502") != std::string::npos);
  CHECK(states[2].state == ClientState::kConnecting);
  CHECK(states[2].transport == ClientTransport::kEventStream);
  CHECK(states[3].state == ClientState::kConnected);
}

TEST_CASE("while fallen back, a WebSocket probe every websocket_retry_ms takes over when it opens",
          "[unit][strategy]") {
  Rig rig(settings(50000, 1000));
  rig.strategy.start();
  rig.links.last().refuse(400);
  FakeLink& stream = rig.links.last();
  stream.open();
  rig.clock.advance(999);
  CHECK(rig.links.links.size() == 2);
  rig.clock.advance(1);
  REQUIRE(rig.links.links.size() == 3);  // the probe, beside the stream
  rig.links.last().refuse(400);          // still refused: streaming goes on
  CHECK(rig.strategy.transport() == ClientTransport::kEventStream);
  CHECK(!stream.abandoned);
  rig.clock.advance(1000);
  REQUIRE(rig.links.links.size() == 4);
  rig.links.last().open();
  CHECK(stream.abandoned);
  CHECK(rig.strategy.transport() == ClientTransport::kWebSocket);
  CHECK(rig.strategy.route() == Route::kWebSocket);
  CHECK(rig.hooks.took_overs == 1);
  CHECK(rig.counters.reconnects == 0);  // a switch, not a reconnect
}

TEST_CASE(
    "when the event stream and long-polling fail too, the client backs off and tries "
    "WebSocket again",
    "[unit][strategy]") {
  BackoffPolicy policy;
  policy.base_ms = 100;
  policy.cap_ms = 1000;
  Rig rig(settings(), policy);
  rig.strategy.start();
  rig.links.last().drop();       // the WebSocket attempt
  rig.links.last().refuse(401);  // the event stream attempt: long-polling is tried at once
  REQUIRE(rig.links.links.size() == 3);
  CHECK(rig.links.last().transport == ClientTransport::kLongPoll);
  rig.links.last().refuse(401);
  CHECK(rig.hooks.refusals == std::vector<int>{401});
  CHECK(rig.counters.fallbacks == 0);
  CHECK(rig.strategy.phase() == Phase::kBackingOff);
  CHECK(rig.strategy.route() == Route::kWebSocket);
  CHECK(rig.clock.next_due_in() == 50);  // attempt 0: half (the drawn 0.5) of base
  rig.clock.advance(50);
  REQUIRE(rig.links.links.size() == 4);
  CHECK(rig.links.last().transport == ClientTransport::kWebSocket);
}

TEST_CASE("backoff grows with each failure in a row, is capped, and resets after a stable link",
          "[unit][strategy]") {
  BackoffPolicy policy;
  policy.base_ms = 100;
  policy.cap_ms = 400;
  Rig rig(settings(), policy, false);  // no channel: no event stream attempts in between
  rig.strategy.start();
  std::vector<int64_t> delays;
  for (int i = 0; i < 5; ++i) {
    rig.links.last().drop();
    delays.push_back(rig.clock.next_due_in());
    rig.clock.advance(delays.back());
  }
  CHECK(delays == std::vector<int64_t>{50, 100, 200, 200, 200});  // [0, min(cap, base * 2^n)]
  rig.links.last().open();
  rig.clock.advance(ConnectionStrategy::kStableConnectionMs - 1);
  rig.links.last().drop();  // held less than 5 s: the count goes on
  CHECK(rig.clock.next_due_in() == 200);
  rig.clock.advance(200);
  rig.links.last().open();
  rig.clock.advance(ConnectionStrategy::kStableConnectionMs);
  rig.links.last().drop();  // held 5 s: a success, the next delay starts from attempt 0
  CHECK(rig.clock.next_due_in() == 50);
}

TEST_CASE("max_attempts failures in a row close the client", "[unit][strategy]") {
  BackoffPolicy policy;
  policy.base_ms = 10;
  policy.max_attempts = 2;
  Rig rig(settings(), policy, false);
  rig.strategy.start();
  for (int i = 0; i < 3; ++i) {
    rig.links.last().drop();
    rig.clock.advance(100);
  }
  CHECK(rig.strategy.phase() == Phase::kClosed);
  CHECK(rig.links.links.size() == 3);
  auto states = rig.states();
  REQUIRE(!states.empty());
  CHECK(states.back().state == ClientState::kClosed);
  CHECK(states.back().reason.find("gave up after 2 retries") != std::string::npos);
}

TEST_CASE("the watchdog pings at half its time and replaces a silent connection at the whole",
          "[unit][strategy]") {
  Rig rig(settings(1000));
  rig.strategy.start();
  FakeLink& ws = rig.links.last();
  ws.open();
  rig.clock.advance(400);
  ws.text(R"({"op":"ping"})");  // heard: the silence starts again
  CHECK(rig.hooks.texts.size() == 1);
  rig.clock.advance(499);
  CHECK(ws.sent.empty());
  rig.clock.advance(1);  // 500 ms of silence: half the watchdog
  REQUIRE(ws.sent.size() == 1);
  CHECK(ws.sent[0].find("\"op\":\"ping\"") != std::string::npos);
  rig.clock.advance(499);
  CHECK(!ws.ended());
  rig.clock.advance(1);  // 1000 ms of silence
  CHECK(ws.ended());
  CHECK(rig.counters.watchdog == 1);
  CHECK(rig.strategy.phase() == Phase::kBackingOff);
  CHECK(rig.hooks.disconnected == 1);
}

TEST_CASE("paused reading is not silence for the watchdog", "[unit][strategy]") {
  Rig rig(settings(1000));
  rig.strategy.start();
  FakeLink& ws = rig.links.last();
  ws.open();
  rig.strategy.set_paused(true);
  CHECK(!ws.reading);
  rig.clock.advance(5000);
  CHECK(!ws.ended());
  rig.strategy.set_paused(false);
  CHECK(ws.reading);
  rig.clock.advance(999);
  CHECK(!ws.ended());
  rig.clock.advance(1);
  CHECK(ws.ended());
}

TEST_CASE("an event stream waits for a channel, and reopens when the channels change",
          "[unit][strategy]") {
  StrategySettings s = settings();
  s.sse_only = true;
  Rig rig(s, {}, false);
  rig.strategy.start();
  CHECK(rig.strategy.phase() == Phase::kWaitingForChannel);
  CHECK(rig.links.links.empty());
  rig.book.want("a");
  rig.strategy.channels_changed();
  REQUIRE(rig.links.links.size() == 1);
  FakeLink& first = rig.links.last();
  CHECK(!first.fallback_mark);  // chosen, not a fallback
  first.open();
  rig.book.want("b");
  rig.strategy.channels_changed();
  CHECK(first.abandoned);
  REQUIRE(rig.links.links.size() == 2);
  CHECK(rig.links.last().channels == std::vector<std::string>{"a", "b"});
  CHECK(rig.hooks.disconnected == 0);  // a reopen, not a loss
}
