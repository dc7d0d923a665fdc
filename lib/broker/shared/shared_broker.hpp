// shared_broker.hpp: one in-memory broker for a hub served by several shards (service threads).
//
// With shards, every shard has its own event loop, sessions and HubCore, but a channel has one
// numbering and one history. SharedBroker keeps them in a single MemoryBroker behind a mutex and
// gives each shard a Broker of its own (shard()). A message published on any shard is handed,
// under that mutex and so in seq order, to the service queue of every shard that has subscribers
// on the channel; each shard gets its own copy of the envelope, because an envelope's frames are
// encoded lazily by the one thread that owns it. Idempotency keys are remembered by that one
// MemoryBroker too, so a repeat is recognised whichever shard it arrives on. Presence is kept
// here as well: one member list per channel for all shards, joins and leaves posted to every shard
// with subscribers of the channel.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "rthub/broker.hpp"

namespace rthub {

class SharedBroker {
 public:
  // Runs a task on a shard's service thread; false once that shard stopped.
  using Post = std::function<bool(std::function<void()>)>;

  // `published` runs once per position assigned (for the hub-wide count), under the lock.
  SharedBroker(size_t history_size, int history_ttl_seconds, size_t shards,
               std::function<void()> published, int idempotency_window_seconds = 300,
               size_t max_keys = 10000);
  ~SharedBroker();

  // The broker shard `index` uses (`post` reaches its service thread). Lives while that shard
  // serves; the SharedBroker outlives every shard's broker.
  std::unique_ptr<Broker> shard(size_t index, Post post);
  // Continues a channel's numbering (MemoryBroker::seed); before any shard serves.
  void seed(const std::string& channel, const Position& position);
  // Restores a channel's keyed state (MemoryBroker::seed_keys); before any shard serves.
  void seed_keys(const std::string& channel, const Position& at, std::vector<Message> items);

 private:
  class ShardBroker;
  class FanOut;
  friend class ShardBroker;
  friend class FanOut;

  std::mutex lock_;
  std::unique_ptr<Broker> inner_;
  std::unique_ptr<FanOut> fan_out_;
  std::function<void()> published_;
  struct Member {
    Post post;                           // empty while the shard is not serving
    BrokerListener* listener = nullptr;  // the shard's core
  };
  std::vector<Member> members_;
  // Which shards have local subscribers of a channel (bit i: shard i).
  std::unordered_map<std::string, uint64_t> interest_;
  // Presence: every shard's members of each channel, client object by session id (ids are
  // unique across shards), each with the shard it is on.
  struct PresenceMember {
    std::string client;
    size_t shard;
  };
  std::unordered_map<std::string, std::map<uint64_t, PresenceMember>> presence_;
  // Tells every shard with subscribers of `channel` that member `id` joined or left.
  void announce_presence(const std::string& channel, const char* op, uint64_t id,
                         const std::string& client);
};

}  // namespace rthub
