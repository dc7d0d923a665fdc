#include "core/options_check.hpp"

#include <cmath>
#include <string>

#include "core/channel_name.hpp"
#include "core/utf8.hpp"

namespace rthub {
namespace {

constexpr int kMaxShards = 64;

[[noreturn]] void invalid(const std::string& what) {
  throw Error(Errc::kInvalid, what);
}

void check_positive(long long value, const char* name) {
  if (value <= 0) invalid(std::string(name) + " must be positive");
}

void check_not_negative(long long value, const char* name) {
  if (value < 0) invalid(std::string(name) + " must not be negative");
}

// "host:port" with a port 1-65535; an IPv6 host in brackets ("[::1]:7000").
bool is_host_port(const std::string& seed) {
  size_t colon = seed.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == seed.size()) return false;
  std::string host = seed.substr(0, colon);
  if (host.find(':') != std::string::npos && (host.front() != '[' || host.back() != ']'))
    return false;
  long port = 0;
  for (size_t i = colon + 1; i < seed.size(); ++i) {
    if (seed[i] < '0' || seed[i] > '9') return false;
    port = port * 10 + (seed[i] - '0');
    if (port > 65535) return false;
  }
  return port > 0;
}

// A channel name, or a prefix of one ending in '*' ("*" alone: every channel).
bool is_channel_pattern(const std::string& pattern) {
  if (pattern == "*") return true;
  if (!pattern.empty() && pattern.back() == '*')
    return is_valid_channel_name(std::string_view(pattern).substr(0, pattern.size() - 1));
  return is_valid_channel_name(pattern);
}

}  // namespace

HubOptions checked_hub_options(HubOptions o) {
  if (o.listen_host.empty()) invalid("listen_host is empty");
  if (o.port < 0 || o.port > 65535) invalid("port must be 0 to 65535");
  check_positive(o.history_ttl_seconds, "history_ttl_seconds");
  check_positive(o.heartbeat_seconds, "heartbeat_seconds");
  check_positive(static_cast<long long>(o.max_message_bytes), "max_message_bytes");
  check_positive(static_cast<long long>(o.max_queue_bytes), "max_queue_bytes");
  check_not_negative(o.sse_retry_ms, "sse_retry_ms");
  check_positive(o.poll_timeout_seconds, "poll_timeout_seconds");
  if (o.shards < 1 || o.shards > kMaxShards) invalid("shards must be 1 to 64");
  if (!std::isfinite(o.max_connect_rate) || o.max_connect_rate < 0)
    invalid("max_connect_rate must be a finite number, 0 or more");
  if (o.tls_cert.empty() != o.tls_key.empty())
    invalid("tls_cert and tls_key go together: set both or neither");
  for (const auto& channel : o.bridge_channels)
    if (!is_valid_channel_name(channel))
      invalid("bridge_channels: " + bad_channel_name_text(channel));
  for (const auto& seed : o.redis_cluster)
    if (!is_host_port(seed))
      invalid("redis_cluster: seed '" + seed + "' is not host:port (port 1-65535)");
  check_positive(o.idempotency_window_seconds, "idempotency_window_seconds");
  check_not_negative(o.persist_ttl_seconds, "persist_ttl_seconds");
  for (const auto& pattern : o.persist_patterns)
    if (!is_channel_pattern(pattern))
      invalid("persist_patterns: '" + pattern +
              "' is neither a channel name nor a prefix ending in '*'");
  if (o.postgres_conninfo.empty() && !o.persist_patterns.empty())
    invalid("persist_patterns needs postgres_conninfo");
  return o;
}

void check_publish_options(const PublishOptions& options) {
  if (options.idempotency_key.size() > kMaxIdempotencyKeyBytes)
    invalid("idempotency_key is over 128 bytes");
  if (!is_valid_utf8(options.idempotency_key)) invalid("idempotency_key is not valid UTF-8");
  if (options.key.size() > json::kMaxKeyBytes) invalid("key is over 256 bytes");
  if (!is_valid_utf8(options.key)) invalid("key is not valid UTF-8");
  if (options.delete_key && options.key.empty()) invalid("delete_key needs a key");
}

}  // namespace rthub
