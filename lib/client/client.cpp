// client.cpp: rthub::Client: host threads queue commands and wake the client's own thread; on
// that thread the parts do the work (lib/client/README.md):
//   ConnectionStrategy  which connection, fallback, backoff, watchdog (connection_strategy.*)
//   RequestBook         requests waiting for an answer or a connection (request_book.*)
//   ServerOps           what each object from the hub means (server_ops.*)
//   EventSink           events to on_event or the polling queue, and the counters (event_sink.*)
// The behaviour is written down in docs/CLIENT.md.
#include "rthub/client.hpp"

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "client/channel_book.hpp"
#include "client/client_loop.hpp"
#include "client/client_options_check.hpp"
#include "client/connection_strategy.hpp"
#include "client/endpoint.hpp"
#include "client/event_queue.hpp"
#include "client/event_sink.hpp"
#include "client/loop_links.hpp"
#include "client/request_book.hpp"
#include "client/server_ops.hpp"
#include "client/state_wire.hpp"
#include "client/wire.hpp"
#include "core/channel_name.hpp"

namespace rthub {

using client::Connection;
using client::LinkEnd;
using client::PublishRequest;
using client::RequestKind;

// Hidden: Client is exported, and its nested Impl would otherwise be too.
class __attribute__((visibility("hidden"))) Client::Impl final : public client::ConnectionHooks {
 public:
  explicit Impl(ClientOptions options);
  ~Impl() override;

  void start();
  void stop();
  void subscribe(const std::string& channel, const SubscribeOptions& options);
  void unsubscribe(const std::string& channel);
  uint64_t publish(const std::string& channel, const std::string& type, const std::string& data,
                   const ClientPublishOptions& options);
  uint64_t presence(const std::string& channel);
  bool next_event(ClientEvent& out, int timeout_ms);
  int event_fd() const { return options_.on_event ? -1 : queue_.fd(); }
  ClientStats stats() const { return counters_.snapshot(); }

 private:
  struct Command {
    enum class Kind { kSubscribe, kUnsubscribe, kPublish, kPresence, kStop } kind;
    std::string channel;
    SubscribeOptions subscribe;
    PublishRequest publish;  // kPublish; kPresence: its id
  };

  // Host side.
  void post(Command command);
  bool on_client_thread() const { return std::this_thread::get_id() == thread_id_.load(); }
  uint64_t next_id() { return ids_.fetch_add(1) + 1; }

  // Client thread.
  void run(std::promise<std::string> ready);
  void on_wake();
  void apply(Command& command);
  void unsubscribe_now(const std::string& channel);
  void stop_now();
  void send_subscribe(Connection& ws, const std::string& channel);
  void send_publish(PublishRequest request);
  void send_presence(uint64_t id, const std::string& channel, RequestKind kind);
  void publish_over_http(PublishRequest request);
  void presence_over_http(uint64_t request_id, const std::string& channel);
  void pause_reading();
  // The open WebSocket, if the current connection is one.
  Connection* open_ws() const {
    return strategy_.transport() == ClientTransport::kWebSocket ? strategy_.open_connection()
                                                                : nullptr;
  }

  // ConnectionHooks
  void on_connected(Connection& link, ClientTransport transport, bool took_over) override;
  void on_disconnected() override;
  void on_server_text(std::string_view text) override;
  void on_refused(ClientTransport transport, const LinkEnd& end) override;

  // Fixed at construction.
  ClientOptions options_;
  client::Endpoint endpoint_;

  // Shared with host threads.
  std::mutex commands_lock_;
  std::vector<Command> commands_;
  std::atomic<uint64_t> ids_{0};
  client::EventQueue queue_;
  client::ClientCounters counters_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::mutex lifecycle_lock_;  // start/stop
  bool started_ = false, joined_ = false;

