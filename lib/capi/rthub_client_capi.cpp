// rthub_client_capi.cpp: the C ABI of the reconnecting client over rthub::Client. Every entry
// point checks its handle and arguments, and no exception crosses into C.
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "rthub/client.hpp"
#include "rthub/rthub.h"

#include "capi/guard.hpp"
#include "capi/sized_struct.hpp"

struct rthub_client {
  rthub_client_event_fn on_event = nullptr;
  void* user_data = nullptr;
  // The polled event that rthub_client_next_event handed out last, and its C view.
  rthub::ClientEvent polled;
  rthub_client_event polled_view{};
  // Last: destroyed first, so the client's thread is gone before the rest.
  std::unique_ptr<rthub::Client> client;
};

namespace {

using rthub::capi::fail;
using rthub::capi::guarded;

using ClientOptionsLayout =
    rthub::capi::Layout<rthub_client_options,
                        RTHUB_KNOWN_BYTES(rthub_client_options, sse_silence_ms)>;

rthub_client_options default_client_options() {
  rthub::ClientOptions d;
  rthub_client_options o = ClientOptionsLayout::zeroed();
  o.backoff_base_ms = d.backoff_base_ms;
  o.backoff_cap_ms = d.backoff_cap_ms;
  o.max_attempts = d.max_attempts;
  o.heartbeat_seconds = d.heartbeat_seconds;
  o.watchdog_ms = d.watchdog_ms;
  o.handshake_timeout_ms = d.handshake_timeout_ms;
  o.websocket_retry_ms = d.websocket_retry_ms;
  o.max_pending_events = d.max_pending_events;
  o.sse_silence_ms = d.sse_silence_ms;
  return o;
}

rthub_client_state to_c(rthub::ClientState state) {
  return static_cast<rthub_client_state>(state);
}
rthub_transport to_c(rthub::ClientTransport transport) {
  return static_cast<rthub_transport>(transport);
}

// A C view of `e`; its strings point into `e`.
void view_of(const rthub::ClientEvent& e, rthub_client_event& out) {
  std::memset(&out, 0, sizeof out);
  out.struct_size = sizeof out;
  out.kind = static_cast<rthub_client_event_kind>(e.kind);
  out.channel = e.channel.c_str();
  out.channel_len = e.channel.size();
  out.epoch = e.position.epoch.c_str();
  out.epoch_len = e.position.epoch.size();
  out.seq = e.position.seq;
  out.type = e.type.c_str();
  out.type_len = e.type.size();
  out.data = e.data.c_str();
  out.data_len = e.data.size();
  out.ts_ms = e.ts_ms;
  out.recovered = e.recovered ? (*e.recovered ? 1 : 0) : -1;
  out.state = to_c(e.state);
  out.transport = to_c(e.transport);
  out.reason = e.reason.c_str();
  out.reason_len = e.reason.size();
  out.attempt = e.attempt;
  out.retry_in_ms = e.retry_in_ms;
  out.code = e.code.c_str();
  out.code_len = e.code.size();
  out.message = e.message.c_str();
  out.message_len = e.message.size();
  out.request_id = e.request_id;
  out.key = e.key.c_str();
  out.key_len = e.key.size();
  out.deleted = e.deleted ? 1 : 0;
  out.count = e.kind == rthub::ClientEvent::Kind::kSnapshot ? e.items.size() : e.clients.size();
}

// The C++ options of a host's struct, read with read_sized (any version). The C++ Client checks
// the values; here only what C alone can get wrong (NULL pointers).
rthub::ClientOptions to_options(const rthub_client_options& o) {
  rthub::ClientOptions out;
  if (!o.url) throw rthub::Error(rthub::Errc::kInvalid, "options->url is NULL");
  out.url = o.url;
  if (o.channel_count && !o.channels)
    throw rthub::Error(rthub::Errc::kInvalid, "options->channels is NULL");
  for (size_t i = 0; i < o.channel_count; ++i) {
    if (!o.channels[i])
      throw rthub::Error(rthub::Errc::kInvalid, "options->channels has a NULL entry");
    out.channels.emplace_back(o.channels[i]);
  }
  if (o.token) out.token = o.token;
  if (o.publish_key) out.publish_key = o.publish_key;
  out.sse_only = o.sse_only != 0;
  out.backoff_base_ms = o.backoff_base_ms;
  out.backoff_cap_ms = o.backoff_cap_ms;
  out.max_attempts = o.max_attempts;
  out.heartbeat_seconds = o.heartbeat_seconds;
  out.watchdog_ms = o.watchdog_ms;
  out.handshake_timeout_ms = o.handshake_timeout_ms;
  out.websocket_retry_ms = o.websocket_retry_ms;
  if (o.ca_file) out.ca_file = o.ca_file;
  out.insecure_skip_verify_for_tests = o.insecure_skip_verify_for_tests != 0;
  out.max_pending_events = o.max_pending_events;
  out.snapshot = o.snapshot != 0;
  out.presence = o.presence != 0;
  out.poll_only = o.poll_only != 0;
  out.sse_silence_ms = o.sse_silence_ms;
  return out;
}

}  // namespace

