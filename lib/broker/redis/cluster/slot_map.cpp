#include "broker/redis/cluster/slot_map.hpp"

#include <hiredis/hiredis.h>

#include "broker/redis/cluster/key_slot.hpp"

namespace rthub::cluster {
namespace {

bool is_integer(const redisReply* r) {
  return r && r->type == REDIS_REPLY_INTEGER;
}

// One node of a range: [host, port, id?, metadata?]. Only host and port matter for routing.
std::optional<NodeAddress> read_node(const redisReply* r, const std::string& asked_host,
                                     std::string* error) {
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
      r->element[0]->type != REDIS_REPLY_STRING || !is_integer(r->element[1])) {
    *error = "a node entry is not [host, port, ...]";
    return std::nullopt;
  }
  std::string host(r->element[0]->str, r->element[0]->len);
  long long port = r->element[1]->integer;
  if (port < 1 || port > 65535) {
    *error = "node port out of range: " + std::to_string(port);
    return std::nullopt;
  }
  // "?" is an unknown endpoint (cluster-preferred-endpoint-type unknown-endpoint): unreachable.
  if (host == "?") {
    *error = "a node's endpoint is unknown (\"?\")";
    return std::nullopt;
  }
  if (host.empty()) host = asked_host;
  return NodeAddress{host, static_cast<int>(port)};
}

}  // namespace

SlotMap::SlotMap() : owner_(kSlotCount, -1) {}

std::optional<SlotMap> SlotMap::from_cluster_slots(const redisReply* reply,
                                                   const std::string& asked_host,
                                                   std::string* error) {
  std::string why;
  auto fail = [&](std::string text) -> std::optional<SlotMap> {
    if (error) *error = "CLUSTER SLOTS: " + text;
    return std::nullopt;
  };
  if (!reply) return fail("no reply");
  if (reply->type == REDIS_REPLY_ERROR) return fail(std::string(reply->str, reply->len));
  if (reply->type != REDIS_REPLY_ARRAY) return fail("the reply is not an array");
  SlotMap map;
  for (size_t i = 0; i < reply->elements; ++i) {
    const redisReply* range = reply->element[i];
    if (!range || range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
        !is_integer(range->element[0]) || !is_integer(range->element[1]))
      return fail("a range is not [first, last, master, replicas...]");
    long long first = range->element[0]->integer, last = range->element[1]->integer;
    if (first < 0 || last >= kSlotCount || first > last)
      return fail("slot range " + std::to_string(first) + "-" + std::to_string(last) +
                  " out of 0-16383");
    auto master = read_node(range->element[2], asked_host, &why);
    if (!master) return fail(why);
    size_t index = map.shard_index(*master);
    for (size_t r = 3; r < range->elements; ++r) {
      auto replica = read_node(range->element[r], asked_host, &why);
      if (!replica) return fail(why);
      auto& replicas = map.shards_[index].replicas;
      bool known = false;
      for (const auto& existing : replicas) known = known || existing == *replica;
      if (!known) replicas.push_back(*replica);
    }
    for (long long slot = first; slot <= last; ++slot)
      map.owner_[slot] = static_cast<int32_t>(index);
  }
  return map;
}

namespace {

// A RESP2 map: a flat array of key, value, key, value...
const redisReply* field(const redisReply* map, const char* name) {
  if (!map || map->type != REDIS_REPLY_ARRAY) return nullptr;
  for (size_t i = 0; i + 1 < map->elements; i += 2) {
    const redisReply* key = map->element[i];
    if (key && (key->type == REDIS_REPLY_STRING || key->type == REDIS_REPLY_STATUS) &&
        std::string(key->str, key->len) == name)
      return map->element[i + 1];
  }
  return nullptr;
}

std::string field_text(const redisReply* map, const char* name) {
  const redisReply* value = field(map, name);
  if (!value || (value->type != REDIS_REPLY_STRING && value->type != REDIS_REPLY_STATUS)) return {};
  return std::string(value->str, value->len);
}

// A slot bound: an integer, or its decimal text.
std::optional<long long> slot_number(const redisReply* r) {
  if (is_integer(r)) return r->integer;
  if (!r || r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 5) return std::nullopt;
  long long n = 0;
  for (size_t i = 0; i < r->len; ++i) {
    if (r->str[i] < '0' || r->str[i] > '9') return std::nullopt;
    n = n * 10 + (r->str[i] - '0');
  }
  return n;
}

}  // namespace

