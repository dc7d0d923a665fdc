// redis_presence.hpp: presence across hub nodes through Redis.
//
// Per channel a hash rthub:{<channel>}:presence (the channel's hash tag: one slot, so it works on
// Redis Cluster too) holds every node's members: field = the connection id (unique in the whole
// deployment: each node numbers its connections under a random prefix), value = "<node id>
// <client object>". Each node keeps a liveness key rthub:node:<node id>:alive with a TTL of
// kLivenessTtlMs, renewed at every broker tick (once a second). Joins and leaves are published on
// the channel's record channel rthub:{<channel>}:m as "!p join|leave <id> <client>", so every
// node with subscribers of the channel hears them in order with its messages.
//
// A node killed with -9 leaves its members in the hashes: the surviving nodes sweep, at each tick,
// the channels they have presence subscribers on, and a member whose node's liveness key is gone is
// removed (HDEL) and announced as left by the node whose HDEL removed it (only one can). A node
// whose own liveness key lapsed (a stalled loop, a Redis restart) writes its members back and
// announces them; the same sweep repairs this node's own entries after writes Redis did not answer.
//
// A member is only written while this node's liveness key is known to exist (a SET or PEXPIRE
// answered it): a member written before its node's key would be taken by the other nodes' sweeps
// for a dead node's (a leave, then a join again). On Redis Cluster the key and the hash lie in
// different slots, so sending the SET first is not enough: the writes wait for its answer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

struct redisReply;

namespace rthub {

class RedisPresence {
 public:
  // The liveness key's lifetime: two ticks, so one late tick does not declare a node dead. A node
  // killed with -9 renewed its key at most one tick before; the key expires at most
  // kLivenessTtlMs later, and the next sweep (one tick) removes its members: three ticks in all.
  static constexpr int64_t kLivenessTtlMs = 2000;

  // Sends one command (routed by its key on a cluster); on_reply gets null without an answer.
  using Command =
      std::function<void(std::vector<std::string> args, std::function<void(redisReply*)> on_reply)>;
  // A join or leave heard from any node (this one included).
  using Tell = std::function<void(const std::string& channel, const char* op, uint64_t id,
                                  const std::string& client)>;

  // `sharded`: Redis Cluster, where a channel's records go by SPUBLISH.
  RedisPresence(std::string node_id, bool sharded, Command command, Tell tell);

  // `watching`: the member asked for presence events; only channels with such members here are
  // swept (the others' members are still listed, and repaired by the nodes that watch them).
  void join(const std::string& channel, uint64_t id, const std::string& client, bool watching);
  void leave(const std::string& channel, uint64_t id, const std::string& client);
  // The live members of `channel`, by id; members of dead nodes are removed on the way.
  void clients(const std::string& channel, std::function<void(const std::string*)> done);
  // A payload on the channel's record channel: true when it was a presence event (handled).
  bool on_payload(const std::string& channel, const std::string& payload);
  // Once a second: renews this node's liveness and sweeps the channels it has presence
  // subscribers on.
  void tick();
  // The commands link was lost: Redis may have restarted empty, so the liveness key is unknown
  // until a SET answers again, and then every member of this node is written back.
  void liveness_unknown();

 private:
  std::string hash_key(const std::string& channel) const;
  std::string alive_key(const std::string& node) const;
  void announce(const std::string& channel, const char* op, uint64_t id, const std::string& client);
  // Removes a member (a dead node's, or one of this node's that left without a confirmed HDEL);
  // announces its leave when this node's HDEL removed it (only one node's can).
  void remove_member(const std::string& channel, const std::string& field,
                     const std::string& client);
  // Writes one of this node's members back if the hash lacks it, announcing it when it did.
  void rejoin(const std::string& channel, uint64_t id, const std::string& client);
  // Writes a member (HSET) and announces its join.
  void write_member(const std::string& channel, uint64_t id, const std::string& client);
  // Sets the liveness key (one SET at a time); once answered, writes the members that waited.
  void confirm_liveness();

  std::string node_id_;
  bool sharded_;
  Command command_;
  Tell tell_;
  // This node's members: channel -> id -> client object.
  std::unordered_map<std::string, std::map<uint64_t, std::string>> local_;
  // Channels whose last member here left without a confirmed HDEL: swept until one confirms.
  std::unordered_set<std::string> unsure_;
  // Whether this node's liveness key is known to exist (see the top of this file).
  bool liveness_known_ = false;
  bool confirming_ = false;  // a SET of the liveness key is unanswered
  // Members to write once the liveness key is known: joined meanwhile, by channel; and whether
  // all of local_ must be written back (HSETNX) then.
  std::unordered_map<std::string, std::set<uint64_t>> unwritten_;
  bool rewrite_all_ = false;
  // Of local_, the ids that asked for presence events, by channel: the channels swept.
  std::unordered_map<std::string, std::set<uint64_t>> watching_;
  // Owned by the broker: the weak_ptr in callbacks tells when it is gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace rthub
