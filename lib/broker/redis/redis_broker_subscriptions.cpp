// redis_broker_subscriptions.cpp: the pub/sub link's traffic: batched per-channel
// SUBSCRIBE/UNSUBSCRIBE, and the dispatch of what arrives (records, pings, bridged payloads,
// confirmations).
#include "broker/redis/redis_broker.hpp"

#include <hiredis/async.h>

#include <cstdlib>

#include "broker/redis/record.hpp"
#include "broker/redis/redis_broker_internal.hpp"

namespace rthub {
namespace {

constexpr size_t kChannelsPerCommand = 1000;  // SUBSCRIBE/UNSUBSCRIBE arguments per command
constexpr uint64_t kFlushDelayMs = 2;  // subscription changes wait this long to share a command

}  // namespace

using namespace redis_internal;

std::string redis_internal::channel_of_record_channel(const std::string& name) {
  static const std::string kHead = "rthub:{", kTail = "}:m";
  if (name.size() <= kHead.size() + kTail.size() || name.compare(0, kHead.size(), kHead) != 0 ||
      name.compare(name.size() - kTail.size(), kTail.size(), kTail) != 0)
    return {};
  return name.substr(kHead.size(), name.size() - kHead.size() - kTail.size());
}

void RedisBroker::schedule_flush() {
  // Collected for kFlushDelayMs, then sent in one write: clients arriving together (their
  // requests read over several loop iterations) share a few multi-channel commands.
  if (stopping_ || uv_is_active(reinterpret_cast<uv_handle_t*>(flush_timer_))) return;
  uv_timer_start(
      flush_timer_,
      [](uv_timer_t* t) { static_cast<RedisBroker*>(t->data)->flush_subscriptions(); },
      kFlushDelayMs, 0);
}

void RedisBroker::flush_subscriptions() {
  if (router_) return flush_cluster_subscriptions();
  if (!pubsub_->connected || !pubsub_->ctx || !subscriptions_.has_changes()) return;
  ChannelSubscriptions::Batch batch = subscriptions_.take_batch();
  auto on_message = [](redisAsyncContext* c, void* reply, void*) {
    if (reply) static_cast<Link*>(c->data)->owner->on_pubsub(static_cast<redisReply*>(reply));
  };
  auto send = [&](const char* verb, const std::vector<std::string>& channels) {
    for (size_t from = 0; from < channels.size(); from += kChannelsPerCommand) {
      std::vector<std::string> names{verb};
      for (size_t i = from; i < channels.size() && i < from + kChannelsPerCommand; ++i)
        names.push_back(key(channels[i], "m"));
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      for (const auto& a : names) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      subscribe_commands_.add();
      redisAsyncCommandArgv(pubsub_->ctx, on_message, nullptr, static_cast<int>(argv.size()),
                            argv.data(), lens.data());
    }
  };
  send("SUBSCRIBE", batch.subscribe);
  send("UNSUBSCRIBE", batch.unsubscribe);
}

void RedisBroker::on_subscribed(const std::string& channel) {
  if (!subscriptions_.on_subscribed(channel)) return schedule_flush();
  // Messages flow from now on. What was published between the history read that answered the
  // client and this moment is in the stream: fill it, as a resume does.
  auto it = tracks_.find(channel);
  if (it == tracks_.end() || it->second.epoch.empty()) return;  // the history read covers it
  if (it->second.fetching) {
    it->second.fill_again = true;
    return;
  }
  fetch_gap(channel, it->second.seq + 1);
}

void RedisBroker::on_pubsub(redisReply* r) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
  std::string kind = reply_string(r->element[0]);
  std::string name = reply_string(r->element[1]);
  if (kind == "message") {
    std::string channel = channel_of_record_channel(name);
    if (!channel.empty()) {
      if (presence_->on_payload(channel, reply_string(r->element[2]))) return;
      auto m = redis_record::decode(channel, reply_string(r->element[2]));
      if (!m) return;
      messages_in_.add();
      return on_record(channel, std::move(*m));
    }
    if (name == kPingPrefix + node_id_) {
      uint64_t n = std::strtoull(reply_string(r->element[2]).c_str(), nullptr, 10);
      if (n >= pubsub_->ping_awaited) on_pong(*pubsub_);
      return;
    }
    if (Bridge* b = bridge_of(name)) on_bridged(*b, reply_string(r->element[2]));
  } else if (kind == "subscribe") {
    std::string channel = channel_of_record_channel(name);
    if (!channel.empty()) return on_subscribed(channel);
    if (name == kPingPrefix + node_id_) return on_pong(*pubsub_);
    if (Bridge* b = bridge_of(name)) {
      b->subscribed = true;
      bid_for_lease(*b);  // ready as soon as the lease's holder is known
    }
  } else if (kind == "unsubscribe") {
    std::string channel = channel_of_record_channel(name);
    if (!channel.empty()) {
      subscriptions_.on_unsubscribed(channel);
      schedule_flush();
    }
  }
}

}  // namespace rthub