extern "C" {

rthub_err rthub_client_options_init(rthub_client_options* options, size_t struct_size) {
  return ClientOptionsLayout::init(options, struct_size, default_client_options(), "options");
}

rthub_err rthub_client_new(const rthub_client_options* options, rthub_client** out) {
  if (!out) return fail(RTHUB_ERR_INVALID, "out is NULL");
  *out = nullptr;
  if (!options) return fail(RTHUB_ERR_INVALID, "options is NULL: the url is required");
  return guarded([&] {
    rthub_client_options c = default_client_options();
    ClientOptionsLayout::read(options, c, "options");
    rthub::ClientOptions o = to_options(c);
    rthub_client* handle = new (std::nothrow) rthub_client();
    if (!handle) throw std::bad_alloc();
    handle->on_event = c.on_event;
    handle->user_data = c.user_data;
    if (handle->on_event) {
      rthub_client_event_fn fn = handle->on_event;
      void* user_data = handle->user_data;
      o.on_event = [fn, user_data](const rthub::ClientEvent& e) {
        rthub_client_event view;
        view_of(e, view);
        fn(&view, user_data);
      };
    }
    try {
      handle->client.reset(new rthub::Client(std::move(o)));
    } catch (...) {
      delete handle;
      throw;
    }
    *out = handle;
  });
}

rthub_err rthub_client_start(rthub_client* client) {
  if (!client) return fail(RTHUB_ERR_INVALID, "client is NULL");
  return guarded([&] { client->client->start(); });
}

rthub_err rthub_client_stop(rthub_client* client) {
  if (!client) return fail(RTHUB_ERR_INVALID, "client is NULL");
  return guarded([&] { client->client->stop(); });
}

void rthub_client_free(rthub_client* client) {
  if (!client) return;
  guarded([&] { client->client->stop(); });
  delete client;
}

rthub_err rthub_client_subscribe(rthub_client* client, const char* channel,
                                 const rthub_position* since) {
  if (!client) return fail(RTHUB_ERR_INVALID, "client is NULL");
  if (!channel) return fail(RTHUB_ERR_INVALID, "channel is NULL");
  return guarded([&] {
    std::optional<rthub::Position> position;
    if (since)
      position = rthub::Position{
          std::string(since->epoch, strnlen(since->epoch, sizeof since->epoch)), since->seq};
    client->client->subscribe(channel, position);
  });
}

rthub_err rthub_client_subscribe_with(rthub_client* client, const char* channel,
                                      const rthub_position* since, uint32_t flags) {
  if (!client) return fail(RTHUB_ERR_INVALID, "client is NULL");
  if (!channel) return fail(RTHUB_ERR_INVALID, "channel is NULL");
  if (flags & ~(RTHUB_SUBSCRIBE_SNAPSHOT | RTHUB_SUBSCRIBE_PRESENCE))
    return fail(RTHUB_ERR_INVALID, "unknown subscribe flags");
  return guarded([&] {
    rthub::SubscribeOptions options;
    if (since)
      options.since = rthub::Position{
          std::string(since->epoch, strnlen(since->epoch, sizeof since->epoch)), since->seq};
    options.snapshot = (flags & RTHUB_SUBSCRIBE_SNAPSHOT) != 0;
    options.presence = (flags & RTHUB_SUBSCRIBE_PRESENCE) != 0;
    client->client->subscribe(channel, options);
  });
}

rthub_err rthub_client_presence(rthub_client* client, const char* channel, uint64_t* request_id) {
  if (request_id) *request_id = 0;
  if (!client) return fail(RTHUB_ERR_INVALID, "client is NULL");
  if (!channel) return fail(RTHUB_ERR_INVALID, "channel is NULL");
  return guarded([&] {
    uint64_t id = client->client->presence(channel);
    if (request_id) *request_id = id;
  });
}

rthub_err rthub_client_unsubscribe(rthub_client* client, const char* channel) {
  if (!client) return fail(RTHUB_ERR_INVALID, "client is NULL");
  if (!channel) return fail(RTHUB_ERR_INVALID, "channel is NULL");
  return guarded([&] { client->client->unsubscribe(channel); });
}

rthub_err rthub_client_publish(rthub_client* client, const char* channel, const char* type,
                               const char* data, size_t data_len, uint64_t* request_id) {
  if (request_id) *request_id = 0;
  if (!client) return fail(RTHUB_ERR_INVALID, "client is NULL");
  if (!channel) return fail(RTHUB_ERR_INVALID, "channel is NULL");
  if (!data) return fail(RTHUB_ERR_INVALID, "data is NULL");
  return guarded([&] {
    uint64_t id =
        client->client->publish(channel, type ? type : "message", std::string(data, data_len));
    if (request_id) *request_id = id;
  });
}

rthub_err rthub_client_publish_keyed(rthub_client* client, const char* channel, const char* type,
                                     const char* data, size_t data_len, const char* key,
                                     uint32_t flags, uint64_t* request_id) {
  if (request_id) *request_id = 0;
  if (!client) return fail(RTHUB_ERR_INVALID, "client is NULL");
  if (!channel) return fail(RTHUB_ERR_INVALID, "channel is NULL");
  if (!key || !*key) return fail(RTHUB_ERR_INVALID, "key is NULL or empty");
  if (flags & ~RTHUB_PUBLISH_DELETE_KEY) return fail(RTHUB_ERR_INVALID, "unknown publish flags");
  bool deletes = (flags & RTHUB_PUBLISH_DELETE_KEY) != 0;
  if (!data && !deletes) return fail(RTHUB_ERR_INVALID, "data is NULL");
  return guarded([&] {
    rthub::ClientPublishOptions options;
    options.key = key;
    options.delete_key = deletes;
    uint64_t id =
        client->client->publish(channel, type ? type : "message",
                                data ? std::string(data, data_len) : std::string(), options);
    if (request_id) *request_id = id;
  });
}

rthub_err rthub_client_next_event(rthub_client* client, int timeout_ms,
                                  const rthub_client_event** event) {
  if (event) *event = nullptr;
  if (!client) return fail(RTHUB_ERR_INVALID, "client is NULL");
  if (!event) return fail(RTHUB_ERR_INVALID, "event is NULL");
  if (client->on_event) return fail(RTHUB_ERR_STATE, "events go to on_event: nothing to poll");
  bool got = false;
  rthub_err err = guarded([&] { got = client->client->next_event(client->polled, timeout_ms); });
  if (err != RTHUB_OK) return err;
  if (!got) return fail(RTHUB_ERR_TIMEOUT, "no event within the timeout");
  view_of(client->polled, client->polled_view);
  *event = &client->polled_view;
  return RTHUB_OK;
}

int rthub_client_fd(const rthub_client* client) {
  if (!client || client->on_event) return -1;
  return client->client->event_fd();
}

rthub_err rthub_client_get_counters(const rthub_client* client, rthub_client_counters* out) {
  if (!client || !out) return fail(RTHUB_ERR_INVALID, "client or out is NULL");
  return guarded([&] {
    rthub::ClientStats s = client->client->stats();
    rthub_client_counters full;
    std::memset(&full, 0, sizeof full);
    full.struct_size = out->struct_size;
    full.connects = s.connects;
    full.reconnects = s.reconnects;
    full.fallbacks = s.fallbacks;
    full.messages = s.messages;
    full.duplicates_dropped = s.duplicates_dropped;
    full.resets = s.resets;
    full.watchdog_timeouts = s.watchdog_timeouts;
    full.snapshots = s.snapshots;
    rthub::capi::write_sized(full, out, "out");
  });
}

const char* rthub_client_state_name(rthub_client_state state) {
  return rthub::to_string(static_cast<rthub::ClientState>(state));
}

const char* rthub_transport_name(rthub_transport transport) {
  return rthub::to_string(static_cast<rthub::ClientTransport>(transport));
}

}  // extern "C"
