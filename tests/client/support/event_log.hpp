// event_log.hpp: collects a client's events (from its callback thread) for a test to wait on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "rthub/client.hpp"

namespace rthub_test {

using Kind = rthub::ClientEvent::Kind;

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
  // Waits until `done(events)` holds; false after `timeout_ms`.
  bool wait(const std::function<bool(const Events&)>& done, int timeout_ms) {
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
