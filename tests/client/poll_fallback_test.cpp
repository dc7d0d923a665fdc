// The second fallback on a manual clock (docs/CLIENT.md, "Fallback"): an event stream that opens
// but brings nothing within sse_silence_ms, or that fails as the WebSocket did, is followed at
// once by long-polling; each step that opens is counted; WebSocket probes go on while polling.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "support/strategy_rig.hpp"

using namespace strategy_rig;
using Phase = ConnectionStrategy::Phase;
using Route = ConnectionStrategy::Route;

namespace {

StrategySettings silence_settings(int64_t silence_ms, int64_t retry_ms = 60000) {
  StrategySettings s = settings(50000, retry_ms);
  s.sse_silence_ms = silence_ms;
  return s;
}

// Starts `rig` and lets its WebSocket fail and its event stream open: streaming after a fallback.
FakeLink& fall_back_to_stream(Rig& rig) {
  rig.strategy.start();
  rig.links.last().refuse(502);
  FakeLink& stream = rig.links.last();
  REQUIRE(stream.transport == ClientTransport::kEventStream);
  stream.open();
  REQUIRE(rig.strategy.route() == Route::kFallenBack);
  return stream;
}

}  // namespace

TEST_CASE("an event stream silent for sse_silence_ms is left for long-polling at once",
          "[unit][strategy][poll]") {
  Rig rig(silence_settings(3000), {}, false);
  rig.book.want("a", rthub::Position{"e1", 4});  // a position, so the poll resumes after it
  FakeLink& stream = fall_back_to_stream(rig);
  int disconnects = rig.hooks.disconnected;
  rig.clock.advance(2999);
  CHECK(!stream.abandoned);
  CHECK(rig.links.links.size() == 2);
  rig.clock.advance(1);
  CHECK(stream.abandoned);
  REQUIRE(rig.links.links.size() == 3);  // no delay
  FakeLink& poll = rig.links.last();
  CHECK(poll.transport == ClientTransport::kLongPoll);
  CHECK(poll.fallback_mark);
  CHECK(poll.channels == std::vector<std::string>{"a"});
  CHECK(poll.cursor == rig.book.cursor());
  CHECK(!poll.cursor.empty());
  CHECK(rig.strategy.route() == Route::kPollAttempt);
  CHECK(rig.hooks.disconnected == disconnects + 1);  // what waited on the stream gets no answer
  CHECK(rig.counters.fallbacks == 1);                // the stream step only, until polling opens
  poll.open();
  CHECK(rig.strategy.route() == Route::kPolling);
  CHECK(rig.strategy.transport() == ClientTransport::kLongPoll);
  CHECK(rig.counters.fallbacks == 2);  // each step that opened
  auto states = rig.states();
  REQUIRE(states.size() == 7);  // connecting ws, fallback, connecting sse, connected, fallback, ...
  CHECK(states[4].state == ClientState::kFallback);
  CHECK(states[4].transport == ClientTransport::kLongPoll);
  CHECK(states[4].reason.find("brought nothing in 3000 ms") != std::string::npos);
  CHECK(states[5].state == ClientState::kConnecting);
  CHECK(states[5].transport == ClientTransport::kLongPoll);
  CHECK(states[6].state == ClientState::kConnected);
  CHECK(states[6].transport == ClientTransport::kLongPoll);
}

TEST_CASE("an event stream that brings its first event or any byte in time is kept",
          "[unit][strategy][poll]") {
  bool as_text = GENERATE(true, false);
  Rig rig(silence_settings(3000));
  FakeLink& stream = fall_back_to_stream(rig);
  rig.clock.advance(2999);
  if (as_text)
    stream.text(R"({"op":"subscribed","channel":"a","epoch":"e1","seq":0})");
  else
    stream.activity();  // a comment line: bytes, no object
  rig.clock.advance(10000);
  CHECK(!stream.abandoned);
  CHECK(rig.links.links.size() == 2);
  CHECK(rig.strategy.transport() == ClientTransport::kEventStream);
}

