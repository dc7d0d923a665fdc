#include "client/event_sink.hpp"

namespace rthub::client {

ClientStats ClientCounters::snapshot() const {
  ClientStats s;
  s.connects = connects.load();
  s.reconnects = reconnects.load();
  s.fallbacks = fallbacks.load();
  s.messages = messages.load();
  s.duplicates_dropped = duplicates.load();
  s.resets = resets.load();
  s.watchdog_timeouts = watchdog.load();
  s.snapshots = snapshots.load();
  return s;
}

EventSink::EventSink(std::function<void(const ClientEvent&)> on_event, EventQueue& queue,
                     ClientCounters& counters, std::function<void()> on_full)
    : on_event_(std::move(on_event)),
      queue_(queue),
      counters_(counters),
      on_full_(std::move(on_full)) {}

void EventSink::emit(ClientEvent event) {
  if (on_event_) {
    try {
      on_event_(event);
    } catch (...) {  // a host's exception must not unwind through the loop
    }
    return;
  }
  if (!queue_.push(std::move(event)) && on_full_) on_full_();
}

void EventSink::state(ClientState state, ClientTransport transport, std::string reason,
                      uint32_t attempt, int64_t retry_in_ms) {
  ClientEvent event;
  event.kind = ClientEvent::Kind::kState;
  event.state = state;
  event.transport = transport;
  event.reason = std::move(reason);
  event.retry_in_ms = retry_in_ms;
  event.attempt = attempt;
  emit(std::move(event));
}

void EventSink::error(std::string code, std::string message, std::string channel,
                      uint64_t request_id) {
  ClientEvent event;
  event.kind = ClientEvent::Kind::kError;
  event.code = std::move(code);
  event.message = std::move(message);
  event.channel = std::move(channel);
  event.request_id = request_id;
  emit(std::move(event));
}

void EventSink::reset(const std::string& channel, const Position& position, std::string reason) {
  counters_.resets++;
  ClientEvent event;
  event.kind = ClientEvent::Kind::kReset;
  event.channel = channel;
  event.position = position;
  event.reason = std::move(reason);
  emit(std::move(event));
}

void EventSink::unsubscribed(const std::string& channel) {
  ClientEvent event;
  event.kind = ClientEvent::Kind::kUnsubscribed;
  event.channel = channel;
  emit(std::move(event));
}

}  // namespace rthub::client
