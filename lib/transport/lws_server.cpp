#include "transport/lws_server.hpp"

#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/hub_core.hpp"
#include "transport/bind_address.hpp"
#include "transport/http/http_exchange.hpp"
#include "transport/http_route.hpp"
#include "transport/lws_glue.hpp"
#include "transport/lws_session.hpp"
#include "transport/publish/publish_path.hpp"
#include "transport/shared_listener.hpp"
#include "transport/socket_batch.hpp"
#include "transport/ws/frame_guard.hpp"
#include "transport/ws/ws_metrics.hpp"
#include "transport/ws/ws_session.hpp"

namespace rthub {
namespace {

constexpr uint64_t kTimerMs = HubCore::kTickMs;  // housekeeping period (the core's sweep slices)
// How long one flush pass may write before the loop looks at its sockets again: a broadcast to
// thousands of subscribers is written in slices, so that a publish (or any request) arriving
// meanwhile is read within this long, and the sessions not yet written then take its message in
// the same send() as the earlier one.
constexpr uint64_t kFlushSliceNs = 2000000;
// How long closing connections may take at stop: 2 s, and 1 s more per 2,000 connections of the
// shard (each needs its close frame written and, for WebSocket, its peer's answer read; at
// 15,000 connections on a busy machine that is several seconds). Documented in OPERATIONS.md.
constexpr int64_t kStopGraceBaseMs = 2000;
constexpr int64_t kStopGraceConnectionsPerSecond = 2000;
// Marks (as the wsi's opaque user data) a connection that carries a transport's HTTP stream.
const char kStreamOpen = 0;

// The connection's stream, if any, lets go of the hub.
void close_stream(ConnectionSlot* slot) {
  if (!slot || !slot->stream) return;
  HttpStream* stream = slot->stream;
  slot->stream = nullptr;
  stream->on_closed();
}

int on_event(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len);

const struct lws_protocols kProtocols[] = {
    // Browsers name no subprotocol, so index 0 takes every upgrade (and plain HTTP too).
    // A small receive buffer keeps idle connections light: libwebsockets allocates it per
    // connection, and requests are small (longer ones arrive in pieces and are joined).
    {"rthub", on_event, sizeof(ConnectionSlot), 128, 0, nullptr, kWriteBatchBytes},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

std::string request_path(struct lws* wsi, std::string& method) {
  static const struct {
    enum lws_token_indexes token;
    const char* method;
  } kMethods[] = {{WSI_TOKEN_GET_URI, "GET"},         {WSI_TOKEN_POST_URI, "POST"},
                  {WSI_TOKEN_OPTIONS_URI, "OPTIONS"}, {WSI_TOKEN_PUT_URI, "PUT"},
                  {WSI_TOKEN_PATCH_URI, "PATCH"},     {WSI_TOKEN_DELETE_URI, "DELETE"},
                  {WSI_TOKEN_HEAD_URI, "HEAD"}};
  for (const auto& m : kMethods) {
    std::string path = header(wsi, m.token);
    if (!path.empty()) {
      method = m.method;
      return path;
    }
  }
  method.clear();
  return {};
}

// RFC 6455 4.4: a client asking for a version the server does not speak gets 426 and the
// versions it does. lws_return_http_status cannot add the header, so the answer is written raw.
void refuse_websocket_version(struct lws* wsi) {
  static const char kBody[] = "unsupported Sec-WebSocket-Version: this server speaks 13\n";
  std::string answer =
      "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
      "Content-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
      std::to_string(sizeof kBody - 1) + "\r\n\r\n" + kBody;
  std::vector<unsigned char> buffer(LWS_PRE + answer.size());
  std::memcpy(buffer.data() + LWS_PRE, answer.data(), answer.size());
  lws_write(wsi, buffer.data() + LWS_PRE, answer.size(), LWS_WRITE_HTTP_HEADERS);
}

}  // namespace

struct LwsServer::State {
  State(const HubOptions& o, HubCore& c, Metrics& m, Hooks h)
      : options(o), core(c), metrics(m), hooks(std::move(h)) {}
  const HubOptions& options;
  HubCore& core;
  Metrics& metrics;
  Hooks hooks;
  uv_loop_t loop{};
  uv_timer_t timer{};
  uv_prepare_t flusher{};
  uv_idle_t flush_unfinished{};  // active while a flush pass left sessions for the next iteration
  SharedListener listener;       // this shard's socket on the hub's port
  std::unique_ptr<PublishPath> publish_path;  // plain-text connections that start with a publish
  std::unique_ptr<FrameGuard> frame_guard;    // RFC 6455 header checks of ws:// connections
  SocketBatch sends;                          // the flush pass's socket writes, made together
  bool loop_ready = false;
  struct lws_context* context = nullptr;  // guarded by wake_lock for wake()
  // Set by lws itself (info.pcontext) and cleared once the context is wholly gone: with a foreign
  // loop the first destroy only starts closing, and a second one after the loop ran frees the rest.
  struct lws_context* lws_alive = nullptr;
  std::mutex wake_lock;
  std::vector<unsigned char> scratch;
  std::unique_ptr<ServerContext> server;
  std::vector<struct lws_http_mount> mounts;
  std::string iface;
  int port = 0;
  lws_retry_bo_t liveness{};
  bool stopping = false;
  int64_t stop_deadline_ms = 0;
  int ticks = 0;

