// event_log.hpp: collects a client's events (from its callback thread) for a test to wait on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rthub/client.hpp"

namespace rthub_test {

using Kind = rthub::ClientEvent::Kind;

// Time in these tests is of two kinds (tests/README.md, "Time bounds"). A latency the design
// promises (the watchdog, a backoff) is asserted with a bound derived from the code's constants
// and written beside it, plus kSchedulingAllowanceMs: what a busy machine may add between a
// timer's due time and a thread running. A wait for an event the design says will come (a state,
// a message) promises no time: its timeout only turns a hang into a readable failure, and lasts
// at least kHangMs whatever shorter figure the call site gives.
constexpr int kSchedulingAllowanceMs = 2000;
constexpr int kHangMs = 30000;
inline int hang_bound(int timeout_ms) {
  return timeout_ms > kHangMs ? timeout_ms : kHangMs;
}

// Polls `done` every 10 ms until it holds (true) or hang_bound(timeout_ms) passed (false).
inline bool wait_until(const std::function<bool()>& done, int timeout_ms) {
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(hang_bound(timeout_ms));
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

class EventLog;

// The state changes from index `from` on, "state/transport (reason)", for failure messages.
inline std::string states_since(const std::vector<rthub::ClientEvent>& events, size_t from) {
  std::string out;
  for (size_t i = from; i < events.size(); ++i) {
    const auto& e = events[i];
    if (e.kind != rthub::ClientEvent::Kind::kState) continue;
    out += std::string(out.empty() ? "" : "; ") + rthub::to_string(e.state) + "/" +
           rthub::to_string(e.transport) + (e.reason.empty() ? "" : " (" + e.reason + ")");
  }
  return out;
}

class EventLog {
 public:
  using Events = std::vector<rthub::ClientEvent>;

  std::function<void(const rthub::ClientEvent&)> sink() {
    return [this](const rthub::ClientEvent& e) { add(e); };
  }
  void add(const rthub::ClientEvent& e) {
    std::lock_guard<std::mutex> guard(lock_);
    events_.push_back(e);
    times_.push_back(std::chrono::steady_clock::now());
    changed_.notify_all();
  }
  // Waits until `done(events)` holds; false after `timeout_ms`, which is at least kHangMs: a
  // wait for an event is a hang detector, not a latency bound.
  bool wait(const std::function<bool(const Events&)>& done, int timeout_ms) {
    timeout_ms = hang_bound(timeout_ms);
    std::unique_lock<std::mutex> guard(lock_);
    return changed_.wait_for(guard, std::chrono::milliseconds(timeout_ms),
                             [&] { return done(events_); });
  }
  Events snapshot() {
    std::lock_guard<std::mutex> guard(lock_);
    return events_;
  }
  size_t size() {
    std::lock_guard<std::mutex> guard(lock_);
    return events_.size();
  }
  std::chrono::steady_clock::time_point time_of(size_t index) {
    std::lock_guard<std::mutex> guard(lock_);
    return times_.at(index);
  }

  // The index of the first event at or after `from` that matches, or -1.
  static long find(const Events& events, size_t from,
                   const std::function<bool(const rthub::ClientEvent&)>& match) {
    for (size_t i = from; i < events.size(); ++i)
      if (match(events[i])) return static_cast<long>(i);
    return -1;
  }
  static bool is_state(const rthub::ClientEvent& e, rthub::ClientState state,
                       rthub::ClientTransport transport = rthub::ClientTransport::kNone) {
    return e.kind == Kind::kState && e.state == state &&
           (transport == rthub::ClientTransport::kNone || e.transport == transport);
  }
  // Waits for a state event at or after index `from`; its index or -1.
  long wait_state(rthub::ClientState state, rthub::ClientTransport transport, int timeout_ms,
                  size_t from = 0) {
    long found = -1;
    wait(
        [&](const Events& events) {
          found = find(events, from,
                       [&](const rthub::ClientEvent& e) { return is_state(e, state, transport); });
          return found >= 0;
        },
        timeout_ms);
    return found;
  }
  static std::vector<rthub::ClientEvent> messages(const Events& events,
                                                  const std::string& channel) {
    std::vector<rthub::ClientEvent> out;
    for (const auto& e : events)
      if (e.kind == Kind::kMessage && e.channel == channel) out.push_back(e);
    return out;
  }
  bool wait_messages(const std::string& channel, size_t count, int timeout_ms) {
    return wait([&](const Events& events) { return messages(events, channel).size() >= count; },
                timeout_ms);
  }
  bool wait_subscribed(const std::string& channel, int timeout_ms, size_t from = 0) {
    return wait(
        [&](const Events& events) {
          return find(events, from, [&](const rthub::ClientEvent& e) {
                   return e.kind == Kind::kSubscribed && e.channel == channel;
                 }) >= 0;
        },
        timeout_ms);
  }

 private:
  std::mutex lock_;
  std::condition_variable changed_;
  Events events_;
  std::vector<std::chrono::steady_clock::time_point> times_;
};

}  // namespace rthub_test
