#include "client/client_options_check.hpp"

#include <string>

#include "client/endpoint.hpp"
#include "core/channel_name.hpp"

namespace rthub::client {
namespace {

[[noreturn]] void invalid(const std::string& what) {
  throw Error(Errc::kInvalid, what);
}

}  // namespace

ClientOptions validate_client_options(ClientOptions o) {
  std::string error;
  if (!parse_endpoint(o.url, error)) invalid(error);
  if (o.backoff_base_ms == 0) invalid("backoff_base_ms must be positive");
  if (o.backoff_cap_ms < o.backoff_base_ms)
    invalid("backoff_cap_ms must be at least backoff_base_ms");
  if (o.heartbeat_seconds <= 0) invalid("heartbeat_seconds must be positive");
  if (o.watchdog_ms < 0) invalid("watchdog_ms must not be negative");
  if (o.handshake_timeout_ms <= 0) invalid("handshake_timeout_ms must be positive");
  if (o.websocket_retry_ms <= 0) invalid("websocket_retry_ms must be positive");
  if (o.sse_silence_ms <= 0) invalid("sse_silence_ms must be positive");
  if (o.sse_only && o.poll_only) invalid("sse_only and poll_only exclude each other");
  if (o.max_pending_events == 0) invalid("max_pending_events must be positive");
  for (const auto& channel : o.channels) check_channel_name(channel);
  return o;
}

}  // namespace rthub::client