  // The hub's endpoints (callback mounts, so that a static "/" mount cannot shadow them) and
  // the static files, chained for lws.
  // Every transport is named in the metrics from the start, used or not.
  void add_mounts() {
    websocket_kind();
    std::vector<const char*> points = {"/publish", "/history", "/metrics", "/healthz"};
    for (const HttpRoute& route : http_routes()) {
      route.kind();
      points.push_back(route.path);
    }
    for (const char* point : points) {
      struct lws_http_mount m;
      std::memset(&m, 0, sizeof m);
      m.mountpoint = point;
      m.mountpoint_len = static_cast<unsigned char>(std::strlen(point));
      m.origin = "rthub";
      m.origin_protocol = LWSMPRO_CALLBACK;
      mounts.push_back(m);
    }
    if (!options.static_dir.empty()) {
      struct lws_http_mount m;
      std::memset(&m, 0, sizeof m);
      m.mountpoint = "/";
      m.mountpoint_len = 1;
      m.origin = options.static_dir.c_str();
      m.def = "index.html";
      m.origin_protocol = LWSMPRO_FILE;
      m.cache_max_age = 0;
      mounts.push_back(m);
    }
    for (size_t i = 0; i + 1 < mounts.size(); ++i) mounts[i].mount_next = &mounts[i + 1];
  }

  // How lws serves on this shard's loop (it never listens itself: SharedListener does).
  struct lws_context_creation_info context_info(void** loops) {
    struct lws_context_creation_info info;
    std::memset(&info, 0, sizeof info);
    info.foreign_loops = loops;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN;
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    iface = options.listen_host;
    if (iface == "0.0.0.0" || iface == "*" || iface.empty()) {
      info.iface = nullptr;
    } else {
      info.iface = iface.c_str();
    }
    if (iface.find(':') == std::string::npos && iface != "localhost")
      info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    if (!options.tls_cert.empty()) {
      info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
      info.ssl_cert_filepath = options.tls_cert.c_str();
      info.ssl_private_key_filepath = options.tls_key.empty() ? nullptr : options.tls_key.c_str();
    }
    info.protocols = kProtocols;
    info.mounts = mounts.data();
    info.user = server.get();
    info.pcontext = &lws_alive;
    info.timeout_secs = 10;
    info.max_http_header_data = 16384;  // long Last-Event-ID cursors of many-channel streams
    info.max_http_header_pool = 64;
    // libwebsockets' own liveness checks are off (a policy with zero times): they keep a timer per
    // connection in a sorted list, whose inserts cost O(connections) each. The hub pings silent
    // WebSocket peers from its sweep instead (HubCore::probe_silent_peer).
    info.retry_and_idle_policy = &liveness;
    info.ka_time = 60;  // TCP keepalive finds half-open peers that never answer heartbeats
    info.ka_probes = 3;
    info.ka_interval = 10;
    return info;
  }

