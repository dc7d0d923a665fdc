// rthub_capi.cpp: the C ABI over the C++ hub. Every entry point checks its handle and arguments,
// and no exception crosses into C: each is turned into an rthub_err plus a per-thread detail.
#include "rthub/rthub.h"

#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "capi/guard.hpp"
#include "capi/hub_handle.hpp"
#include "capi/sized_struct.hpp"
#include "rthub/hub.hpp"

struct rthub_connect_answer {
  rthub::ConnectDecision decision;
};

// A pending channel decision and a copy of what it is about, valid until it is completed.
struct rthub_channel_check {
  rthub::ChannelCompletion completion;
  std::string channel, identity;
  rthub_channel_info info;
};

namespace rthub::capi {

std::string& last_error() {
  thread_local std::string detail;
  return detail;
}

}  // namespace rthub::capi

namespace {

using rthub::capi::fail;
using rthub::capi::guarded;

using HubOptionsLayout =
    rthub::capi::Layout<rthub_hub_options,
                        RTHUB_KNOWN_BYTES(rthub_hub_options, poll_timeout_seconds)>;

rthub_hub_options default_hub_options() {
  rthub::HubOptions d;
  rthub_hub_options o = HubOptionsLayout::zeroed();
  o.port = d.port;
  o.history_size = d.history_size;
  o.history_ttl_seconds = d.history_ttl_seconds;
  o.heartbeat_seconds = d.heartbeat_seconds;
  o.max_message_bytes = d.max_message_bytes;
  o.max_queue_bytes = d.max_queue_bytes;
  o.max_connections = d.max_connections;
  o.max_connections_per_ip = d.max_connections_per_ip;
  o.max_subscriptions = d.max_subscriptions;
  o.sse_retry_ms = d.sse_retry_ms;
  o.shards = d.shards;
  o.idempotency_window_seconds = d.idempotency_window_seconds;
  o.persist_ttl_seconds = d.persist_ttl_seconds;
  o.persist_buffer = d.persist_buffer;
  o.max_keys = d.max_keys;
  o.poll_timeout_seconds = d.poll_timeout_seconds;
  return o;
}

// "a, b,c" -> {"a", "b", "c"}
std::vector<std::string> comma_list(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string item =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The C++ options of a host's struct (any version: see sized_struct.hpp). The C++ Hub checks
// them.
rthub::HubOptions to_options(const rthub_hub_options* in) {
  rthub::HubOptions out;
  if (!in) return out;
  rthub_hub_options o = default_hub_options();
  HubOptionsLayout::read(in, o, "options");
  if (o.listen_host) out.listen_host = o.listen_host;
  out.port = o.port;
  if (o.static_dir) out.static_dir = o.static_dir;
  out.history_size = o.history_size;
  out.history_ttl_seconds = o.history_ttl_seconds;
  out.heartbeat_seconds = o.heartbeat_seconds;
  if (o.publish_key) out.publish_key = o.publish_key;
  out.max_message_bytes = o.max_message_bytes;
  out.max_queue_bytes = o.max_queue_bytes;
  out.max_connections = o.max_connections;
  out.max_connections_per_ip = o.max_connections_per_ip;
  out.max_subscriptions = o.max_subscriptions;
  if (o.jwt_secret) out.jwt_secret = o.jwt_secret;
  out.allow_client_publish = o.allow_client_publish != 0;
  if (o.allowed_origins) out.allowed_origins = comma_list(o.allowed_origins);
  out.max_connect_rate = o.max_connect_rate;
  if (o.tls_cert) out.tls_cert = o.tls_cert;
  if (o.tls_key) out.tls_key = o.tls_key;
  if (o.redis_url) out.redis_url = o.redis_url;
  if (o.bridge_channels) out.bridge_channels = comma_list(o.bridge_channels);
  out.sse_retry_ms = o.sse_retry_ms;
  if (o.poll_timeout_seconds < 1 || o.poll_timeout_seconds > 24 * 3600)
    throw rthub::Error(rthub::Errc::kInvalid, "poll_timeout_seconds must be 1 to 86400");
  out.poll_timeout_seconds = static_cast<int>(o.poll_timeout_seconds);
  out.shards = o.shards;
  if (o.redis_cluster) out.redis_cluster = comma_list(o.redis_cluster);
  out.idempotency_window_seconds = o.idempotency_window_seconds;
  if (o.postgres_conninfo) out.postgres_conninfo = o.postgres_conninfo;
  if (o.persist_patterns) out.persist_patterns = comma_list(o.persist_patterns);
  out.persist_ttl_seconds = o.persist_ttl_seconds;
  out.persist_buffer = o.persist_buffer;
  out.max_keys = o.max_keys;
  return out;
}

}  // namespace

extern "C" {

const char* rthub_version(void) {
  return RTHUB_VERSION_STRING;
}

unsigned rthub_version_number(void) {
  return RTHUB_VERSION_NUMBER;
}

const char* rthub_strerror(rthub_err err) {
  switch (err) {
    case RTHUB_OK:
      return "ok";
    case RTHUB_ERR_INVALID:
      return "invalid argument";
    case RTHUB_ERR_NOMEM:
      return "out of memory";
    case RTHUB_ERR_STATE:
      return "wrong state";
    case RTHUB_ERR_IO:
      return "input/output error";
    case RTHUB_ERR_UNAVAILABLE:
      return "unavailable";
    case RTHUB_ERR_TOO_LARGE:
      return "too large";
    case RTHUB_ERR_TIMEOUT:
      return "timed out";
    case RTHUB_ERR_INTERNAL:
      return "internal error";
    case RTHUB_ERR_UNKNOWN_OUTCOME:
      return "outcome unknown";
  }
  return "unknown error";
}

const char* rthub_last_error(void) {
  return rthub::capi::last_error().c_str();
}

rthub_err rthub_hub_options_init(rthub_hub_options* options, size_t struct_size) {
  return HubOptionsLayout::init(options, struct_size, default_hub_options(), "options");
}

rthub_err rthub_hub_new(const rthub_hub_options* options, rthub_hub** out) {
  if (!out) return fail(RTHUB_ERR_INVALID, "out is NULL");
  *out = nullptr;
  return guarded([&] {
    rthub_hub* hub = new (std::nothrow) rthub_hub(to_options(options));
    if (!hub) throw std::bad_alloc();
    *out = hub;
  });
}

rthub_err rthub_hub_start(rthub_hub* hub) {
  if (!hub) return fail(RTHUB_ERR_INVALID, "hub is NULL");
  return guarded([&] { hub->hub.start(); });
}

rthub_err rthub_hub_stop(rthub_hub* hub) {
  if (!hub) return fail(RTHUB_ERR_INVALID, "hub is NULL");
  return guarded([&] { hub->hub.stop(); });
}

void rthub_hub_free(rthub_hub* hub) {
  if (!hub) return;
  guarded([&] { hub->hub.stop(); });
  delete hub;
}

int rthub_hub_port(const rthub_hub* hub) {
  return hub ? hub->hub.port() : 0;
}

rthub_err rthub_hub_stats(const rthub_hub* hub, rthub_stats* out) {
  if (!hub || !out) return fail(RTHUB_ERR_INVALID, "hub or out is NULL");
  return guarded([&] {
    rthub::HubStats s = hub->hub.stats();
    rthub_stats full;
    std::memset(&full, 0, sizeof full);
    full.struct_size = out->struct_size;
    full.connections_ws = s.connections_ws;
    full.connections_sse = s.connections_sse;
    full.accepted_ws = s.accepted_ws;
    full.accepted_sse = s.accepted_sse;
    full.subscriptions = s.subscriptions;
    full.channels = s.channels;
    full.messages_published = s.messages_published;
    full.deliveries = s.deliveries;
    full.bytes_sent = s.bytes_sent;
    full.resumes_recovered = s.resumes_recovered;
    full.resumes_lost = s.resumes_lost;
    full.slow_consumers_dropped = s.slow_consumers_dropped;
    full.errors = s.errors;
    full.history_bytes = s.history_bytes;
    full.auth_failures = s.auth_failures;
    full.reconnects = s.reconnects;
    full.sse_fallbacks = s.sse_fallbacks;
    rthub::capi::write_sized(full, out, "out");
  });
}

rthub_err rthub_hub_transport_stats(const rthub_hub* hub, const char* name,
                                    rthub_transport_stats* out) {
  if (!hub || !name || !out) return fail(RTHUB_ERR_INVALID, "hub, name or out is NULL");
  return guarded([&] {
    rthub::HubStats s = hub->hub.stats();
    const rthub::TransportStats* t = s.transport(name);
    if (!t) throw rthub::Error(rthub::Errc::kInvalid, std::string("no transport named ") + name);
    rthub_transport_stats full;
    std::memset(&full, 0, sizeof full);
    full.struct_size = out->struct_size;
    full.connections = t->connections;
    full.accepted = t->accepted;
    full.reconnects = t->reconnects;
    full.fallbacks = t->fallbacks;
    rthub::capi::write_sized(full, out, "out");
  });
}

void rthub_connect_accept(rthub_connect_answer* answer, const char* identity,
                          const char* const* subscribe, size_t subscribe_count,
                          const char* const* publish, size_t publish_count) {
  if (!answer) return;
  guarded([&] {
    rthub::Rights rights;
    rights.anonymous = false;
    if (identity) rights.identity = identity;
    for (size_t i = 0; subscribe && i < subscribe_count; ++i)
      if (subscribe[i]) rights.subscribe.emplace_back(subscribe[i]);
    for (size_t i = 0; publish && i < publish_count; ++i)
      if (publish[i]) rights.publish.emplace_back(publish[i]);
    answer->decision.verdict = rthub::ConnectDecision::Verdict::kAccept;
    answer->decision.rights = std::move(rights);
  });
}

void rthub_connect_refuse(rthub_connect_answer* answer, int status) {
  if (!answer) return;
  answer->decision.verdict = rthub::ConnectDecision::Verdict::kRefuse;
  answer->decision.status = status == 403 ? 403 : 401;
}

rthub_err rthub_channel_check_complete(rthub_channel_check* check, int allow) {
  if (!check) return fail(RTHUB_ERR_INVALID, "check is NULL");
  rthub_err err = guarded([&] { check->completion(allow != 0); });
  delete check;
  return err;
}

const rthub_channel_info* rthub_channel_check_info(const rthub_channel_check* check) {
  return check ? &check->info : nullptr;
}

rthub_err rthub_hub_set_auth(rthub_hub* hub, rthub_connect_fn on_connect,
                             rthub_channel_fn on_channel, void* user_data) {
  if (!hub) return fail(RTHUB_ERR_INVALID, "hub is NULL");
  return guarded([&] {
    rthub::AuthHooks hooks;
    if (on_connect) {
      hooks.on_connect = [on_connect, user_data](const rthub::ConnectRequest& r) {
        rthub_connect_info info;
        info.struct_size = sizeof info;
        info.transport = r.transport.c_str();
        info.peer = r.peer.c_str();
        info.token = r.token.c_str();
        info.token_len = r.token.size();
        info.origin = r.origin.c_str();
        info.token_verified = r.token_rights ? 1 : 0;
        info.token_subject = r.token_rights ? r.token_rights->identity.c_str() : "";
        rthub_connect_answer answer;
        on_connect(&info, &answer, user_data);
        return answer.decision;
      };
    }
    if (on_channel) {
      hooks.on_channel = [on_channel, user_data](const rthub::ChannelRequest& r,
                                                 rthub::ChannelCompletion done) {
        auto* check = new rthub_channel_check{std::move(done), r.channel, r.rights.identity, {}};
        rthub_channel_info& info = check->info;
        info.struct_size = sizeof info;
        info.action =
            r.action == rthub::ChannelRequest::Action::kSubscribe ? RTHUB_SUBSCRIBE : RTHUB_PUBLISH;
        info.channel = check->channel.c_str();
        info.identity = check->identity.c_str();
        info.allowed_by_rules = r.allowed_by_rules ? 1 : 0;
        on_channel(&info, check, user_data);
      };
    }
    hub->hub.set_auth_hooks(std::move(hooks));
  });
}

}  // extern "C"
