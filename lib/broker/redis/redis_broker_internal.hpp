// redis_broker_internal.hpp: what the RedisBroker's source files share (the Link, clocks, reply
// reading, the scripts by index). Private to lib/broker/redis/redis_broker*.cpp.
#pragma once

#include <hiredis/hiredis.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "broker/redis/redis_broker.hpp"
#include "broker/redis/scripts.hpp"

namespace rthub {
namespace redis_internal {

constexpr const char* kNotLeaseHolder = "not the ingest lease holder";
constexpr const char* kPingPrefix =
    "rthub:ping:";  // + node id: the pub/sub link's own ping channel

inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
inline int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
inline int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "rthub:{<channel>}:m" -> channel; empty for any other name (redis_broker_subscriptions.cpp).
std::string channel_of_record_channel(const std::string& name);

// By RedisBroker::Script.
inline const char* script_body(int index) {
  static const char* const kBodies[] = {redis_scripts::kPublish, redis_scripts::kRead,
                                        redis_scripts::kLease, redis_scripts::kVerify};
  return kBodies[index];
}
constexpr int kScriptCount = 4;

inline std::string reply_string(const redisReply* r) {
  if (!r) return {};
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
      r->type == REDIS_REPLY_ERROR)
    return std::string(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  return {};
}

}  // namespace redis_internal

struct RedisBroker::Link {
  RedisBroker* owner;
  bool pubsub;
  redisAsyncContext* ctx = nullptr;
  bool connected = false;
  int64_t connecting_since_ms = 0;
  int attempt = 0;
  uv_timer_t retry{};
  // Liveness: `healthy` once the link answered since it connected, and while no ping is missed.
  bool healthy = false;
  bool answered = false;  // some ping (or the confirmation) was answered since the link connected
  // pub/sub link: its ping channel's SUBSCRIBE is not confirmed yet (no ping is sent before),
  // for this many ticks.
  bool confirming = false;
  int confirm_ticks = 0;
  bool ping_waiting = false;
  int misses = 0;
  uint64_t ping_awaited = 0;  // pub/sub link: the ping counter that answers
  // Why the link was dropped on purpose (liveness), for the log line of its loss; and whether
  // that loss was logged, so a long outage logs one line, not one per reconnect attempt.
  const char* drop_reason = nullptr;
  bool reported_down = false;
};

}  // namespace rthub