  void destroy_context() {
    struct lws_context* ctx;
    {
      std::lock_guard<std::mutex> lock(wake_lock);
      ctx = context;
      context = nullptr;
    }
    if (ctx) lws_context_destroy(ctx);
  }

  static void on_timer(uv_timer_t* timer) {
    auto* self = static_cast<State*>(timer->data);
    int64_t now_ms = monotonic_us() / 1000;
    for (const HttpRoute& route : http_routes())
      if (route.tick) route.tick(*self->server, now_ms);
    if (self->publish_path) self->publish_path->tick(now_ms);
    if (self->stopping) {
      if (self->core.session_count() == 0 || monotonic_us() / 1000 >= self->stop_deadline_ms) {
        self->destroy_context();
        uv_timer_stop(&self->timer);
        uv_close(reinterpret_cast<uv_handle_t*>(&self->timer), nullptr);
        uv_prepare_stop(&self->flusher);
        uv_close(reinterpret_cast<uv_handle_t*>(&self->flusher), nullptr);
        uv_idle_stop(&self->flush_unfinished);
        uv_close(reinterpret_cast<uv_handle_t*>(&self->flush_unfinished), nullptr);
      }
      return;
    }
    self->listener.resume();
    self->core.tick();
  }

  // Runs when the loop has handled every pending event, before it waits again: each session
  // listed since then writes all its new frames in one send.
  static void on_prepare(uv_prepare_t* handle) {
    auto* self = static_cast<State*>(handle->data);
    ServerContext& server = *self->server;
    if (self->publish_path) self->publish_path->flush(self->sends);
    if (!server.answer_list.empty()) {
      std::vector<HttpExchange*> answers;
      answers.swap(server.answer_list);
      for (HttpExchange* exchange : answers)
        if (server.exchanges.count(exchange)) exchange->answer_now();  // skip those gone meanwhile
    }
    std::vector<LwsSession*> listed;
    listed.swap(self->server->flush_list);
    constexpr size_t kAhead = 8;  // sessions: the parts are asked for half as far ahead
    uint64_t deadline = uv_hrtime() + kFlushSliceNs;
    size_t done = 0;
    while (done < listed.size()) {
      if (done + kAhead < listed.size()) listed[done + kAhead]->prefetch_record();
      if (done + kAhead / 2 < listed.size()) listed[done + kAhead / 2]->prefetch_parts();
      listed[done++]->flush(self->sends);
      if (done % 64 == 0 && uv_hrtime() > deadline) break;
    }
    self->sends.run();
    uint64_t ring_sends, plain_sends;
    self->sends.take_counts(ring_sends, plain_sends);
    if (ring_sends) server.metrics.flush_sends_io_uring.add(ring_sends);
    if (plain_sends) server.metrics.flush_sends_plain.add(plain_sends);
    // A pass that ran out of time leaves the rest for the next iteration, ahead of sessions listed
    // meanwhile; the loop polls without blocking until they are written.
    auto& list = self->server->flush_list;
    list.insert(list.begin(), listed.begin() + static_cast<std::ptrdiff_t>(done), listed.end());
    if (list.empty())
      uv_idle_stop(&self->flush_unfinished);
    else
      uv_idle_start(&self->flush_unfinished, [](uv_idle_t*) {});
    self->core.publish_write_metrics();
    // Keep the vector's capacity: the list is refilled on every busy iteration.
    listed.clear();
    if (list.empty()) list.swap(listed);
    self->observe_loop_busy();
  }

