// slot_map.hpp: which master serves each of the 16384 hash slots, and its replicas.
//
// Built from a `CLUSTER SLOTS` reply (Redis 3.0 and later; Redis 7 adds a fourth, metadata,
// element to each node, which is read past), or from `CLUSTER SHARDS` (Redis 7), which also
// tells each node's health. A map is a snapshot: the router replaces it after
// each discovery, and patches one slot after a MOVED redirection until the next discovery.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker/redis/cluster/node_address.hpp"

struct redisReply;

namespace rthub::cluster {

struct Shard {
  NodeAddress master;
  std::vector<NodeAddress> replicas;
};

class SlotMap {
 public:
  /* SlotMap starts with no slot covered. */
  SlotMap();

  /* from_cluster_slots reads a CLUSTER SLOTS reply given by the node at asked_host (a node's
     empty host means that host). Returns nothing, with why in *error, for anything that is not
     a well-formed reply: an error reply, a range out of 0..16383 or reversed, a node without
     host and port, a node whose endpoint is unknown ("?"). */
  static std::optional<SlotMap> from_cluster_slots(const redisReply* reply,
                                                   const std::string& asked_host,
                                                   std::string* error);

  /* from_cluster_shards reads a CLUSTER SHARDS reply (Redis 7 and later) given by the node at
     asked_host. A shard's master is its node with role "master" and health "online"; a shard
     whose master failed leaves its slots uncovered until a replica is promoted. Replicas are the
     online nodes with role "replica". Returns nothing, with why in *error, as above. */
  static std::optional<SlotMap> from_cluster_shards(const redisReply* reply,
                                                    const std::string& asked_host,
                                                    std::string* error);

  /* shard_of returns the shard serving slot, or nullptr when no shard covers it. The pointer
     stays valid until the map is changed or replaced. */
  const Shard* shard_of(uint16_t slot) const;

  /* covered_slots returns how many slots have a master (16384 on a healthy cluster). */
  size_t covered_slots() const;

  /* shards returns every shard seen, in the order first seen (after move_slot, a shard may serve
     no slot until the next discovery replaces the map). */
  const std::vector<Shard>& shards() const { return shards_; }

  /* move_slot records that master now serves slot (a MOVED answer), adding a shard for a master
     not yet known. */
  void move_slot(uint16_t slot, const NodeAddress& master);

  /* same_masters tells whether every slot has the same master in both maps. */
  bool same_masters(const SlotMap& other) const;

 private:
  size_t shard_index(const NodeAddress& master);

  std::vector<Shard> shards_;
  std::vector<int32_t> owner_;  // slot -> index into shards_, or -1
};

}  // namespace rthub::cluster
