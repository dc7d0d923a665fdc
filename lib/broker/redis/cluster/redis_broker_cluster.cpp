// redis_broker_cluster.cpp: the RedisBroker on a Redis Cluster (options.redis_cluster).
//
// A channel's keys share the hash tag {channel}, so each channel lives in one slot: its scripts
// and stream reads go through the ClusterRouter to the slot's master (MOVED/ASK followed, the map
// refreshed on change), its scripts publish records with SPUBLISH, and the ShardedSubscriber
// SSUBSCRIBEs rthub:{channel}:m on that master while the node has subscribers of the channel.
// The two classic links (commands, pubsub) connect to any node (the next one on each attempt):
// they carry the liveness pings, the bridged channels and their leases, which stay classic
// pub/sub because a cluster broadcasts a plain PUBLISH to every node.
//
// A failover: commands for the dead master's slots fail (kUnavailable: publishes answer 503, or
// 504 for a publish whose connection died with it in flight) until the router's map names the
// promoted replica; the subscriber then subscribes there, and the confirmation fills the gap from
// the channel's stream, as after any gap.
#include <hiredis/hiredis.h>

#include "broker/redis/cluster/cluster_commands.hpp"
#include "broker/redis/cluster/cluster_router.hpp"
#include "broker/redis/cluster/sharded_subscriber.hpp"
#include "broker/redis/record.hpp"
#include "broker/redis/redis_broker.hpp"
#include "broker/redis/redis_broker_internal.hpp"

namespace rthub {

using namespace redis_internal;

void RedisBroker::start_cluster() {
  cluster::RouterOptions router_options;
  for (const auto& seed : options_.redis_cluster) {
    auto node = cluster::parse_node_address(seed);
    if (!node || node->host.empty())
      throw Error(Errc::kInvalid, "redis_cluster: seed '" + seed + "' is not host:port");
    router_options.seeds.push_back(*node);
  }
  router_.reset(new cluster::ClusterRouter(loop_, router_options));
  sharded_.reset(new cluster::ShardedSubscriber(
      loop_, *router_, router_options,
      [this](const std::string& name, const std::string& payload) {
        on_sharded_record(name, payload);
      },
      [this](const std::string& name, bool active) { on_sharded_active(name, active); }));
}

bool RedisBroker::cluster_command(const std::vector<std::string>& args,
                                  std::function<void(redisReply*)>& on_reply, bool* sent) {
  std::optional<std::string> key = cluster::routing_key(args);
  if (!key) return false;
  router_->command(*key, args,
                   [sent, on_reply = std::move(on_reply)](const cluster::CommandResult& result) {
                     if (result.status == cluster::CommandResult::Status::kReply) {
                       if (sent) *sent = true;
                       return on_reply(const_cast<redisReply*>(result.reply));
                     }
                     // Not answered: the outcome is unknown only if the command may have run.
                     if (sent) *sent = result.maybe_ran;
                     on_reply(nullptr);
                   });
  return true;
}

void RedisBroker::flush_cluster_subscriptions() {
  if (stopping_ || !subscriptions_.has_changes()) return;
  ChannelSubscriptions::Batch batch = subscriptions_.take_batch();
  // The subscriber sends what is asked in one loop iteration in one write per master (one
  // SSUBSCRIBE per slot, as a command's channels must share one); its confirmations arrive
  // through on_sharded_active.
  for (const auto& channel : batch.subscribe) sharded_->subscribe(key(channel, "m"));
  for (const auto& channel : batch.unsubscribe) {
    sharded_->unsubscribe(key(channel, "m"));  // nothing of it is delivered from now on
    subscriptions_.on_unsubscribed(channel);
  }
  subscribe_commands_.add(batch.subscribe.size() + batch.unsubscribe.size());
  if (subscriptions_.has_changes()) schedule_flush();  // wanted again meanwhile
}

void RedisBroker::on_sharded_record(const std::string& name, const std::string& payload) {
  std::string channel = channel_of_record_channel(name);
  if (channel.empty()) return;
  if (presence_->on_payload(channel, payload)) return;
  auto message = redis_record::decode(channel, payload);
  if (!message) return;
  messages_in_.add();
  on_record(channel, std::move(*message));
}

void RedisBroker::on_sharded_active(const std::string& name, bool active) {
  std::string channel = channel_of_record_channel(name);
  if (channel.empty()) return;
  if (active) return on_subscribed(channel);  // fills what was published meanwhile
  subscriptions_.on_interrupted(channel);
  // The slot may have a new master (a promoted replica): check its history on confirmation.
  auto track = tracks_.find(channel);
  if (track != tracks_.end()) track->second.verify = true;
}

std::pair<std::string, int> RedisBroker::link_target() {
  std::vector<cluster::NodeAddress> nodes;
  if (const cluster::SlotMap* map = router_->map())
    for (const auto& shard : map->shards()) nodes.push_back(shard.master);
  if (nodes.empty())
    for (const auto& seed : options_.redis_cluster)
      if (auto node = cluster::parse_node_address(seed)) nodes.push_back(*node);
  const cluster::NodeAddress& node = nodes[link_turn_++ % nodes.size()];
  return {node.host, node.port};
}

bool RedisBroker::cluster_ready() const {
  return !router_ || router_->ready();
}

void RedisBroker::stop_cluster() {
  if (sharded_) sharded_->stop();
  if (router_) router_->stop();
}

void RedisBroker::render_cluster_metrics(std::string& out) const {
  if (!router_) return;
  const cluster::ClusterRouter::Stats& stats = router_->stats();
  auto line = [&](const char* name, const char* type, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + std::to_string(v) + "\n";
  };
  line("rthub_broker_cluster_redirects_total", "counter",
       "MOVED and ASK redirections followed on the Redis Cluster.", stats.moved + stats.asked);
  line("rthub_broker_cluster_map_changes_total", "counter",
       "Slot map discoveries that changed a slot's master (resharding, failover).",
       stats.map_changes);
  line("rthub_broker_cluster_connection_losses_total", "counter",
       "Connections to cluster nodes lost or dropped as unresponsive.", stats.connection_losses);
}

}  // namespace rthub
