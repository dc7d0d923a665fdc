#include "client/connection_strategy.hpp"

#include <algorithm>

#include "client/wire.hpp"

namespace rthub::client {

ConnectionStrategy::ConnectionStrategy(StrategySettings settings, Backoff backoff, Clock& clock,
                                       LinkFactory& links, ChannelBook& book, EventSink& sink,
                                       ClientCounters& counters, ConnectionHooks& hooks)
    : settings_(std::move(settings)),
      backoff_(std::move(backoff)),
      clock_(clock),
      links_(links),
      book_(book),
      sink_(sink),
      counters_(counters),
      hooks_(hooks),
      route_(settings_.poll_only  ? Route::kPollOnly
             : settings_.sse_only ? Route::kSseOnly
                                  : Route::kWebSocket),
      reconnect_alarm_(clock.alarm()),
      watchdog_alarm_(clock.alarm()),
      probe_alarm_(clock.alarm()),
      silence_alarm_(clock.alarm()) {}

ClientTransport ConnectionStrategy::transport_of(Route route) const {
  switch (route) {
    case Route::kWebSocket:
      return ClientTransport::kWebSocket;
    case Route::kFallbackAttempt:
    case Route::kFallenBack:
    case Route::kSseOnly:
      return ClientTransport::kEventStream;
    case Route::kPollAttempt:
    case Route::kPolling:
    case Route::kPollOnly:
      break;
  }
  return ClientTransport::kLongPoll;
}

void ConnectionStrategy::start() {
  if (phase_ != Phase::kIdle) return;
  connect_now();
}

void ConnectionStrategy::stop() {
  phase_ = Phase::kClosed;
  reconnect_alarm_->cancel();
  watchdog_alarm_->cancel();
  probe_alarm_->cancel();
  silence_alarm_->cancel();
  if (probe_) probe_->abandon();
  probe_ = nullptr;
  if (current_) current_->abandon();
  current_ = nullptr;
}

Connection* ConnectionStrategy::open_connection() const {
  return current_ && current_->is_open() ? current_ : nullptr;
}

void ConnectionStrategy::channels_changed() {
  if (phase_ == Phase::kWaitingForChannel) return connect_now();
  if (!current_ || !channels_in_url(transport_) || phase_ == Phase::kClosed) return;
  // The link's channels are in its URL: open a new one, resuming from the positions.
  current_->abandon();
  forget_current();
  connect_now();
}

void ConnectionStrategy::set_paused(bool paused) {
  paused_ = paused;
  if (!paused) last_heard_ms_ = clock_.now_ms();  // time spent paused is not silence
  if (current_) current_->set_reading(!paused);
}

void ConnectionStrategy::drop(std::string reason) {
  if (!current_) return;
  LinkEnd end;
  end.reason = std::move(reason);
  current_->fail(std::move(end));  // reported through on_end
}

void ConnectionStrategy::connect_now() {
  reconnect_alarm_->cancel();
  if (phase_ == Phase::kClosed || current_) return;
  ClientTransport transport = transport_of(route_);
  if (channels_in_url(transport) && book_.empty()) {
    if (phase_ != Phase::kWaitingForChannel)
      sink_.state(ClientState::kDisconnected, transport,
                  "waiting for a channel: an event stream needs one", attempt());
    phase_ = Phase::kWaitingForChannel;
    return;
  }
  phase_ = Phase::kConnecting;
  sink_.state(ClientState::kConnecting, transport, "", attempt());
  bool fallback = route_ == Route::kFallbackAttempt || route_ == Route::kFallenBack ||
                  route_ == Route::kPollAttempt || route_ == Route::kPolling;
  Connection* link = transport == ClientTransport::kWebSocket ? links_.websocket(this)
                     : transport == ClientTransport::kEventStream
                         ? links_.event_stream(this, book_.channels(), book_.cursor(), fallback)
                         : links_.long_poll(this, book_.channels(), book_.cursor(), fallback);
  current_ = link;
  transport_ = transport;
  if (paused_) link->set_reading(false);
  link->connect();  // a failure at once is reported through on_end before this returns
}

void ConnectionStrategy::on_open(Connection& link) {
  if (&link == probe_) {  // the WebSocket passes again: it replaces the stream
    if (current_) current_->abandon();
    current_ = probe_;
    probe_ = nullptr;
    transport_ = ClientTransport::kWebSocket;
    route_ = Route::kWebSocket;
    probe_alarm_->cancel();
    silence_alarm_->cancel();
    book_.connection_lost();
    return opened(true);
  }
  if (&link == current_) opened(false);
}

void ConnectionStrategy::opened(bool took_over) {
  int64_t now = clock_.now_ms();
  connected_at_ms_ = now;
  last_heard_ms_ = now;
  ping_outstanding_ = false;
  heard_since_open_ = false;
  phase_ = Phase::kConnected;
  if (route_ == Route::kFallbackAttempt) {  // only a link that opens makes a fallback
    route_ = Route::kFallenBack;
    counters_.fallbacks++;
  } else if (route_ == Route::kPollAttempt) {
    route_ = Route::kPolling;
    counters_.fallbacks++;
  }
  if (!took_over) {
    if (counters_.connects++ > 0) counters_.reconnects++;
  }
  sink_.state(ClientState::kConnected, transport_,
              took_over ? "WebSocket passes again: leaving the event stream" : "", attempt());
  Connection* link = current_;
  hooks_.on_connected(*link, transport_, took_over);
  if (current_ != link || !link->is_open()) return;  // dropped meanwhile
  arm_watchdog(settings_.watchdog_ms / 2);
  // A proxy that buffers the stream passes its headers and holds every event: an event stream
  // that brings nothing at all, not even its first event, is given up for long-polling.
  if (transport_ == ClientTransport::kEventStream && route_ != Route::kSseOnly)
    silence_alarm_->start(settings_.sse_silence_ms, [this] {
      step_down_to_polling("the event stream brought nothing in " +
                           std::to_string(settings_.sse_silence_ms) +
                           " ms (a proxy may buffer it)");
    });
  if (channels_in_url(transport_)) schedule_probe();
}

void ConnectionStrategy::step_down_to_polling(const std::string& why) {
  if (phase_ == Phase::kClosed || !current_) return;
  current_->abandon();
  forget_current();
  hooks_.on_disconnected();
  route_ = Route::kPollAttempt;
  sink_.state(ClientState::kFallback, ClientTransport::kLongPoll, why, attempt());
  connect_now();
}

void ConnectionStrategy::on_end(Connection& link, const LinkEnd& end) {
  if (&link == probe_) {  // the probe did not get through: keep streaming, try again later
    probe_ = nullptr;
    schedule_probe();
    return;
  }
  if (&link == current_) lost(end);
}

void ConnectionStrategy::forget_current() {
  current_ = nullptr;
  watchdog_alarm_->cancel();
  probe_alarm_->cancel();
  silence_alarm_->cancel();
  if (probe_) probe_->abandon();
  probe_ = nullptr;
  book_.connection_lost();
}

void ConnectionStrategy::lost(const LinkEnd& end) {
  ClientTransport transport = transport_;
  bool heard = heard_since_open_;
  forget_current();
  hooks_.on_disconnected();
  if (phase_ == Phase::kClosed) return;

  // A WebSocket that did not open, whatever the reason (an HTTP answer other than 101, a drop, no
  // answer in time): an event stream is tried at once. A browser cannot tell these reasons apart,
  // so the C++ client does not either (docs/CLIENT.md, "Fallback"). Without a channel there is
  // nothing to stream: that is a plain failure.
  if (transport == ClientTransport::kWebSocket && !end.opened && route_ == Route::kWebSocket &&
      !book_.empty()) {
    route_ = Route::kFallbackAttempt;
    std::string why = end.http_status ? "HTTP " + std::to_string(end.http_status) +
                                            " instead of 101 (" + end.reason + ")"
                                      : end.reason;
    sink_.state(ClientState::kFallback, ClientTransport::kEventStream,
                "WebSocket handshake failed: " + why, attempt());
    return connect_now();
  }
  // The event stream tried after it did not open either, or opened and ended without bringing
  // anything: long-polling is tried at once, by the same rule.
  if (transport == ClientTransport::kEventStream && route_ != Route::kSseOnly &&
      ((!end.opened && route_ == Route::kFallbackAttempt) || (end.opened && !heard))) {
    std::string why = end.http_status && !end.opened
                          ? "HTTP " + std::to_string(end.http_status) + " (" + end.reason + ")"
                          : end.reason;
    route_ = Route::kPollAttempt;
    sink_.state(ClientState::kFallback, ClientTransport::kLongPoll,
                "the event stream failed: " + why, attempt());
    return connect_now();
  }
  if (!end.opened && end.http_status >= 400) hooks_.on_refused(transport, end);
  // Long-polling failed too: the hub is away, not the path to it. The next attempt is WebSocket.
  if (route_ == Route::kFallbackAttempt || route_ == Route::kPollAttempt)
    route_ = Route::kWebSocket;
  if (end.opened && clock_.now_ms() - connected_at_ms_ >= kStableConnectionMs) backoff_.reset();
  back_off(transport, end.reason);
}

void ConnectionStrategy::back_off(ClientTransport transport, const std::string& reason) {
  std::optional<uint64_t> delay = backoff_.next();
  if (!delay) {
    phase_ = Phase::kClosed;
    sink_.state(ClientState::kClosed, transport,
                "gave up after " + std::to_string(backoff_.attempts()) + " retries: " + reason,
                attempt());
    return;
  }
  phase_ = Phase::kBackingOff;
  sink_.state(ClientState::kDisconnected, transport, reason, attempt(),
              static_cast<int64_t>(*delay));
  reconnect_alarm_->start(static_cast<int64_t>(*delay), [this] { connect_now(); });
}

void ConnectionStrategy::schedule_probe() {
  if ((route_ != Route::kFallenBack && route_ != Route::kPolling) || !current_ ||
      !channels_in_url(transport_) || !current_->is_open() || probe_)
    return;
  probe_alarm_->start(settings_.websocket_retry_ms, [this] { start_probe(); });
}

void ConnectionStrategy::start_probe() {
  if (probe_ || phase_ == Phase::kClosed || !current_ || !channels_in_url(transport_)) return;
  probe_ = links_.websocket(this);
  probe_->connect();
}

void ConnectionStrategy::on_activity(Connection& link) {
  if (&link != current_) return;
  last_heard_ms_ = clock_.now_ms();
  heard_since_open_ = true;
  silence_alarm_->cancel();
}

void ConnectionStrategy::on_text(Connection& link, std::string_view text) {
  if (&link != current_) return;
  last_heard_ms_ = clock_.now_ms();
  ping_outstanding_ = false;
  heard_since_open_ = true;
  silence_alarm_->cancel();
  hooks_.on_server_text(text);
}

void ConnectionStrategy::arm_watchdog(int64_t in_ms) {
  watchdog_alarm_->start(std::max<int64_t>(in_ms, 1), [this] { check_watchdog(); });
}

// Nothing for half the watchdog: over WebSocket, ask the hub for a pong. Nothing for the whole
// watchdog: the connection is dead (a frozen hub, a half-open TCP link) and is replaced.
void ConnectionStrategy::check_watchdog() {
  Connection* link = open_connection();
  if (!link) return;
  int64_t now = clock_.now_ms();
  if (paused_) last_heard_ms_ = now;
  int64_t silence = now - last_heard_ms_;
  int64_t limit = settings_.watchdog_ms;
  if (silence >= limit) {
    counters_.watchdog++;
    return drop("watchdog: nothing from the hub for " + std::to_string(silence) + " ms");
  }
  bool websocket = transport_ == ClientTransport::kWebSocket;
  int64_t ping_at = limit / 2;
  if (websocket && !ping_outstanding_ && silence >= ping_at) {
    link->send(encode_ping(settings_.next_id ? settings_.next_id() : 0));
    ping_outstanding_ = true;
  }
  int64_t next = limit - silence;
  if (websocket && !ping_outstanding_) next = std::min(next, ping_at - silence);
  arm_watchdog(next);
}

}  // namespace rthub::client
