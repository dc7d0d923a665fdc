// client.cpp: rthub::Client: the connection state machine on the client's own thread.
//
// Host threads only queue commands and wake the loop; everything else (links, positions,
// timers, events) lives on the client's thread. The states:
//
//   connecting --open--> connected --lost--> disconnected --backoff delay--> connecting ...
//        \--WebSocket handshake refused or unanswered--> fallback --> connecting (SSE)
//
// While on SSE after a fallback, a WebSocket "probe" is opened now and then beside the stream;
// when it completes its handshake it takes over (the channels resubscribe from their positions,
// so nothing is lost or repeated) and the stream is dropped.
#include "rthub/client.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "client/backoff.hpp"
#include "client/channel_book.hpp"
#include "client/client_loop.hpp"
#include "client/client_options_check.hpp"
#include "client/endpoint.hpp"
#include "client/event_queue.hpp"
#include "client/publish_exchange.hpp"
#include "client/sse_link.hpp"
#include "client/wire.hpp"
#include "client/ws_link.hpp"

namespace rthub {

using client::ChannelBook;
using client::Link;
using client::LinkEnd;

namespace {

// A connection that held this long was a success: the next failure starts the backoff afresh.
constexpr int64_t kStableConnectionMs = 5000;
// WebSocket handshakes that time out, or whose connection is dropped without any answer, in a row
// before falling back to SSE. A single one is as likely a hub that is busy, restarting or
// shutting down (it may take a connection in its last moments and close it unanswered) as a
// proxy that swallows upgrades.
constexpr uint32_t kTimeoutsBeforeFallback = 2;
// Publishes kept while disconnected.
constexpr size_t kMaxWaitingPublishes = 1000;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// Hidden: Client is exported, and its nested Impl would otherwise be too.
class __attribute__((visibility("hidden"))) Client::Impl final : public client::LinkListener {
 public:
  explicit Impl(ClientOptions options);
  ~Impl() override;

  void start();
  void stop();
  void subscribe(const std::string& channel, const std::optional<Position>& since);
  void unsubscribe(const std::string& channel);
  uint64_t publish(const std::string& channel, const std::string& type, const std::string& data);
  bool next_event(ClientEvent& out, int timeout_ms);
  int event_fd() const { return options_.on_event ? -1 : queue_.fd(); }
  ClientStats stats() const;

 private:
  struct Command {
    enum class Kind { kSubscribe, kUnsubscribe, kPublish, kStop } kind;
    std::string channel;
    std::optional<Position> since;
    std::string type, data;
    uint64_t id = 0;
  };
  // A WebSocket request waiting for its answer.
  struct Pending {
    Command::Kind kind;
    std::string channel;
  };

  // Host side.
  void post(Command command);
  bool on_client_thread() const { return std::this_thread::get_id() == thread_id_.load(); }

  // Client thread.
  void run(std::promise<std::string> ready);
  void on_wake();
  void apply(Command& command);
  void connect_now();
  void connection_opened(bool took_over);
  void connection_lost(const LinkEnd& end);
  bool should_fall_back(const LinkEnd& end);
  void reopen_stream();
  void start_probe();
  void schedule_probe();
  void promote_probe();
  void check_watchdog();
  void arm_watchdog(int64_t in_ms);
  void send_subscribe(const std::string& channel);
  void send_publish(Command command);
  void fail_pending(const std::string& why);
  void collect_links();
  template <typename L, typename... Args>
  L* add_link(Args&&... args);

  // LinkListener
  void on_open(Link& link) override;
  void on_text(Link& link, std::string_view text) override;
  void on_activity(Link& link) override;
  void on_end(Link& link, const LinkEnd& end) override;
  void on_server_object(client::ServerObject& object);

  // Events.
  void emit(ClientEvent event);
  void emit_state(ClientState state, ClientTransport transport, std::string reason,
                  int64_t retry_in_ms = -1);
  void emit_error(std::string code, std::string message, std::string channel = {},
                  uint64_t request_id = 0);
  void emit_reset(const std::string& channel, const Position& position, std::string reason);

  client::WsLink* current_ws() const {
    return current_ && current_transport_ == ClientTransport::kWebSocket && current_->is_open()
               ? static_cast<client::WsLink*>(current_)
               : nullptr;
  }
  uint64_t next_id() { return ids_.fetch_add(1) + 1; }

