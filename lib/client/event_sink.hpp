// event_sink.hpp: where the client's events go: the host's on_event callback, or the queue that
// polling hosts read. Also the client's counters (ClientStats), which host threads read.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "client/event_queue.hpp"
#include "rthub/client.hpp"

namespace rthub::client {

struct ClientCounters {
  std::atomic<uint64_t> connects{0}, reconnects{0}, fallbacks{0}, messages{0}, duplicates{0},
      resets{0}, watchdog{0}, snapshots{0};
  ClientStats snapshot() const;
};

class EventSink {
 public:
  // `on_event` (may be empty: then `queue`); `on_full` runs when the queue goes over its bound,
  // so that the client stops reading until the host catches up.
  EventSink(std::function<void(const ClientEvent&)> on_event, EventQueue& queue,
            ClientCounters& counters, std::function<void()> on_full);

  void emit(ClientEvent event);
  void state(ClientState state, ClientTransport transport, std::string reason, uint32_t attempt,
             int64_t retry_in_ms = -1);
  void error(std::string code, std::string message, std::string channel = {},
             uint64_t request_id = 0);
  void reset(const std::string& channel, const Position& position, std::string reason);
  void unsubscribed(const std::string& channel);

 private:
  std::function<void(const ClientEvent&)> on_event_;
  EventQueue& queue_;
  ClientCounters& counters_;
  std::function<void()> on_full_;
};

}  // namespace rthub::client
