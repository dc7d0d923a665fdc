// cluster_router.hpp: sends each command to the Redis Cluster master that owns its key.
//
// hiredis 0.14 has no cluster client; this is the small part rthub needs, over hiredis' async API
// on the caller's libuv loop (one connection per node, made on first use). The router discovers
// the slot map with CLUSTER SLOTS from the seeds (then from the known nodes), sends a command to
// the master of its key's slot, follows MOVED (patching the map and asking for a fresh one) and
// ASK (ASKING then the command, once, on the target), and rediscovers the map when a connection
// is lost, when a node says CLUSTERDOWN, and every refresh_interval_ms.
//
// A command never is retried after its connection was lost: it may have run, so the caller gets
// kUnavailable (a publish fails loudly and the publisher may retry). During a failover, commands
// for the dead master's slots fail that way until a replica is promoted and discovery sees it;
// the router rediscovers every kFailoverPollMs while a master of its map is unreachable.
//
// Thread safety: none. Every call, and every callback, happens on the loop's thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/redis/cluster/node_address.hpp"
#include "broker/redis/cluster/redirect.hpp"
#include "broker/redis/cluster/slot_map.hpp"

struct redisAsyncContext;
struct redisReply;
typedef struct uv_loop_s uv_loop_t;
typedef struct uv_timer_s uv_timer_t;

namespace rthub::cluster {

struct RouterOptions {
  std::vector<NodeAddress> seeds;
  std::string user, password;      // AUTH on every connection when password is set
  int connect_timeout_ms = 1000;   // a connect not done by then is abandoned (a silent host)
  int reply_timeout_ms = 3000;     // a node that answers nothing for this long is dropped
  int refresh_interval_ms = 5000;  // rediscovery even when nothing went wrong
  int max_redirects = 5;           // more MOVED/ASK than this for one command: kRedirectLoop
};

struct CommandResult {
  enum class Status {
    kReply,         // the node answered; reply may be an error reply (not a redirection)
    kUnavailable,   // no map yet, slot not served, connection lost or refused, CLUSTERDOWN
    kRedirectLoop,  // redirected more than max_redirects times
    kStopped,       // the router stopped before an answer came
    kInvalid,       // nothing to send (no arguments)
  };
  Status status;
  const redisReply* reply = nullptr;  // kReply only; valid during the callback only
  std::string error;                  // why, for every status but kReply
  NodeAddress node;                   // the node last asked
  // kUnavailable only: the connection was lost (or dropped as hung) after the command may have
  // been written, so it may have run; otherwise it surely did not.
  bool maybe_ran = false;
};

class ClusterRouter {
 public:
  using Done = std::function<void(const CommandResult&)>;

  /* ClusterRouter starts discovering from options.seeds at once. loop must outlive the router. */
  ClusterRouter(uv_loop_t* loop, RouterOptions options);
  /* ~ClusterRouter stops (see stop); the loop must still run afterwards to close handles. */
  ~ClusterRouter();

  /* command sends args to the master of key's slot; done is called exactly once, on the loop,
     never from inside this call (but at once with kStopped after stop). Commands made before
     the first map wait for it. */
  void command(std::string_view key, std::vector<std::string> args, Done done);

  /* command_at sends args to node (whatever the map says), following redirections like
     command(): for diagnostics and tests of redirection. */
  void command_at(const NodeAddress& node, std::vector<std::string> args, Done done);

  /* apply_redirect records a MOVED seen elsewhere (the sharded subscriber's) and asks for a new
     map; an ASK only asks for a new map. */
  void apply_redirect(const Redirect& redirect);

  /* refresh asks for a rediscovery soon (at most one each kMinDiscoveryGapMs). */
  void refresh();

  /* map returns the current map, or nullptr before the first discovery. */
  const SlotMap* map() const { return map_ ? &*map_ : nullptr; }

  /* ready tells whether a map covering every slot is known. */
  bool ready() const { return map_ && map_->covered_slots() == kSlotCountCovered; }

  /* add_map_listener adds a listener, called after each discovery that changed a slot's master;
     returns its id for remove_map_listener. */
  int add_map_listener(std::function<void()> listener) {
    map_listeners_.emplace(++last_listener_id_, std::move(listener));
    return last_listener_id_;
  }
  void remove_map_listener(int id) { map_listeners_.erase(id); }

  /* stop closes every connection: commands in flight complete with kStopped, later ones too. */
  void stop();

  struct Stats {
    uint64_t moved = 0, asked = 0, discoveries = 0, failed_discoveries = 0, map_changes = 0,
             connection_losses = 0;
  };
  const Stats& stats() const { return stats_; }

  static constexpr int kMinDiscoveryGapMs = 100;
  static constexpr int kFailoverPollMs = 200;

  struct Link;     // one hiredis connection to one node
  struct Pending;  // one command until its final answer

 private:
  static constexpr size_t kSlotCountCovered = 16384;

  Link* link_to(const NodeAddress& node);
  void drop_link(Link* link, const char* why);
  void send(std::unique_ptr<Pending> pending, const NodeAddress& node, bool asking);
  void on_reply(Link* link, redisReply* reply, std::unique_ptr<Pending> pending);
  void finish(std::unique_ptr<Pending> pending, CommandResult result);
  void finish_later(std::unique_ptr<Pending> pending, CommandResult result);
  void route(std::unique_ptr<Pending> pending);
  void discover();
  void try_discovery_candidate();
  void on_discovered(SlotMap map);
  void on_tick();
  bool unreachable(const NodeAddress& node) const;

  uv_loop_t* loop_;
  RouterOptions options_;
  uv_timer_t* timer_ = nullptr;
  uv_timer_t* soon_ = nullptr;  // runs finish_later's results on the next loop iteration
  std::deque<std::pair<std::unique_ptr<Pending>, CommandResult>> deferred_;
  bool stopping_ = false;
  std::optional<SlotMap> map_;
  std::unordered_map<std::string, std::unique_ptr<Link>> links_;  // by "host:port"
  std::unordered_map<std::string, int64_t> down_since_ms_;        // nodes that failed lately
  std::deque<std::unique_ptr<Pending>> waiting_;                  // before the first map
  std::map<int, std::function<void()>> map_listeners_;
  int last_listener_id_ = 0;

  // Discovery: one at a time, through a list of candidates until one answers.
  bool discovering_ = false;
  std::vector<NodeAddress> candidates_;
  size_t candidate_ = 0;
  int64_t discovery_due_ms_ = 0;  // 0: none asked for
  int64_t last_discovery_ms_ = 0;
  Stats stats_;
};

}  // namespace rthub::cluster