std::optional<SlotMap> SlotMap::from_cluster_shards(const redisReply* reply,
                                                    const std::string& asked_host,
                                                    std::string* error) {
  auto fail = [&](std::string text) -> std::optional<SlotMap> {
    if (error) *error = "CLUSTER SHARDS: " + text;
    return std::nullopt;
  };
  if (!reply) return fail("no reply");
  if (reply->type == REDIS_REPLY_ERROR) return fail(std::string(reply->str, reply->len));
  if (reply->type != REDIS_REPLY_ARRAY) return fail("the reply is not an array");
  SlotMap map;
  for (size_t i = 0; i < reply->elements; ++i) {
    const redisReply* shard = reply->element[i];
    const redisReply* slots = field(shard, "slots");
    const redisReply* nodes = field(shard, "nodes");
    if (!slots || slots->type != REDIS_REPLY_ARRAY || slots->elements % 2 != 0 || !nodes ||
        nodes->type != REDIS_REPLY_ARRAY)
      return fail("a shard is not {slots: [first, last, ...], nodes: [...]}");
    std::optional<NodeAddress> master;
    std::vector<NodeAddress> replicas;
    for (size_t n = 0; n < nodes->elements; ++n) {
      const redisReply* node = nodes->element[n];
      const redisReply* port = field(node, "port");
      if (!port) port = field(node, "tls-port");
      std::string host = field_text(node, "endpoint");
      if (host.empty()) host = field_text(node, "ip");
      std::string role = field_text(node, "role"), health = field_text(node, "health");
      if (!is_integer(port) || port->integer < 1 || port->integer > 65535 || role.empty())
        return fail("a node has no port or role");
      if (health != "online") continue;  // failed or loading: not a node to send to
      if (host == "?") return fail("a node's endpoint is unknown (\"?\")");
      if (host.empty()) host = asked_host;
      NodeAddress address{host, static_cast<int>(port->integer)};
      if (role == "master")
        master = address;
      else
        replicas.push_back(address);
    }
    for (size_t s = 0; s < slots->elements; s += 2) {
      auto first = slot_number(slots->element[s]), last = slot_number(slots->element[s + 1]);
      if (!first || !last || *first < 0 || *last >= kSlotCount || *first > *last)
        return fail("a slot range out of 0-16383");
      if (!master) continue;  // its master failed: uncovered until a replica is promoted
      size_t index = map.shard_index(*master);
      map.shards_[index].replicas = replicas;
      for (long long slot = *first; slot <= *last; ++slot)
        map.owner_[slot] = static_cast<int32_t>(index);
    }
  }
  return map;
}

size_t SlotMap::shard_index(const NodeAddress& master) {
  for (size_t i = 0; i < shards_.size(); ++i)
    if (shards_[i].master == master) return i;
  shards_.push_back(Shard{master, {}});
  return shards_.size() - 1;
}

const Shard* SlotMap::shard_of(uint16_t slot) const {
  if (slot >= kSlotCount || owner_[slot] < 0) return nullptr;
  return &shards_[owner_[slot]];
}

size_t SlotMap::covered_slots() const {
  size_t covered = 0;
  for (int32_t owner : owner_) covered += owner >= 0;
  return covered;
}

void SlotMap::move_slot(uint16_t slot, const NodeAddress& master) {
  if (slot >= kSlotCount) return;
  owner_[slot] = static_cast<int32_t>(shard_index(master));
}

bool SlotMap::same_masters(const SlotMap& other) const {
  for (size_t slot = 0; slot < kSlotCount; ++slot) {
    const Shard* mine = shard_of(static_cast<uint16_t>(slot));
    const Shard* theirs = other.shard_of(static_cast<uint16_t>(slot));
    if ((mine == nullptr) != (theirs == nullptr)) return false;
    if (mine && mine->master != theirs->master) return false;
  }
  return true;
}

}  // namespace rthub::cluster
