// connection_strategy.hpp: which connection the client holds, and what it does when one opens,
// goes silent or ends: the state machine of docs/CLIENT.md (connect, fall back to SSE and then to
// long-polling, probe WebSocket again, back off with jitter, the watchdog). Client thread only.
//
// One Phase says where the machine is; one Route says which transport the next attempt uses.
// Time comes from a Clock and connections from a LinkFactory, both injected, so the whole
// machine runs in unit tests without sockets or sleeps.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client/backoff.hpp"
#include "client/channel_book.hpp"
#include "client/clock.hpp"
#include "client/event_sink.hpp"
#include "client/link.hpp"

namespace rthub::client {

class LinkFactory {
 public:
  virtual ~LinkFactory() = default;
  // New, unconnected links reporting to `listener`; the factory keeps ownership.
  virtual Connection* websocket(LinkListener* listener) = 0;
  virtual Connection* event_stream(LinkListener* listener, const std::vector<std::string>& channels,
                                   const std::string& cursor, bool fallback) = 0;
  virtual Connection* long_poll(LinkListener* listener, const std::vector<std::string>& channels,
                                const std::string& cursor, bool fallback) = 0;
};

// SSE and long-polling name their channels in the URL: a change of channels needs a new link.
inline bool channels_in_url(ClientTransport transport) {
  return transport == ClientTransport::kEventStream || transport == ClientTransport::kLongPoll;
}

// What the rest of the client does when the connection changes (Client::Impl).
class ConnectionHooks {
 public:
  virtual ~ConnectionHooks() = default;
  // A connection opened (`took_over`: a WebSocket probe replaced the event stream).
  virtual void on_connected(Connection& link, ClientTransport transport, bool took_over) = 0;
  // The current connection ended: requests waiting for an answer will not get one.
  virtual void on_disconnected() = 0;
  // One server object arrived on the current connection.
  virtual void on_server_text(std::string_view text) = 0;
  // A connection attempt was refused by an HTTP answer (for the host's error event).
  virtual void on_refused(ClientTransport transport, const LinkEnd& end) = 0;
};

struct StrategySettings {
  bool sse_only = false;
  int64_t watchdog_ms = 50000;
  int64_t websocket_retry_ms = 60000;
  std::function<uint64_t()> next_id;  // ids for pings, from the client's request id space
  bool poll_only = false;
  int64_t sse_silence_ms = 5000;  // an event stream silent this long after opening: long-poll
};

class ConnectionStrategy final : public LinkListener {
 public:
  enum class Phase {
    kIdle,               // not started
    kConnecting,         // an attempt is under way
    kConnected,          // the current connection is open
    kBackingOff,         // waiting for the reconnect alarm
    kWaitingForChannel,  // SSE needs a channel: nothing to do until one is wanted
    kClosed,             // stopped, or gave up after max_attempts
  };
  enum class Route {
    kWebSocket,        // WebSocket first
    kFallbackAttempt,  // the WebSocket did not open: an event stream is being tried at once
    kFallenBack,       // streaming over SSE after a fallback; WebSocket probes now and then
    kSseOnly,          // sse_only: never WebSocket
    kPollAttempt,      // the event stream failed or stayed silent: long-polling is tried at once
    kPolling,          // long-polling after a fallback; WebSocket probes now and then
    kPollOnly,         // poll_only: never WebSocket or SSE
  };

  // A connection that held this long was a success: the next failure starts the backoff afresh.
  static constexpr int64_t kStableConnectionMs = 5000;

  ConnectionStrategy(StrategySettings settings, Backoff backoff, Clock& clock, LinkFactory& links,
                     ChannelBook& book, EventSink& sink, ClientCounters& counters,
                     ConnectionHooks& hooks);

  void start();
  // Stops for good: no event is reported for the abandoned connections.
  void stop();
  // The wanted channels changed: a waiting client connects, an event stream is reopened (its
  // channels are in its URL).
  void channels_changed();
  // Flow control: stop (or resume) reading while the host catches up; paused time is not
  // silence for the watchdog.
  void set_paused(bool paused);
  // Ends the current connection (it is replaced with backoff).
  void drop(std::string reason);

  Phase phase() const { return phase_; }
  Route route() const { return route_; }
  uint32_t attempt() const { return backoff_.attempts(); }
  // The open connection, and its transport; nullptr when none.
  Connection* open_connection() const;
  ClientTransport transport() const { return current_ ? transport_ : ClientTransport::kNone; }

  // LinkListener
  void on_open(Connection& link) override;
  void on_text(Connection& link, std::string_view text) override;
  void on_activity(Connection& link) override;
  void on_end(Connection& link, const LinkEnd& end) override;

  // Not a member of the current connection, not a probe: may be freed.
  const Connection* current() const { return current_; }
  const Connection* probe() const { return probe_; }

 private:
  void connect_now();
  void opened(bool took_over);
  void lost(const LinkEnd& end);
  void back_off(ClientTransport transport, const std::string& reason);
  void schedule_probe();
  void start_probe();
  void check_watchdog();
  void step_down_to_polling(const std::string& why);
  ClientTransport transport_of(Route route) const;
  void arm_watchdog(int64_t in_ms);
  void forget_current();

  StrategySettings settings_;
  Backoff backoff_;
  Clock& clock_;
  LinkFactory& links_;
  ChannelBook& book_;
  EventSink& sink_;
  ClientCounters& counters_;
  ConnectionHooks& hooks_;

  Phase phase_ = Phase::kIdle;
  Route route_;
  Connection* current_ = nullptr;
  ClientTransport transport_ = ClientTransport::kNone;
  Connection* probe_ = nullptr;
  bool paused_ = false;
  int64_t connected_at_ms_ = 0;
  int64_t last_heard_ms_ = 0;
  bool ping_outstanding_ = false;
  bool heard_since_open_ = false;
  std::unique_ptr<Alarm> reconnect_alarm_, watchdog_alarm_, probe_alarm_, silence_alarm_;
};

}  // namespace rthub::client