  // The busy time of the iteration that ends here: the time since the last prepare, less what
  // the loop spent blocked waiting for events (libuv's idle-time metric, on since open()); and
  // the CPU time the thread used meanwhile, which leaves out any time it was not running.
  uint64_t last_prepare_ns = 0, last_idle_ns = 0, last_cpu_ns = 0;
  void observe_loop_busy() {
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(&loop), cpu = thread_cpu_ns();
    if (last_prepare_ns) {
      uint64_t busy = now - last_prepare_ns - std::min(now - last_prepare_ns, idle - last_idle_ns);
      metrics.loop_busy.observe_us(static_cast<int64_t>(busy / 1000));
      metrics.loop_cpu.observe_us(static_cast<int64_t>((cpu - last_cpu_ns) / 1000));
    }
    last_prepare_ns = now;
    last_idle_ns = idle;
    last_cpu_ns = cpu;
  }
  static uint64_t thread_cpu_ns() {
    struct timespec ts {};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  }
};

namespace {

int on_event(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len) {
  auto* slot = static_cast<ConnectionSlot*>(user);
  struct lws_context* context = lws_get_context(wsi);
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
      auto* server = static_cast<ServerContext*>(lws_context_user(context));
      if (server && server->on_wake) server->on_wake();
      return 0;
    }
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
      std::string method;
      if (request_path(wsi, method) != "/ws") {  // WebSocket lives at /ws only
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "WebSocket endpoint is /ws");
        return -1;
      }
      if (header(wsi, WSI_TOKEN_VERSION) != "13") {  // lws 4.1.6 upgrades any version as 13
        server_of(wsi).metrics.extension<WsMetrics>().count(WsProtocolError::kVersion);
        refuse_websocket_version(wsi);
        return -1;
      }
      Admission admission = server_of(wsi).host.admit(connect_request(wsi, "ws", "/ws"));
      if (admission.status) {
        lws_return_http_status(wsi, static_cast<unsigned int>(admission.status),
                               admission.reason.c_str());
        return -1;
      }
      slot->admitted = new std::shared_ptr<const Rights>(std::move(admission.rights));
      return 0;
    }
    case LWS_CALLBACK_ESTABLISHED: {
      auto* session = new WsSession(wsi, peer_address(wsi));
      slot->ws = session;
      if (slot->admitted) {
        session->rights = std::move(*slot->admitted);
        delete slot->admitted;
        slot->admitted = nullptr;
      }
      server_of(wsi).host.attach(*session);
      if (!lws_is_ssl(wsi) && server_of(wsi).frame_guard) server_of(wsi).frame_guard->watch(wsi);
      return 0;
    }
    case LWS_CALLBACK_RECEIVE:
      return slot && slot->ws ? slot->ws->on_receive(in, len) : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
      if (slot && slot->ws) slot->ws->last_heard_ms = monotonic_us() / 1000;
      return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      // The peer answers a close frame the session wrote itself: lws must not send a second one
      // (browsers would report 1006), it just closes.
      return slot && slot->ws && slot->ws->close_sent() ? 1 : 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
      return slot && slot->ws ? slot->ws->on_writable() : 0;
    case LWS_CALLBACK_CLOSED:
      if (server_of(wsi).frame_guard) server_of(wsi).frame_guard->forget(wsi);
      if (slot && slot->ws) {
        server_of(wsi).host.detach(*slot->ws);
        delete slot->ws;
        slot->ws = nullptr;
      }
      return 0;