  // Fixed at construction.
  ClientOptions options_;
  client::Endpoint endpoint_;
  int64_t watchdog_ms_;
  client::LinkSettings link_settings_, publish_settings_;

  // Shared with host threads.
  std::mutex commands_lock_;
  std::vector<Command> commands_;
  std::atomic<uint64_t> ids_{0};
  client::EventQueue queue_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::mutex lifecycle_lock_;  // start/stop
  bool started_ = false, joined_ = false;
  struct Counters {
    std::atomic<uint64_t> connects{0}, reconnects{0}, fallbacks{0}, messages{0}, duplicates{0},
        resets{0}, watchdog{0};
  } counters_;

  // Client thread only.
  client::ClientLoop loop_;
  ChannelBook book_;
  client::Backoff backoff_;
  std::vector<std::unique_ptr<Link>> links_;
  Link* current_ = nullptr;
  ClientTransport current_transport_ = ClientTransport::kNone;
  client::WsLink* probe_ = nullptr;
  ClientTransport mode_ = ClientTransport::kWebSocket;  // what the next connection uses
  bool fallen_back_ = false;
  bool running_ = false;
  bool stopping_ = false;
  bool closed_ = false;  // stopped or gave up: no more attempts
  bool waiting_for_channels_ = false;
  bool reopen_stream_ = false;
  bool paused_ = false;
  bool ever_connected_ = false;
  uint32_t ws_timeouts_ = 0;
  int64_t connected_at_ms_ = 0;
  int64_t last_heard_ms_ = 0;
  bool ping_outstanding_ = false;
  client::Timer reconnect_timer_, watchdog_timer_, probe_timer_;
  std::unordered_map<uint64_t, Pending> pending_;
  std::unordered_map<std::string, uint64_t> awaiting_subscribe_;  // channel -> latest subscribe id
  std::deque<Command> waiting_publishes_;
};

// ---- Host side ----------------------------------------------------------------------------

Client::Impl::Impl(ClientOptions options)
    : options_(std::move(options)),
      queue_(options_.max_pending_events),
      backoff_(client::BackoffPolicy{options_.backoff_base_ms, options_.backoff_cap_ms,
                                     options_.max_attempts},
               client::system_uniform_source()) {
  std::string error;
  auto endpoint = client::parse_endpoint(options_.url, error);
  if (!endpoint) throw Error(Errc::kInvalid, error);
  endpoint_ = *endpoint;
  if (options_.backoff_base_ms == 0)
    throw Error(Errc::kInvalid, "backoff_base_ms must be positive");
  if (options_.backoff_cap_ms < options_.backoff_base_ms)
    throw Error(Errc::kInvalid, "backoff_cap_ms must be at least backoff_base_ms");
  if (options_.heartbeat_seconds <= 0)
    throw Error(Errc::kInvalid, "heartbeat_seconds must be positive");
  if (options_.watchdog_ms < 0) throw Error(Errc::kInvalid, "watchdog_ms must not be negative");
  if (options_.handshake_timeout_ms <= 0)
    throw Error(Errc::kInvalid, "handshake_timeout_ms must be positive");
  if (options_.websocket_retry_ms <= 0)
    throw Error(Errc::kInvalid, "websocket_retry_ms must be positive");
  if (options_.max_pending_events == 0)
    throw Error(Errc::kInvalid, "max_pending_events must be positive");
  for (const auto& channel : options_.channels) {
    if (!is_valid_channel_name(channel))
      throw Error(Errc::kInvalid,
                  "bad channel name '" + channel + "': 1-255 bytes of [A-Za-z0-9_.:@/-]");
    book_.want(channel);
  }
  watchdog_ms_ =
      options_.watchdog_ms ? options_.watchdog_ms : int64_t{2000} * options_.heartbeat_seconds;
  mode_ = options_.sse_only ? ClientTransport::kEventStream : ClientTransport::kWebSocket;
  link_settings_.endpoint = endpoint_;
  link_settings_.token = options_.token;
  link_settings_.insecure_skip_verify = options_.insecure_skip_verify_for_tests;
  link_settings_.handshake_timeout_ms = options_.handshake_timeout_ms;
  publish_settings_ = link_settings_;
  if (!options_.publish_key.empty()) publish_settings_.token = options_.publish_key;
  queue_.set_drained_hook([this] { loop_.wake(); });
}

Client::Impl::~Impl() {
  stop();
}

void Client::Impl::start() {
  std::lock_guard<std::mutex> guard(lifecycle_lock_);
  if (started_)
    throw Error(Errc::kState, joined_ ? "the client was stopped" : "the client is already started");
  std::promise<std::string> ready;
  std::future<std::string> outcome = ready.get_future();
  running_ = true;
  thread_ = std::thread([this, promise = std::move(ready)]() mutable { run(std::move(promise)); });
  std::string error = outcome.get();
  started_ = true;
  if (!error.empty()) {
    thread_.join();
    joined_ = true;
    throw Error(Errc::kIo, error);
  }
}

void Client::Impl::stop() {
  if (on_client_thread()) {  // from on_event: the thread finishes after the callback returns
    post(Command{Command::Kind::kStop, {}, {}, {}, {}, 0});
    return;
  }
  std::lock_guard<std::mutex> guard(lifecycle_lock_);
  if (!started_) {
    started_ = joined_ = true;  // a client stopped before it started cannot start any more
    queue_.close();
    return;
  }
  if (joined_) return;
  post(Command{Command::Kind::kStop, {}, {}, {}, {}, 0});
  if (thread_.joinable()) thread_.join();
  joined_ = true;
}

void Client::Impl::post(Command command) {
  {
    std::lock_guard<std::mutex> guard(commands_lock_);
    commands_.push_back(std::move(command));
  }
  loop_.wake();
}

void Client::Impl::subscribe(const std::string& channel, const std::optional<Position>& since) {
  if (!is_valid_channel_name(channel))
    throw Error(Errc::kInvalid,
                "bad channel name '" + channel + "': 1-255 bytes of [A-Za-z0-9_.:@/-]");
  post(Command{Command::Kind::kSubscribe, channel, since, {}, {}, 0});
}

void Client::Impl::unsubscribe(const std::string& channel) {
  if (!is_valid_channel_name(channel))
    throw Error(Errc::kInvalid,
                "bad channel name '" + channel + "': 1-255 bytes of [A-Za-z0-9_.:@/-]");
  post(Command{Command::Kind::kUnsubscribe, channel, {}, {}, {}, 0});
}

uint64_t Client::Impl::publish(const std::string& channel, const std::string& type,
                               const std::string& data) {
  if (!is_valid_channel_name(channel))
    throw Error(Errc::kInvalid,
                "bad channel name '" + channel + "': 1-255 bytes of [A-Za-z0-9_.:@/-]");
  if (!client::is_json_value(data)) throw Error(Errc::kInvalid, "data is not one JSON value");
  uint64_t id = next_id();
  post(Command{Command::Kind::kPublish, channel, {}, type.empty() ? "message" : type, data, id});
  return id;
}

bool Client::Impl::next_event(ClientEvent& out, int timeout_ms) {
  if (options_.on_event)
    throw Error(Errc::kState, "events go to on_event: next_event is for clients without one");
  return queue_.pop(out, timeout_ms);
}

ClientStats Client::Impl::stats() const {
  ClientStats s;
  s.connects = counters_.connects.load();
  s.reconnects = counters_.reconnects.load();
  s.fallbacks = counters_.fallbacks.load();
  s.messages = counters_.messages.load();
  s.duplicates_dropped = counters_.duplicates.load();
  s.resets = counters_.resets.load();
  s.watchdog_timeouts = counters_.watchdog.load();
  return s;
}

// ---- Client thread: the loop and commands -------------------------------------------------

void Client::Impl::run(std::promise<std::string> ready) {
  thread_id_ = std::this_thread::get_id();
  std::string error;
  client::ClientLoop::Settings settings;
  settings.tls = endpoint_.tls;
  settings.ca_file = options_.ca_file;
  loop_.on_wake = [this] { on_wake(); };
  if (!loop_.open(settings, error)) {
    ready.set_value(error);
    return;
  }
  ready.set_value({});
  on_wake();  // commands queued before start
  if (running_) connect_now();
  while (running_) {
    loop_.service();
    collect_links();
  }
  reconnect_timer_.cancel();
  watchdog_timer_.cancel();
  probe_timer_.cancel();
  for (auto& link : links_) link->abandon();
  current_ = nullptr;
  probe_ = nullptr;
  loop_.close();
  links_.clear();
  queue_.close();
}

void Client::Impl::on_wake() {
  std::vector<Command> batch;
  {
    std::lock_guard<std::mutex> guard(commands_lock_);
    batch.swap(commands_);
  }
  for (auto& command : batch) {
    if (!running_) break;
    apply(command);
  }
  if (reopen_stream_) {
    reopen_stream_ = false;
    reopen_stream();
  }
  if (paused_ && !queue_.over_bound()) {
    paused_ = false;
    last_heard_ms_ = now_ms();  // time spent paused is not silence
    if (current_) current_->set_reading(true);
  }
}

void Client::Impl::apply(Command& command) {
  switch (command.kind) {
    case Command::Kind::kSubscribe: {
      if (!book_.want(command.channel, command.since)) return;
      if (current_ws()) {
        send_subscribe(command.channel);
      } else if (current_ && current_transport_ == ClientTransport::kEventStream) {
        reopen_stream_ = true;  // the stream's channels are in its URL
      } else if (waiting_for_channels_) {
        connect_now();
      }
      return;
    }
    case Command::Kind::kUnsubscribe: {
      if (!book_.drop(command.channel)) return;
      awaiting_subscribe_.erase(command.channel);
      if (auto* ws = current_ws()) {
        uint64_t id = next_id();
        pending_[id] = Pending{Command::Kind::kUnsubscribe, command.channel};
        ws->send(client::encode_unsubscribe(command.channel, id));
        return;
      }
      if (current_ && current_transport_ == ClientTransport::kEventStream) reopen_stream_ = true;
      ClientEvent event;
      event.kind = ClientEvent::Kind::kUnsubscribed;
      event.channel = command.channel;
      emit(std::move(event));
      return;
    }
    case Command::Kind::kPublish:
      send_publish(std::move(command));
      return;
    case Command::Kind::kStop: {
      if (stopping_) return;
      stopping_ = true;
      reconnect_timer_.cancel();
      watchdog_timer_.cancel();
      probe_timer_.cancel();
      ClientTransport transport = current_ ? current_transport_ : ClientTransport::kNone;
      if (probe_) probe_->abandon();
      probe_ = nullptr;
      if (current_) current_->abandon();
      current_ = nullptr;
      fail_pending("the client stopped before the hub answered");
      for (auto& waiting : waiting_publishes_)
        emit_error("unavailable", "the client stopped before the message could be sent",
                   waiting.channel, waiting.id);
      waiting_publishes_.clear();
      if (!closed_) emit_state(ClientState::kClosed, transport, "stopped");
      closed_ = true;
      running_ = false;
      return;
    }
  }
}

template <typename L, typename... Args>
L* Client::Impl::add_link(Args&&... args) {
  auto link = std::make_unique<L>(loop_, std::forward<Args>(args)...);
  L* raw = link.get();
  links_.push_back(std::move(link));
  return raw;
}

// Ended links are freed between loop rounds, never inside their own callbacks.
void Client::Impl::collect_links() {
  for (size_t i = 0; i < links_.size();) {
    Link* link = links_[i].get();
    if (link->ended() && link != current_ && link != probe_) {
      links_[i] = std::move(links_.back());
      links_.pop_back();
    } else {
      ++i;
    }
  }
}

// ---- Client thread: connections -----------------------------------------------------------

void Client::Impl::connect_now() {
  reconnect_timer_.cancel();
  if (stopping_ || closed_ || current_) return;
  ClientTransport transport = mode_;
  if (transport == ClientTransport::kEventStream && book_.empty()) {
    if (!waiting_for_channels_)
      emit_state(ClientState::kDisconnected, transport,
                 "waiting for a channel: an event stream needs one");
    waiting_for_channels_ = true;
    return;
  }
  waiting_for_channels_ = false;
  {
    ClientEvent event;
    event.kind = ClientEvent::Kind::kState;
    event.state = ClientState::kConnecting;
    event.transport = transport;
    event.attempt = backoff_.attempts();
    emit(std::move(event));
  }
  Link* link;
  if (transport == ClientTransport::kWebSocket) {
    link = add_link<client::WsLink>(link_settings_, this);
  } else {
    link = add_link<client::SseLink>(link_settings_, this, book_.channels(), book_.cursor(),
                                     fallen_back_);
  }
  current_ = link;
  current_transport_ = transport;
  if (paused_) link->set_reading(false);
  link->connect();  // a failure at once is reported through on_end before this returns
}

void Client::Impl::on_open(Link& link) {
  if (&link == probe_) return promote_probe();
  if (&link != current_) return;
  connection_opened(false);
}

void Client::Impl::connection_opened(bool took_over) {
  int64_t now = now_ms();
  connected_at_ms_ = now;
  last_heard_ms_ = now;
  ping_outstanding_ = false;
  if (current_transport_ == ClientTransport::kWebSocket) ws_timeouts_ = 0;
  if (!took_over) {
    counters_.connects++;
    if (ever_connected_) counters_.reconnects++;
    ever_connected_ = true;
  }
  emit_state(ClientState::kConnected, current_transport_,
             took_over ? "WebSocket passes again: leaving the event stream" : "");
  if (current_ != nullptr && current_ws()) {
    for (const auto& channel : book_.channels()) send_subscribe(channel);
  }
  std::deque<Command> waiting;
  waiting.swap(waiting_publishes_);
  for (auto& command : waiting) send_publish(std::move(command));
  arm_watchdog(watchdog_ms_ / 2);
  if (current_transport_ == ClientTransport::kEventStream) schedule_probe();
}

void Client::Impl::on_end(Link& link, const LinkEnd& end) {
  if (&link == probe_) {
    probe_ = nullptr;
    schedule_probe();
    return;
  }
  if (&link != current_) return;
  connection_lost(end);
}

bool Client::Impl::should_fall_back(const LinkEnd& end) {
  if (options_.sse_only || end.opened || !end.request_sent) return false;
  // Refusals by the hub itself are not about the transport.
  if (end.http_status == 401 || end.http_status == 403 || end.http_status == 429) return false;
  if (end.timed_out || end.http_status == 0) return ++ws_timeouts_ >= kTimeoutsBeforeFallback;
  return true;  // an HTTP answer other than 101
}

void Client::Impl::connection_lost(const LinkEnd& end) {
  ClientTransport transport = current_transport_;
  current_ = nullptr;
  watchdog_timer_.cancel();
  probe_timer_.cancel();
  if (probe_) probe_->abandon();
  probe_ = nullptr;
  book_.connection_lost();
  fail_pending(
      "the connection was lost before the hub answered; the message may or may not be published");
  if (stopping_) return;

  if (transport == ClientTransport::kWebSocket && should_fall_back(end)) {
    mode_ = ClientTransport::kEventStream;
    fallen_back_ = true;
    counters_.fallbacks++;
    std::string why = end.timed_out     ? end.reason
                      : end.http_status ? "HTTP " + std::to_string(end.http_status) +
                                              " instead of 101 (" + end.reason + ")"
                                        : end.reason;
    emit_state(ClientState::kFallback, ClientTransport::kEventStream,
               "WebSocket handshake failed: " + why);
    connect_now();
    return;
  }
  if (end.http_status == 401 || end.http_status == 403) {
    emit_error(end.http_status == 401 ? "unauthorized" : "forbidden", end.reason);
  } else if (transport == ClientTransport::kEventStream && !end.opened && end.http_status >= 400) {
    client::PublishAnswer refusal = client::decode_publish_answer(end.http_status, end.body);
    emit_error(refusal.code, refusal.message);
  }
  if (end.opened && now_ms() - connected_at_ms_ >= kStableConnectionMs) backoff_.reset();
  std::optional<uint64_t> delay = backoff_.next();
  if (!delay) {
    closed_ = true;
    emit_state(ClientState::kClosed, transport,
               "gave up after " + std::to_string(backoff_.attempts()) + " retries: " + end.reason);
    return;
  }
  emit_state(ClientState::kDisconnected, transport, end.reason, static_cast<int64_t>(*delay));
  reconnect_timer_.start(loop_.context(), static_cast<int64_t>(*delay), [this] { connect_now(); });
}

// The stream's channels changed: open a new one (resuming from the positions) in its place.
void Client::Impl::reopen_stream() {
  if (!current_ || current_transport_ != ClientTransport::kEventStream || stopping_) return;
  current_->abandon();
  current_ = nullptr;
  watchdog_timer_.cancel();
  probe_timer_.cancel();
  book_.connection_lost();
  connect_now();
}

void Client::Impl::schedule_probe() {
  if (!fallen_back_ || options_.sse_only || !current_ ||
      current_transport_ != ClientTransport::kEventStream || !current_->is_open() || probe_)
    return;
  probe_timer_.start(loop_.context(), options_.websocket_retry_ms, [this] { start_probe(); });
}

void Client::Impl::start_probe() {
  if (probe_ || stopping_ || !current_ || current_transport_ != ClientTransport::kEventStream)
    return;
  probe_ = add_link<client::WsLink>(link_settings_, this);
  probe_->connect();
}

// The probe's handshake completed: the WebSocket replaces the stream.
void Client::Impl::promote_probe() {
  if (current_) current_->abandon();
  current_ = probe_;
  probe_ = nullptr;
  current_transport_ = ClientTransport::kWebSocket;
  mode_ = ClientTransport::kWebSocket;
  fallen_back_ = false;
  probe_timer_.cancel();
  book_.connection_lost();
  connection_opened(true);
}

void Client::Impl::arm_watchdog(int64_t in_ms) {
  watchdog_timer_.start(loop_.context(), in_ms < 1 ? 1 : in_ms, [this] { check_watchdog(); });
}

// Nothing for half the watchdog: over WebSocket, ask the hub for a pong. Nothing for the whole
// watchdog: the connection is dead (a frozen hub, a half-open TCP link) and is replaced.
void Client::Impl::check_watchdog() {
  if (!current_ || !current_->is_open()) return;
  int64_t now = now_ms();
  if (paused_) last_heard_ms_ = now;
  int64_t silence = now - last_heard_ms_;
  if (silence >= watchdog_ms_) {
    counters_.watchdog++;
    LinkEnd end;
    end.reason = "watchdog: nothing from the hub for " + std::to_string(silence) + " ms";
    current_->fail(std::move(end));  // reported through on_end
    return;
  }
  int64_t ping_at = watchdog_ms_ / 2;
  if (auto* ws = current_ws(); ws && !ping_outstanding_ && silence >= ping_at) {
    ws->send(client::encode_ping(next_id()));
    ping_outstanding_ = true;
  }
  int64_t next = watchdog_ms_ - silence;
  if (!ping_outstanding_ && current_ws()) next = std::min(next, ping_at - silence);
  arm_watchdog(next);
}

void Client::Impl::send_subscribe(const std::string& channel) {
  auto* ws = current_ws();
  if (!ws) return;
  uint64_t id = next_id();
  pending_[id] = Pending{Command::Kind::kSubscribe, channel};
  awaiting_subscribe_[channel] = id;
  ws->send(client::encode_subscribe(channel, book_.position(channel), id));
}

void Client::Impl::send_publish(Command command) {
  if (auto* ws = current_ws()) {
    pending_[command.id] = Pending{Command::Kind::kPublish, command.channel};
    ws->send(client::encode_publish(command.channel, command.type, command.data, command.id));
    return;
  }
  if (current_ && current_->is_open()) {  // over SSE: POST /publish
    uint64_t id = command.id;
    std::string channel = command.channel;
    auto* exchange = add_link<client::PublishExchange>(
        publish_settings_, client::encode_publish_body(command.channel, command.type, command.data),
        [this, id, channel](int status, const std::string& body, const std::string& failure) {
          if (status == 0) {
            emit_error("unavailable", "POST /publish failed: " + failure, channel, id);
            return;
          }
          client::PublishAnswer answer = client::decode_publish_answer(status, body);
          if (!answer.ok) {
            emit_error(answer.code, answer.message, channel, id);
            return;
          }
          ClientEvent event;
          event.kind = ClientEvent::Kind::kPublished;
          event.channel = answer.channel;
          event.position = answer.position;
          event.request_id = id;
          emit(std::move(event));
        });
    exchange->connect();
    return;
  }
  if (closed_) {
    emit_error("unavailable", "the client has stopped reconnecting", command.channel, command.id);
    return;
  }
  if (waiting_publishes_.size() >= kMaxWaitingPublishes) {
    emit_error("limit", "too many publishes waiting for a connection", command.channel, command.id);
    return;
  }
  waiting_publishes_.push_back(std::move(command));
}

void Client::Impl::fail_pending(const std::string& why) {
  for (auto& [id, pending] : pending_)
    if (pending.kind == Command::Kind::kPublish)
      emit_error("unavailable", why, pending.channel, id);
  pending_.clear();
  awaiting_subscribe_.clear();
}

// ---- Client thread: what the hub says -----------------------------------------------------

void Client::Impl::on_activity(Link& link) {
  if (&link == current_) last_heard_ms_ = now_ms();
}

void Client::Impl::on_text(Link& link, std::string_view text) {
  if (&link != current_) return;
  last_heard_ms_ = now_ms();
  ping_outstanding_ = false;
  client::ServerObject object;
  std::string error;
  if (!client::decode_server_object(text, object, error)) {
    emit_error("protocol", "unreadable object from the hub: " + error);
    return;
  }
  on_server_object(object);
}

void Client::Impl::on_server_object(client::ServerObject& o) {
  std::optional<Pending> answered;
  if (o.ref) {
    auto it = pending_.find(*o.ref);
    if (it != pending_.end()) {
      answered = it->second;
      pending_.erase(it);
    }
  }
  switch (o.op) {
    case client::ServerOp::kMessage: {
      if (!o.has_seq) return emit_error("protocol", "a message without seq on " + o.channel);
      Position position{o.epoch, o.seq};
      std::optional<Position> before = book_.position(o.channel);
      switch (book_.on_message(o.channel, position)) {
        case ChannelBook::Verdict::kNotSubscribed:
          return;
        case ChannelBook::Verdict::kDuplicate:
          counters_.duplicates++;
          return;
        case ChannelBook::Verdict::kDeliverAfterGap: {
          std::string why = before && before->epoch == o.epoch
                                ? "messages " + std::to_string(before->seq + 1) + ".." +
                                      std::to_string(o.seq - 1) + " were skipped"
                                : "the channel's numbering restarted (epoch " + o.epoch + ")";
          emit_reset(o.channel, Position{o.epoch, o.seq - 1}, why);
          break;
        }
        case ChannelBook::Verdict::kDeliver:
          break;
      }
      counters_.messages++;
      ClientEvent event;
      event.kind = ClientEvent::Kind::kMessage;
      event.channel = std::move(o.channel);
      event.position = std::move(position);
      event.type = std::move(o.type);
      event.data = std::move(o.data);
      event.ts_ms = o.ts_ms;
      emit(std::move(event));
      return;
    }
    case client::ServerOp::kSubscribed: {
      if (o.ref) {  // only the answer to the latest subscribe of the channel counts
        auto it = awaiting_subscribe_.find(o.channel);
        if (it == awaiting_subscribe_.end() || it->second != *o.ref) return;
        awaiting_subscribe_.erase(it);
      }
      Position latest{o.epoch, o.seq};
      ChannelBook::Confirmation confirmation = book_.on_subscribed(o.channel, latest, o.recovered);
      if (!confirmation.known) return;
      ClientEvent event;
      event.kind = ClientEvent::Kind::kSubscribed;
      event.channel = o.channel;
      event.position = latest;
      event.recovered = o.recovered;
      emit(std::move(event));
      if (confirmation.reset)
        emit_reset(o.channel, latest,
                   "the hub cannot replay the missed messages (history gone or hub restarted)");
      return;
    }
    case client::ServerOp::kUnsubscribed: {
      if (!answered) return;
      ClientEvent event;
      event.kind = ClientEvent::Kind::kUnsubscribed;
      event.channel = o.channel;
      emit(std::move(event));
      return;
    }
    case client::ServerOp::kPublished: {
      if (!answered) return;
      ClientEvent event;
      event.kind = ClientEvent::Kind::kPublished;
      event.channel = o.channel;
      event.position = Position{o.epoch, o.seq};
      event.request_id = *o.ref;
      emit(std::move(event));
      return;
    }
    case client::ServerOp::kError: {
      if (!answered) return emit_error(o.code, o.message);
      switch (answered->kind) {
        case Command::Kind::kPublish:
          return emit_error(o.code, o.message, answered->channel, *o.ref);
        case Command::Kind::kUnsubscribe: {
          if (o.code == "not_found") {  // already gone: that is what was asked
            ClientEvent event;
            event.kind = ClientEvent::Kind::kUnsubscribed;
            event.channel = answered->channel;
            emit(std::move(event));
            return;
          }
          return emit_error(o.code, o.message, answered->channel);
        }
        case Command::Kind::kSubscribe: {
          auto it = awaiting_subscribe_.find(answered->channel);
          if (it == awaiting_subscribe_.end() || it->second != *o.ref) return;  // superseded
          awaiting_subscribe_.erase(it);
          emit_error(o.code, o.message, answered->channel);
          if (o.code == "unavailable") {  // the hub's history store is down: try again later
            LinkEnd end;
            end.reason = "the hub could not subscribe " + answered->channel + ": " + o.message;
            if (current_) current_->fail(std::move(end));
          } else {  // refused for good (forbidden, bad name, limit): stop asking
            book_.drop(answered->channel);
          }
          return;
        }
        default:
          return;
      }
    }
    case client::ServerOp::kPing:
    case client::ServerOp::kPong:
    case client::ServerOp::kUnknown:
      return;  // liveness only; unknown ops are for newer clients
  }
}

// ---- Events -------------------------------------------------------------------------------

void Client::Impl::emit(ClientEvent event) {
  if (options_.on_event) {
    try {
      options_.on_event(event);
    } catch (...) {  // a host's exception must not unwind through the loop
    }
    return;
  }
  if (!queue_.push(std::move(event)) && !paused_) {
    paused_ = true;
    if (current_) current_->set_reading(false);
  }
}

void Client::Impl::emit_state(ClientState state, ClientTransport transport, std::string reason,
                              int64_t retry_in_ms) {
  ClientEvent event;
  event.kind = ClientEvent::Kind::kState;
  event.state = state;
  event.transport = transport;
  event.reason = std::move(reason);
  event.retry_in_ms = retry_in_ms;
  event.attempt = backoff_.attempts();
  emit(std::move(event));
}

void Client::Impl::emit_error(std::string code, std::string message, std::string channel,
                              uint64_t request_id) {
  ClientEvent event;
  event.kind = ClientEvent::Kind::kError;
  event.code = std::move(code);
  event.message = std::move(message);
  event.channel = std::move(channel);
  event.request_id = request_id;
  emit(std::move(event));
}

void Client::Impl::emit_reset(const std::string& channel, const Position& position,
                              std::string reason) {
  counters_.resets++;
  ClientEvent event;
  event.kind = ClientEvent::Kind::kReset;
  event.channel = channel;
  event.position = position;
  event.reason = std::move(reason);
  emit(std::move(event));
}

// ---- Public API ---------------------------------------------------------------------------

Client::Client(ClientOptions options) : impl_(new Impl(client::validate_client_options(std::move(options)))) {}
Client::~Client() = default;
void Client::start() {
  impl_->start();
}
void Client::stop() {
  impl_->stop();
}
void Client::subscribe(const std::string& channel, const std::optional<Position>& since) {
  impl_->subscribe(channel, since);
}
void Client::unsubscribe(const std::string& channel) {
  impl_->unsubscribe(channel);
}
uint64_t Client::publish(const std::string& channel, const std::string& type,
                         const std::string& data) {
  return impl_->publish(channel, type, data);
}
bool Client::next_event(ClientEvent& out, int timeout_ms) {
  return impl_->next_event(out, timeout_ms);
}
int Client::event_fd() const {
  return impl_->event_fd();
}
ClientStats Client::stats() const {
  return impl_->stats();
}

const char* to_string(ClientTransport transport) noexcept {
  switch (transport) {
    case ClientTransport::kWebSocket:
      return "ws";
    case ClientTransport::kEventStream:
      return "sse";
    case ClientTransport::kNone:
      break;
  }
  return "none";
}

const char* to_string(ClientState state) noexcept {
  switch (state) {
    case ClientState::kConnecting:
      return "connecting";
    case ClientState::kConnected:
      return "connected";
    case ClientState::kDisconnected:
      return "disconnected";
    case ClientState::kFallback:
      return "fallback";
    case ClientState::kClosed:
      return "closed";
  }
  return "unknown";
}

const char* to_string(ClientEvent::Kind kind) noexcept {
  switch (kind) {
    case ClientEvent::Kind::kMessage:
      return "message";
    case ClientEvent::Kind::kSubscribed:
      return "subscribed";
    case ClientEvent::Kind::kUnsubscribed:
      return "unsubscribed";
    case ClientEvent::Kind::kReset:
      return "reset";
    case ClientEvent::Kind::kState:
      return "state";
    case ClientEvent::Kind::kError:
      return "error";
    case ClientEvent::Kind::kPublished:
      return "published";
  }
  return "unknown";
}

}  // namespace rthub
