// HubCore's housekeeping sweep with many sessions: each tick visits a slice of about
// 1/kSweepSlices of them, every session is visited once per kSweepMs, and the heartbeat promises
// hold (a ping after an idle heartbeat, a silent WebSocket peer dropped after three). Also the
// per-message fan-out breakdown (queued, first write, last write) it reports in Metrics.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "broker/memory/memory_broker.hpp"
#include "core/hub_core.hpp"
#include "transport/sse/sse_kind.hpp"
#include "transport/ws/ws_kind.hpp"

using namespace rthub;

namespace {

// A session that only counts what the hub asks of it; its queue is read directly.
class CountingSession final : public Session {
 public:
  CountingSession() : Session(websocket_kind(), "127.0.0.1") {}
  void want_write() override {}
  void close(CloseCode code, std::string_view) override {
    close_codes.push_back(static_cast<int>(code));
  }
  std::vector<int> close_codes;
};

struct Fixture {
  explicit Fixture(int heartbeat_seconds = 25)
      : options(with_heartbeat(heartbeat_seconds)), broker(100, 0), core(options, metrics) {
    core.use_broker(broker);
  }
  static HubOptions with_heartbeat(int seconds) {
    HubOptions o;
    o.heartbeat_seconds = seconds;
    return o;
  }
  std::vector<std::unique_ptr<CountingSession>> open(size_t n) {
    std::vector<std::unique_ptr<CountingSession>> sessions;
    for (size_t i = 0; i < n; ++i) {
      sessions.push_back(std::make_unique<CountingSession>());
      core.attach(*sessions.back());
    }
    return sessions;
  }
  HubOptions options;
  Metrics metrics;
  MemoryBroker broker;
  HubCore core;
};

constexpr size_t kSlices = HubCore::kSweepSlices;

size_t ceil_div(size_t a, size_t b) {
  return (a + b - 1) / b;
}

// Sessions whose queue grew since `before`, and the new sizes.
size_t grown(const std::vector<std::unique_ptr<CountingSession>>& sessions,
             std::vector<size_t>& before) {
  size_t n = 0;
  for (size_t i = 0; i < sessions.size(); ++i) {
    if (sessions[i]->queue().size() > before[i]) ++n;
    before[i] = sessions[i]->queue().size();
  }
  return n;
}

}  // namespace