    case LWS_CALLBACK_HTTP: {
      std::string method;
      std::string path = request_path(wsi, method);
      for (const HttpRoute& route : http_routes()) {
        if (path != route.path || method != "GET") continue;
        // lws 4.1.6 replays the headers of a request that had bytes pipelined behind it (see
        // HttpExchange::of); a stream takes no request after it, so the connection closes.
        // (A stream that ends its answer and keeps the connection clears the mark.)
        if (lws_get_opaque_user_data(wsi) == &kStreamOpen) return -1;
        int result = route.open(wsi, *slot);
        if (result == 0 && slot->stream)
          lws_set_opaque_user_data(wsi, const_cast<char*>(&kStreamOpen));
        return result;
      }
      return HttpExchange::on_request(wsi, *slot, method, path);
    }
    case LWS_CALLBACK_HTTP_BODY:
      return slot->http ? slot->http->on_body(in, len) : 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
      return slot->http ? slot->http->on_body_complete() : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
      if (slot && slot->stream) return slot->stream->on_writable();
      if (slot && slot->http) return slot->http->on_writable();
      return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
      close_stream(slot);
      if (slot && slot->http) {
        server_of(wsi).exchanges.erase(slot->http);
        slot->http->abandon();
        delete slot->http;
        slot->http = nullptr;
      }
      return 0;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_WSI_DESTROY:
      // The last word on a connection: whatever it still holds goes (not every path of
      // libwebsockets ends a plain HTTP connection with CLOSED_HTTP).
      if (!slot) return 0;
      if (slot->admitted) {  // upgrade admitted but never established
        delete slot->admitted;
        slot->admitted = nullptr;
      }
      if (slot->http) {
        server_of(wsi).exchanges.erase(slot->http);
        slot->http->abandon();
        delete slot->http;
        slot->http = nullptr;
      }
      close_stream(slot);  // a replay's protocol rebind frees the slot as well
      return 0;
    default:
      break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

}  // namespace

LwsServer::LwsServer(const HubOptions& options, HubCore& core, Metrics& metrics, Hooks hooks)
    : state_(new State(options, core, metrics, std::move(hooks))) {}

LwsServer::~LwsServer() {
  State& s = *state_;
  if (s.context) s.destroy_context();
  s.listener.close();
  s.publish_path.reset();
  if (s.loop_ready) {
    uv_run(&s.loop, UV_RUN_NOWAIT);
    if (s.lws_alive) lws_context_destroy(s.lws_alive);
    while (uv_loop_close(&s.loop) == UV_EBUSY) uv_run(&s.loop, UV_RUN_NOWAIT);
  }
}

