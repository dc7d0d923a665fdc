#include "client/client_loop.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>

#include "client/link.hpp"

namespace rthub::client {
namespace {

// Connections belong to a Link through their opaque user data; a connection whose Link has let
// go of it (abandoned, ended) is being closed and takes nothing more.
int on_event(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, size_t len) {
  if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
    auto* loop = static_cast<ClientLoop*>(lws_context_user(lws_get_context(wsi)));
    if (loop && loop->on_wake) loop->on_wake();
    return 0;
  }
  Link* link = wsi ? static_cast<Link*>(lws_get_opaque_user_data(wsi)) : nullptr;
  if (link) return link->on_lws(wsi, reason, in, len);
  switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
    case LWS_CALLBACK_CLIENT_RECEIVE:
    case LWS_CALLBACK_CLIENT_WRITEABLE:
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
      return -1;  // an orphan: hang up
    default:
      break;
  }
  (void)user;
  return 0;
}

const struct lws_protocols kProtocols[] = {
    {"rthub-client", on_event, 0, 64 * 1024, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

}  // namespace

Timer::Timer() {
  std::memset(&node_, 0, sizeof node_);
}

void Timer::fire(lws_sorted_usec_list_t* sul) {
  Timer* self = reinterpret_cast<Node*>(sul)->owner;
  self->armed_ = false;
  std::function<void()> fn = self->fn_;  // fn may restart or destroy the timer's owner state
  if (fn) fn();
}

void Timer::start(struct lws_context* context, int64_t ms, std::function<void()> fn) {
  cancel();
  if (!context) return;
  fn_ = std::move(fn);
  node_.owner = this;
  armed_ = true;
  lws_sul_schedule(context, 0, &node_.sul, fire, (ms < 0 ? 0 : ms) * LWS_US_PER_MS);
}

void Timer::cancel() {
  if (!armed_) return;
  armed_ = false;
  lws_sul_cancel(&node_.sul);
}

const char* ClientLoop::protocol_name() {
  return kProtocols[0].name;
}

bool ClientLoop::open(const Settings& settings, std::string& error) {
  // Only lws's errors and warnings reach stderr, as with the hub (the setting is process-wide).
  lws_set_log_level(LLL_ERR | LLL_WARN,
                    [](int, const char* line) { std::fprintf(stderr, "rthub: lws: %s", line); });
  struct lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = kProtocols;
  info.user = this;
  info.timeout_secs = 30;  // lws's own limit on a stalled handshake; ours is usually shorter
  info.gid = -1;
  info.uid = -1;
  if (settings.tls) {
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    // lws loads the system store itself; a CA file is added to it. Without one, lws would look for
    // CAs in a build-time directory and complain when it is missing, so name the system bundle.
    ca_file_ = settings.ca_file;
    if (ca_file_.empty()) {
      for (const char* bundle : {"/etc/ssl/certs/ca-certificates.crt",
                                 "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}) {
        if (std::ifstream(bundle).good()) {
          ca_file_ = bundle;
          break;
        }
      }
    } else if (!std::ifstream(ca_file_).good()) {
      error = "cannot read the CA file " + ca_file_;
      return false;
    }
    if (!ca_file_.empty()) info.client_ssl_ca_filepath = ca_file_.c_str();
  }
  struct lws_context* context = lws_create_context(&info);
  if (!context) {
    error = "cannot create the network context (libwebsockets)";
    return false;
  }
  std::lock_guard<std::mutex> guard(wake_lock_);
  context_ = context;
  return true;
}

void ClientLoop::close() {
  struct lws_context* context;
  {
    std::lock_guard<std::mutex> guard(wake_lock_);
    context = context_;
    context_ = nullptr;
  }
  if (context) lws_context_destroy(context);
}

void ClientLoop::service() {
  if (context_) lws_service(context_, 0);
}

void ClientLoop::wake() {
  std::lock_guard<std::mutex> guard(wake_lock_);
  if (context_) lws_cancel_service(context_);
}

}  // namespace rthub::client