TEST_CASE("an event stream that fails as the WebSocket did is followed at once by long-polling",
          "[unit][strategy][poll]") {
  Rig rig(silence_settings(3000));
  rig.strategy.start();
  rig.links.last().refuse(502);  // the WebSocket
  rig.links.last().refuse(502);  // the event stream: a proxy that refuses it as well
  REQUIRE(rig.links.links.size() == 3);
  CHECK(rig.links.last().transport == ClientTransport::kLongPoll);
  CHECK(rig.links.last().fallback_mark);
  CHECK(rig.hooks.refusals.empty());  // a step down, not an error
  rig.links.last().open();
  CHECK(rig.counters.fallbacks == 1);  // only long-polling opened
  CHECK(rig.strategy.route() == Route::kPolling);
}

TEST_CASE("an event stream that opens and ends before bringing anything is left for polling",
          "[unit][strategy][poll]") {
  Rig rig(silence_settings(3000));
  FakeLink& stream = fall_back_to_stream(rig);
  rig.clock.advance(100);
  stream.drop();
  REQUIRE(rig.links.links.size() == 3);
  CHECK(rig.links.last().transport == ClientTransport::kLongPoll);
  CHECK(rig.strategy.route() == Route::kPollAttempt);
}

TEST_CASE("sse_only streams are never left for polling, however silent", "[unit][strategy][poll]") {
  StrategySettings s = silence_settings(3000);
  s.sse_only = true;
  Rig rig(s);
  rig.strategy.start();
  FakeLink& stream = rig.links.last();
  stream.open();
  rig.clock.advance(40000);  // below the 50 s watchdog
  CHECK(!stream.abandoned);
  CHECK(rig.links.links.size() == 1);
}

TEST_CASE(
    "while polling after a fallback, reconnects stay on polling and a WebSocket probe "
    "takes over when it opens",
    "[unit][strategy][poll]") {
  BackoffPolicy policy;
  policy.base_ms = 100;
  Rig rig(silence_settings(3000, 10000), policy);
  fall_back_to_stream(rig);
  rig.clock.advance(3000);
  FakeLink& poll = rig.links.last();
  poll.open();
  poll.drop();  // the hub went away: back off, then poll again
  CHECK(rig.strategy.phase() == Phase::kBackingOff);
  rig.clock.advance(rig.clock.next_due_in());
  FakeLink& again = rig.links.last();
  CHECK(again.transport == ClientTransport::kLongPoll);
  CHECK(again.fallback_mark);
  again.open();
  CHECK(rig.counters.fallbacks == 2);  // a reconnect on the same route is no new step
  rig.clock.advance(9999);
  CHECK(rig.links.last().transport == ClientTransport::kLongPoll);
  rig.clock.advance(1);
  FakeLink& probe = rig.links.last();
  REQUIRE(probe.transport == ClientTransport::kWebSocket);
  probe.open();
  CHECK(again.abandoned);
  CHECK(rig.strategy.transport() == ClientTransport::kWebSocket);
  CHECK(rig.strategy.route() == Route::kWebSocket);
  CHECK(rig.hooks.took_overs == 1);
}

TEST_CASE("poll_only polls from the start, unmarked, and reopens when the channels change",
          "[unit][strategy][poll]") {
  StrategySettings s = settings();
  s.poll_only = true;
  Rig rig(s, {}, false);
  rig.strategy.start();
  CHECK(rig.strategy.phase() == Phase::kWaitingForChannel);
  rig.book.want("a");
  rig.strategy.channels_changed();
  REQUIRE(rig.links.links.size() == 1);
  FakeLink& first = rig.links.last();
  CHECK(first.transport == ClientTransport::kLongPoll);
  CHECK(!first.fallback_mark);
  first.open();
  rig.clock.advance(70000);            // no probe: polling was chosen
  CHECK(rig.links.links.size() == 2);  // ...only the watchdog replaced the silent link
  CHECK(first.ended());
  CHECK(rig.links.last().transport == ClientTransport::kLongPoll);
  rig.links.last().open();
  rig.book.want("b");
  rig.strategy.channels_changed();
  REQUIRE(rig.links.links.size() == 3);
  CHECK(rig.links.last().channels == std::vector<std::string>{"a", "b"});
  CHECK(rig.counters.fallbacks == 0);
}