void LwsServer::open(bool joins_shards) {
  State& s = *state_;
  // Only lws's errors and warnings reach the host's stderr.
  // Not the line lws writes for every upgrade the hub refused (limits, tokens, versions): those
  // are counted in /metrics, and a flood of refusals must not flood the log.
  lws_set_log_level(LLL_ERR | LLL_WARN, [](int, const char* line) {
    if (std::strstr(line, "User code denied connection")) return;
    std::fprintf(stderr, "rthub: lws: %s", line);
  });
  if (uv_loop_init(&s.loop) != 0) throw Error(Errc::kIo, "cannot create the event loop");
  s.loop_ready = true;
  uv_loop_configure(&s.loop, UV_METRICS_IDLE_TIME);  // for the loop-busy histogram
  s.scratch.resize(LWS_PRE + kWriteBatchBytes);
  s.server.reset(new ServerContext{s.options,
                                   s.core,
                                   s.core,
                                   s.metrics,
                                   s.scratch,
                                   s.hooks.broker_ready,
                                   s.hooks.on_wake,
                                   s.hooks.broker_metrics,
                                   {},
                                   {},
                                   {},
                                   {}});

  s.add_mounts();

  std::string bind_host = s.options.listen_host == "*" ? "0.0.0.0" : s.options.listen_host;
  // Asking first: libwebsockets, when it cannot bind, still returns a context whose teardown
  // leaves libuv callbacks into its unloaded event-lib plugin.
  // The hub listens itself (SharedListener: one socket per shard on the one port) and hands
  // connections to lws. The first shard checks with a plain bind that nobody holds the port, not
  // even another process's SO_REUSEPORT group, which would otherwise take a share of them.
  if (!joins_shards && !can_bind(bind_host, s.options.port))
    throw Error(Errc::kIo,
                "cannot listen on " + s.options.listen_host + ":" + std::to_string(s.options.port));
  s.listener.open(bind_host, s.options.port);
  for (const std::string* file : {&s.options.tls_cert, &s.options.tls_key})
    if (!file->empty() && access(file->c_str(), R_OK) != 0)
      throw Error(Errc::kIo, "cannot read TLS file " + *file);

  void* loops[] = {&s.loop};
  struct lws_context_creation_info info = s.context_info(loops);
  s.context = lws_create_context(&info);
  if (!s.context)
    throw Error(Errc::kIo,
                "cannot listen on " + s.options.listen_host + ":" + std::to_string(s.options.port));
  s.lws_alive = s.context;
  // When the vhost cannot be made (TLS files it cannot use), lws still makes a context.
  struct lws_vhost* vhost = lws_get_vhost_by_name(s.context, "default");
  if (!vhost) {
    // Such a context cannot be torn down safely on a foreign loop (its teardown leaves libuv
    // callbacks into the unloaded event-lib plugin): destroy it, and abandon the loop unrun.
    s.destroy_context();
    s.loop_ready = false;
    s.lws_alive = nullptr;
    throw Error(Errc::kIo,
                "cannot serve on " + s.options.listen_host + ":" + std::to_string(s.options.port) +
                    (s.options.tls_cert.empty() ? "" : " (check the TLS certificate and key)"));
  }
  s.port = s.listener.port();
  // Over TLS every connection is lws's; in plain text publishers are served by the hub itself.
  if (s.options.tls_cert.empty()) {
    s.publish_path.reset(new PublishPath(&s.loop, vhost, *s.server));
    s.listener.start(
        &s.loop, [path = s.publish_path.get()](int fd) { path->take(fd); }, &s.metrics);
  } else {
    s.listener.start(
        &s.loop, [vhost](int fd) { lws_adopt_socket_vhost(vhost, fd); }, &s.metrics);
  }
  // A frame larger than a message, plus what a session reads and drops of an oversized message
  // before its 1009 (WsSession), is refused at its header.
  s.frame_guard.reset(new FrameGuard(&s.loop, s.metrics, s.options.max_message_bytes + (1u << 20)));
  s.server->frame_guard = s.frame_guard.get();

  uv_timer_init(&s.loop, &s.timer);
  s.timer.data = &s;
  uv_timer_start(&s.timer, State::on_timer, kTimerMs, kTimerMs);
  uv_prepare_init(&s.loop, &s.flusher);
  s.flusher.data = &s;
  uv_prepare_start(&s.flusher, State::on_prepare);
  uv_idle_init(&s.loop, &s.flush_unfinished);
}

void LwsServer::run() {
  State& s = *state_;
  uv_run(&s.loop, UV_RUN_DEFAULT);
  if (s.lws_alive) lws_context_destroy(s.lws_alive);
  for (HttpExchange* exchange : s.server->exchanges) delete exchange;
  s.server->exchanges.clear();
  // Anything lws still closes finishes here, then the loop can be closed.
  while (uv_loop_close(&s.loop) == UV_EBUSY) uv_run(&s.loop, UV_RUN_NOWAIT);
  s.loop_ready = false;
}

bool LwsServer::wake() {
  std::lock_guard<std::mutex> lock(state_->wake_lock);
  if (!state_->context) return false;
  lws_cancel_service(state_->context);
  return true;
}

void LwsServer::begin_stop() {
  State& s = *state_;
  if (s.stopping) return;
  s.stopping = true;
  s.listener.close();  // no new connections
  if (s.publish_path) s.publish_path->close_all();
  int64_t grace_ms = kStopGraceBaseMs + static_cast<int64_t>(s.core.session_count()) * 1000 /
                                            kStopGraceConnectionsPerSecond;
  s.server->stopping = true;
  s.core.close_all(CloseCode::kGoingAway);
  // The grace is the peers' time to see their close: it starts once the hub has done its part.
  s.stop_deadline_ms = monotonic_us() / 1000 + grace_ms;
}

int LwsServer::port() const {
  return state_->port;
}

void* LwsServer::loop() const {
  return &state_->loop;
}

}  // namespace rthub