TEST_CASE("HubCore pings 10,000 idle sessions a slice per tick, each once per sweep",
          "[hub_core][sweep]") {
  Fixture hub;
  auto sessions = hub.open(10'000);
  int64_t t0 = monotonic_us() / 1000;
  for (auto& s : sessions) s->last_queued_ms = t0 - 26'000;  // idle for more than a heartbeat
  std::vector<size_t> before(sessions.size(), 0);
  const size_t slice = ceil_div(sessions.size(), kSlices);
  size_t pinged = 0;
  for (size_t k = 0; k < kSlices; ++k) {
    hub.core.tick_at(t0 + static_cast<int64_t>(k) * HubCore::kTickMs);
    size_t n = grown(sessions, before);
    INFO("tick " << k);
    CHECK(n <= slice);
    CHECK(n > 0);
    pinged += n;
  }
  CHECK(pinged == sessions.size());  // one sweep visited every session
  for (auto& s : sessions) CHECK(s->queue().size() == 1);
  CHECK(hub.metrics.heartbeats_sent.get() == sessions.size());
  // A second tick at the same time visits nothing; the next sweep finds nobody idle.
  hub.core.tick_at(t0 + static_cast<int64_t>(kSlices - 1) * HubCore::kTickMs);
  for (size_t k = kSlices; k < 2 * kSlices; ++k)
    hub.core.tick_at(t0 + static_cast<int64_t>(k) * HubCore::kTickMs);
  CHECK(grown(sessions, before) == 0);
  for (auto& s : sessions) hub.core.detach(*s);
}

TEST_CASE("HubCore drops silent WebSocket peers within [3 heartbeats, 3 heartbeats + a sweep)",
          "[hub_core][sweep]") {
  Fixture hub(1);  // heartbeat 1 s
  auto sessions = hub.open(2'000);
  int64_t t0 = monotonic_us() / 1000;
  for (auto& s : sessions) s->last_heard_ms = s->last_queued_ms = t0;  // silent from t0 on
  const int64_t three = 3 * 1000;
  const size_t slice = ceil_div(sessions.size(), kSlices);
  std::vector<int64_t> closed_at(sessions.size(), -1);
  for (int64_t now = t0; now <= t0 + three + HubCore::kSweepMs; now += HubCore::kTickMs) {
    hub.core.tick_at(now);
    size_t closed_now = 0;
    for (size_t i = 0; i < sessions.size(); ++i) {
      if (closed_at[i] < 0 && !sessions[i]->close_codes.empty()) {
        closed_at[i] = now;
        ++closed_now;
      }
    }
    CHECK(closed_now <= slice);
  }
  for (size_t i = 0; i < sessions.size(); ++i) {
    INFO("session " << i);
    REQUIRE(closed_at[i] >= 0);
    CHECK(closed_at[i] - t0 >= three);
    CHECK(closed_at[i] - t0 < three + HubCore::kSweepMs);
    CHECK(sessions[i]->close_codes == std::vector<int>{static_cast<int>(CloseCode::kAbnormal)});
  }
  CHECK(hub.metrics.heartbeat_timeouts.get() == sessions.size());
  for (auto& s : sessions) hub.core.detach(*s);
}

TEST_CASE("HubCore refills emptied sweep slices first and still visits everyone once",
          "[hub_core][sweep]") {
  Fixture hub;
  auto sessions = hub.open(1'000);  // 25 per slice
  // Close every session of ten slices (attach fills the emptiest slice, lowest first: i % 40).
  std::vector<std::unique_ptr<CountingSession>> kept;
  for (size_t i = 0; i < sessions.size(); ++i) {
    if (i % kSlices < 10)
      hub.core.detach(*sessions[i]);
    else
      kept.push_back(std::move(sessions[i]));
  }
  auto fresh = hub.open(250);
  for (auto& s : fresh) kept.push_back(std::move(s));
  REQUIRE(kept.size() == 1'000);
  int64_t t0 = monotonic_us() / 1000;
  for (auto& s : kept) s->last_queued_ms = t0 - 26'000;
  std::vector<size_t> before(kept.size(), 0);
  for (size_t k = 0; k < kSlices; ++k) {
    hub.core.tick_at(t0 + static_cast<int64_t>(k) * HubCore::kTickMs);
    INFO("tick " << k);
    CHECK(grown(kept, before) == 25);
  }
  for (auto& s : kept) CHECK(s->queue().size() == 1);
  for (auto& s : kept) hub.core.detach(*s);
}

TEST_CASE("HubCore visits each slice once when a tick comes a whole sweep late",
          "[hub_core][sweep]") {
  Fixture hub;
  auto sessions = hub.open(400);
  int64_t t0 = monotonic_us() / 1000;
  hub.core.tick_at(t0);
  for (auto& s : sessions) s->last_queued_ms = t0 - 26'000;
  std::vector<size_t> before(sessions.size(), 0);
  hub.core.tick_at(t0 + 5 * HubCore::kSweepMs);  // a stalled loop
  CHECK(grown(sessions, before) == sessions.size());
  for (auto& s : sessions) CHECK(s->queue().size() == 1);
  for (auto& s : sessions) s->last_queued_ms = t0 - 26'000;
  hub.core.tick_at(t0 + 5 * HubCore::kSweepMs + HubCore::kTickMs);  // back on time: one slice
  CHECK(grown(sessions, before) == sessions.size() / kSlices);
  for (auto& s : sessions) hub.core.detach(*s);
}

TEST_CASE("HubCore reports a fan-out's queued, first-write and last-write times once per message",
          "[hub_core][fanout]") {
  Fixture hub;
  auto sessions = hub.open(4);
  for (auto& s : sessions) {
    hub.core.on_request(*s, R"({"op":"subscribe","channel":"room"})");
    while (!s->queue().empty()) {  // the `subscribed` answers
      hub.core.on_written(*s, s->queue().front(), monotonic_us());
      s->queue().pop();
    }
  }
  Message m;
  m.channel = "room";
  m.data = "1";
  hub.core.publish(std::move(m), [](const PublishOutcome& outcome) {
    REQUIRE(outcome.error == BrokerError::kOk);
  });
  CHECK(hub.metrics.fanout_queued.count() == 1);
  CHECK(hub.metrics.fanout_first_write.count() == 0);
  auto write_one = [&](CountingSession& s) {
    REQUIRE(s.queue().size() == 1);
    hub.core.on_written(s, s.queue().front(), monotonic_us());
    s.queue().pop();
  };
  write_one(*sessions[0]);
  CHECK(hub.metrics.fanout_first_write.count() == 1);
  write_one(*sessions[1]);
  CHECK(hub.metrics.fanout_first_write.count() == 1);  // once per message, not per copy
  CHECK(hub.metrics.fanout_last_write.count() == 0);
  hub.core.detach(*sessions[3]);  // its copy is never written: the fan-out ends without it
  CHECK(hub.metrics.fanout_last_write.count() == 0);
  write_one(*sessions[2]);
  CHECK(hub.metrics.fanout_last_write.count() == 1);
  CHECK(hub.metrics.fanout_queued.count() == 1);
  for (size_t i = 0; i < 3; ++i) hub.core.detach(*sessions[i]);
}