  // Client thread only.
  client::ClientLoop loop_;
  client::LoopClock clock_{loop_};
  client::LoopLinks links_;
  client::ChannelBook book_;
  client::RequestBook requests_;
  client::EventSink sink_;
  client::ConnectionStrategy strategy_;
  client::ServerOps ops_;
  bool running_ = false;
  bool paused_ = false;         // the polling queue is over its bound: not reading
  bool reopen_stream_ = false;  // the wanted channels changed in this batch of commands
};

namespace {

client::LinkSettings link_settings(const ClientOptions& o, const client::Endpoint& endpoint,
                                   bool for_publish, std::function<bool()> stream_snapshots = {}) {
  client::LinkSettings settings;
  settings.stream_snapshots = std::move(stream_snapshots);
  settings.endpoint = endpoint;
  settings.token = for_publish && !o.publish_key.empty() ? o.publish_key : o.token;
  settings.insecure_skip_verify = o.insecure_skip_verify_for_tests;
  settings.handshake_timeout_ms = o.handshake_timeout_ms;
  return settings;
}

client::Endpoint endpoint_of(const ClientOptions& o) {
  std::string error;  // the options were checked by validate_client_options already
  return *client::parse_endpoint(o.url, error);
}

}  // namespace

// ---- Host side ----------------------------------------------------------------------------

Client::Impl::Impl(ClientOptions options)
    : options_(std::move(options)),
      endpoint_(endpoint_of(options_)),
      queue_(options_.max_pending_events),
      links_(
          loop_,
          link_settings(options_, endpoint_, false, [this] { return book_.any_wants_snapshot(); }),
          link_settings(options_, endpoint_, true)),
      sink_(options_.on_event, queue_, counters_, [this] { pause_reading(); }),
      strategy_(
          client::StrategySettings{options_.sse_only,
                                   options_.watchdog_ms
                                       ? options_.watchdog_ms
                                       : int64_t{2000} * options_.heartbeat_seconds,
                                   options_.websocket_retry_ms, [this] { return next_id(); },
                                   options_.poll_only, options_.sse_silence_ms},
          client::Backoff(client::BackoffPolicy{options_.backoff_base_ms, options_.backoff_cap_ms,
                                                options_.max_attempts},
                          client::system_uniform_source()),
          clock_, links_, book_, sink_, counters_, *this),
      ops_(book_, requests_, sink_, counters_,
           client::ServerOps::Hooks{
               [this](std::string reason) { strategy_.drop(std::move(reason)); },
               [this](const std::string& channel) {
                 if (Connection* ws = open_ws()) send_subscribe(*ws, channel);
               },
               [this](const std::string& channel) {
                 send_presence(next_id(), channel, RequestKind::kAutoPresence);
               }}) {
  for (const auto& channel : options_.channels)
    book_.want(channel, std::nullopt, options_.snapshot, options_.presence);
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
    post(Command{Command::Kind::kStop, {}, {}, {}});
    return;
  }
  std::lock_guard<std::mutex> guard(lifecycle_lock_);
  if (!started_) {
    started_ = joined_ = true;  // a client stopped before it started cannot start any more
    queue_.close();
    return;
  }
  if (joined_) return;
  post(Command{Command::Kind::kStop, {}, {}, {}});
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

void Client::Impl::subscribe(const std::string& channel, const SubscribeOptions& options) {
  check_channel_name(channel);
  post(Command{Command::Kind::kSubscribe, channel, options, {}});
}

void Client::Impl::unsubscribe(const std::string& channel) {
  check_channel_name(channel);
  post(Command{Command::Kind::kUnsubscribe, channel, {}, {}});
}

uint64_t Client::Impl::publish(const std::string& channel, const std::string& type,
                               const std::string& data, const ClientPublishOptions& options) {
  check_channel_name(channel);
  if (options.delete_key && options.key.empty())
    throw Error(Errc::kInvalid, "delete_key needs a key");
  if (!options.key.empty() && options.key.size() > 256)
    throw Error(Errc::kInvalid,
                "key must be 1-256 bytes (got " + std::to_string(options.key.size()) + ")");
  bool null_data = data.empty() && options.delete_key;  // a delete needs no data
  if (!null_data && !client::is_json_value(data))
    throw Error(Errc::kInvalid, "data is not one JSON value");
  uint64_t id = next_id();
  post(Command{Command::Kind::kPublish,
               channel,
               {},
               PublishRequest{id, channel, type.empty() ? "message" : type, data, options.key,
                              options.delete_key}});
  return id;
}

uint64_t Client::Impl::presence(const std::string& channel) {
  check_channel_name(channel);
  uint64_t id = next_id();
  PublishRequest request;
  request.id = id;
  post(Command{Command::Kind::kPresence, channel, {}, std::move(request)});
  return id;
}

bool Client::Impl::next_event(ClientEvent& out, int timeout_ms) {
  if (options_.on_event)
    throw Error(Errc::kState, "events go to on_event: next_event is for clients without one");
  return queue_.pop(out, timeout_ms);
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
  if (running_) strategy_.start();
  while (running_) {
    loop_.service();
    links_.collect(strategy_.current(), strategy_.probe());
  }
  strategy_.stop();
  links_.abandon_all();
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
  if (reopen_stream_ && running_) {
    reopen_stream_ = false;
    strategy_.channels_changed();
  }
  if (paused_ && !queue_.over_bound()) {
    paused_ = false;
    strategy_.set_paused(false);
  }
}

void Client::Impl::apply(Command& command) {
  switch (command.kind) {
    case Command::Kind::kSubscribe:
      if (!book_.want(command.channel, command.subscribe.since, command.subscribe.snapshot,
                      command.subscribe.presence))
        return;
      if (Connection* ws = open_ws()) return send_subscribe(*ws, command.channel);
      reopen_stream_ = true;  // an event stream's channels are in its URL; a waiting one starts
      return;
    case Command::Kind::kUnsubscribe:
      return unsubscribe_now(command.channel);
    case Command::Kind::kPublish:
      return send_publish(std::move(command.publish));
    case Command::Kind::kPresence:
      return send_presence(command.publish.id, command.channel, RequestKind::kPresence);
    case Command::Kind::kStop:
      return stop_now();
  }
}

void Client::Impl::unsubscribe_now(const std::string& channel) {
  if (!book_.drop(channel)) return;
  requests_.forget_channel(channel);
  if (Connection* ws = open_ws()) {
    uint64_t id = next_id();
    requests_.sent(id, RequestKind::kUnsubscribe, channel);
    ws->send(client::encode_unsubscribe(channel, id));
    return;
  }
  if (client::channels_in_url(strategy_.transport())) reopen_stream_ = true;
  sink_.unsubscribed(channel);
}

void Client::Impl::stop_now() {
  if (!running_) return;
  bool closed = strategy_.phase() == client::ConnectionStrategy::Phase::kClosed;
  ClientTransport transport = strategy_.transport();
  strategy_.stop();
  for (auto& [id, channel] : requests_.connection_lost())
    sink_.error("unavailable", "the client stopped before the hub answered", channel, id);
  for (auto& waiting : requests_.take_waiting())
    sink_.error("unavailable", "the client stopped before the message could be sent",
                waiting.channel, waiting.id);
  if (!closed) sink_.state(ClientState::kClosed, transport, "stopped", strategy_.attempt());
  running_ = false;
}

void Client::Impl::send_subscribe(Connection& ws, const std::string& channel) {
  uint64_t id = next_id();
  requests_.sent(id, RequestKind::kSubscribe, channel);
  ws.send(client::encode_subscribe(channel, book_.position(channel), id,
                                   book_.wants_snapshot(channel), book_.wants_presence(channel)));
}

// Over WebSocket a presence request; while the client streams over SSE or long-polling (no way
// back to the hub on the stream), GET /presence. Join and leave events come over WebSocket only.
void Client::Impl::send_presence(uint64_t id, const std::string& channel, RequestKind kind) {
  if (Connection* ws = open_ws()) {
    requests_.sent(id, kind, channel);
    ws->send(client::encode_presence(channel, id));
    return;
  }
  // The automatic request after a subscribe carries no id of the host's.
  uint64_t request_id = kind == RequestKind::kPresence ? id : 0;
  if (strategy_.open_connection()) return presence_over_http(request_id, channel);
  sink_.error("unavailable", "presence needs a connection to the hub and none is open now", channel,
              request_id);
}

void Client::Impl::presence_over_http(uint64_t request_id, const std::string& channel) {
  Connection* exchange = links_.exchange(
      endpoint_.presence_path(channel), {},
      [this, request_id, channel](int status, const std::string& body, const std::string& failure) {
        if (status == 0)
          return sink_.error("unavailable", "GET /presence failed: " + failure, channel,
                             request_id);
        if (status != 200) {
          client::HttpRefusal refusal = client::decode_http_refusal(status, body, "GET /presence");
          return sink_.error(refusal.code, refusal.message, channel, request_id);
        }
        client::ServerObject answer;
        ClientEvent event;
        std::string error = "no clients";
        if (!client::decode_server_object(body, answer, error) || answer.members.empty() ||
            !client::decode_members(answer.members, event.clients, error))
          return sink_.error("protocol", "unreadable answer to GET /presence: " + error, channel,
                             request_id);
        event.kind = ClientEvent::Kind::kPresence;
        event.channel = channel;
        event.data = std::move(answer.members);
        event.request_id = request_id;
        sink_.emit(std::move(event));
      });
  exchange->connect();
}

void Client::Impl::send_publish(PublishRequest request) {
  if (Connection* ws = open_ws()) {
    requests_.sent(request.id, RequestKind::kPublish, request.channel);
    ws->send(client::encode_publish(request.channel, request.type, request.data, request.id,
                                    client::PublishKey{request.key, request.delete_key}));
    return;
  }
  if (strategy_.open_connection()) return publish_over_http(std::move(request));  // over SSE
  if (strategy_.phase() == client::ConnectionStrategy::Phase::kClosed)
    return sink_.error("unavailable", "the client has stopped reconnecting", request.channel,
                       request.id);
  uint64_t id = request.id;
  std::string channel = request.channel;
  if (!requests_.wait(std::move(request)))
    sink_.error("limit", "too many publishes waiting for a connection", channel, id);
}

// Over SSE (no way back to the hub on the stream): POST /publish.
void Client::Impl::publish_over_http(PublishRequest request) {
  uint64_t id = request.id;
  std::string channel = request.channel;
  Connection* exchange = links_.exchange(
      endpoint_.publish_path(),
      client::encode_publish_body(request.channel, request.type, request.data,
                                  client::PublishKey{request.key, request.delete_key}),
      [this, id, channel](int status, const std::string& body, const std::string& failure) {
        if (status == 0)
          return sink_.error("unavailable", "POST /publish failed: " + failure, channel, id);
        client::PublishAnswer answer = client::decode_publish_answer(status, body);
        if (!answer.ok) return sink_.error(answer.code, answer.message, channel, id);
        ClientEvent event;
        event.kind = ClientEvent::Kind::kPublished;
        event.channel = answer.channel;
        event.position = answer.position;
        event.request_id = id;
        sink_.emit(std::move(event));
      });
  exchange->connect();
}

void Client::Impl::pause_reading() {
  if (paused_) return;
  paused_ = true;
  strategy_.set_paused(true);
}

// ---- Client thread: the connection's hooks ------------------------------------------------

void Client::Impl::on_connected(Connection& link, ClientTransport transport, bool took_over) {
  (void)took_over;
  if (transport == ClientTransport::kWebSocket)
    for (const auto& channel : book_.channels()) send_subscribe(link, channel);
  for (auto& request : requests_.take_waiting()) send_publish(std::move(request));
}

void Client::Impl::on_disconnected() {
  ops_.connection_lost();
  for (auto& [id, channel] : requests_.connection_lost())
    sink_.error("unavailable",
                "the connection was lost before the hub answered (a publish may or may not have "
                "been published)",
                channel, id);
}

void Client::Impl::on_server_text(std::string_view text) {
  client::ServerObject object;
  std::string error;
  if (!client::decode_server_object(text, object, error))
    return sink_.error("protocol", "unreadable object from the hub: " + error);
  ops_.dispatch(object);
}

void Client::Impl::on_refused(ClientTransport transport, const LinkEnd& end) {
  if (end.http_status == 401 || end.http_status == 403)
    return sink_.error(end.http_status == 401 ? "unauthorized" : "forbidden", end.reason);
  if (client::channels_in_url(transport)) {
    client::PublishAnswer refusal = client::decode_publish_answer(end.http_status, end.body);
    sink_.error(refusal.code, refusal.message);
    // A hub that keeps no snapshots (Redis mode) refuses snapshot=1: stream plainly from now on,
    // as a refused WebSocket subscribe does (docs/CLIENT.md, "Snapshots").
    if (refusal.code == "unsupported")
      for (const auto& channel : book_.channels()) book_.make_plain(channel);
  }
}

// ---- Public API ---------------------------------------------------------------------------

Client::Client(ClientOptions options)
    : impl_(new Impl(client::validate_client_options(std::move(options)))) {}
Client::~Client() = default;
void Client::start() {
  impl_->start();
}
void Client::stop() {
  impl_->stop();
}
void Client::subscribe(const std::string& channel, const std::optional<Position>& since) {
  SubscribeOptions options;
  options.since = since;
  impl_->subscribe(channel, options);
}
void Client::subscribe(const std::string& channel, const SubscribeOptions& options) {
  impl_->subscribe(channel, options);
}
void Client::unsubscribe(const std::string& channel) {
  impl_->unsubscribe(channel);
}
uint64_t Client::publish(const std::string& channel, const std::string& type,
                         const std::string& data) {
  return impl_->publish(channel, type, data, {});
}
uint64_t Client::publish(const std::string& channel, const std::string& type,
                         const std::string& data, const ClientPublishOptions& options) {
  return impl_->publish(channel, type, data, options);
}
uint64_t Client::presence(const std::string& channel) {
  return impl_->presence(channel);
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
    case ClientTransport::kLongPoll:
      return "poll";
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
    case ClientEvent::Kind::kSnapshot:
      return "snapshot";
    case ClientEvent::Kind::kPresence:
      return "presence";
    case ClientEvent::Kind::kJoin:
      return "join";
    case ClientEvent::Kind::kLeave:
      return "leave";
  }
  return "unknown";
}

}  // namespace rthub
