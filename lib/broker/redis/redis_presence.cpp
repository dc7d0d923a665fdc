// redis_presence.cpp: presence across hub nodes through Redis (see redis_presence.hpp).
#include "broker/redis/redis_presence.hpp"

#include <hiredis/hiredis.h>

#include <cstdlib>
#include <set>

#include "broker/redis/redis_broker_internal.hpp"

namespace rthub {
namespace {

const std::string kEventHead = "!p ";  // a record starts with its epoch: never with '!'

struct Member {
  std::string field;
  std::string node;
  std::string client;
};

bool is_integer(const redisReply* r, long long value) {
  return r && r->type == REDIS_REPLY_INTEGER && r->integer == value;
}

}  // namespace

using redis_internal::reply_string;

RedisPresence::RedisPresence(std::string node_id, bool sharded, Command command, Tell tell)
    : node_id_(std::move(node_id)),
      sharded_(sharded),
      command_(std::move(command)),
      tell_(std::move(tell)) {}

std::string RedisPresence::hash_key(const std::string& channel) const {
  return "rthub:{" + channel + "}:presence";
}

std::string RedisPresence::alive_key(const std::string& node) const {
  return "rthub:node:" + node + ":alive";
}

void RedisPresence::announce(const std::string& channel, const char* op, uint64_t id,
                             const std::string& client) {
  std::string payload = kEventHead + op + " " + std::to_string(id) + " " + client;
  command_({sharded_ ? "SPUBLISH" : "PUBLISH", "rthub:{" + channel + "}:m", payload},
           [](redisReply*) {});
}

void RedisPresence::join(const std::string& channel, uint64_t id, const std::string& client,
                         bool watching) {
  local_[channel][id] = client;
  if (watching) watching_[channel].insert(id);
  if (liveness_known_) return write_member(channel, id, client);
  unwritten_[channel].insert(id);
  confirm_liveness();
}

void RedisPresence::write_member(const std::string& channel, uint64_t id,
                                 const std::string& client) {
  std::weak_ptr<bool> alive = alive_;
  command_({"HSET", hash_key(channel), std::to_string(id), node_id_ + " " + client},
           [this, alive](redisReply* r) {
             // Unanswered: Redis may be gone or restarted; everything is written back once
             // the liveness key is set again.
             if (!alive.expired() && !r) liveness_unknown();
           });
  announce(channel, "join", id, client);
}

void RedisPresence::confirm_liveness() {
  if (confirming_) return;
  confirming_ = true;
  std::weak_ptr<bool> alive = alive_;
  command_({"SET", alive_key(node_id_), "1", "PX", std::to_string(kLivenessTtlMs)},
           [this, alive](redisReply* r) {
             if (alive.expired()) return;
             confirming_ = false;
             if (!r || r->type == REDIS_REPLY_ERROR) return;  // tried again at the next tick
             liveness_known_ = true;
             auto unwritten = std::move(unwritten_);
             unwritten_.clear();
             for (const auto& [channel, ids] : unwritten) {
               auto members = local_.find(channel);
               if (members == local_.end()) continue;
               for (uint64_t id : ids) {
                 auto member = members->second.find(id);  // it may have left meanwhile
                 if (member != members->second.end()) write_member(channel, id, member->second);
               }
             }
             if (!rewrite_all_) return;
             rewrite_all_ = false;
             for (const auto& [channel, members] : local_)
               for (const auto& [id, client] : members) rejoin(channel, id, client);
           });
}

void RedisPresence::liveness_unknown() {
  liveness_known_ = false;
  rewrite_all_ = true;
}

void RedisPresence::leave(const std::string& channel, uint64_t id, const std::string& client) {
  auto it = local_.find(channel);
  if (it == local_.end() || !it->second.erase(id)) return;
  if (it->second.empty()) local_.erase(it);
  auto w = watching_.find(channel);
  if (w != watching_.end() && w->second.erase(id) && w->second.empty()) watching_.erase(w);
  std::weak_ptr<bool> alive = alive_;
  command_({"HDEL", hash_key(channel), std::to_string(id)},
           [this, alive, channel, id, client](redisReply* r) {
             if (alive.expired()) return;
             if (!r || r->type != REDIS_REPLY_INTEGER) {
               unsure_.insert(channel);  // maybe still listed: the sweep removes it
               return;
             }
             if (r->integer == 1) announce(channel, "leave", id, client);
           });
}

void RedisPresence::remove_member(const std::string& channel, const std::string& field,
                                  const std::string& client) {
  std::weak_ptr<bool> alive = alive_;
  command_({"HDEL", hash_key(channel), field},
           [this, alive, channel, field, client](redisReply* r) {
             if (alive.expired() || !is_integer(r, 1)) return;  // another node removed it
             announce(channel, "leave", std::strtoull(field.c_str(), nullptr, 10), client);
           });
}

void RedisPresence::rejoin(const std::string& channel, uint64_t id, const std::string& client) {
  if (!liveness_known_) {  // written back with all the others once the key is set
    rewrite_all_ = true;
    return confirm_liveness();
  }
  std::weak_ptr<bool> alive = alive_;
  // HSETNX: a member still listed was never announced as gone; only one missing is announced.
  command_({"HSETNX", hash_key(channel), std::to_string(id), node_id_ + " " + client},
           [this, alive, channel, id, client](redisReply* r) {
             if (alive.expired()) return;
             if (!r) return liveness_unknown();
             if (is_integer(r, 1)) announce(channel, "join", id, client);
           });
}

void RedisPresence::clients(const std::string& channel,
                            std::function<void(const std::string*)> done) {
  std::weak_ptr<bool> alive = alive_;
  command_({"HGETALL", hash_key(channel)}, [this, alive, channel, done](redisReply* r) {
    if (alive.expired() || !r || r->type != REDIS_REPLY_ARRAY) return done(nullptr);
    auto members = std::make_shared<std::map<uint64_t, Member>>();
    std::set<std::string> nodes;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
      std::string field = reply_string(r->element[i]), value = reply_string(r->element[i + 1]);
      size_t space = value.find(' ');
      if (space == std::string::npos) continue;  // not written by a hub: ignored
      Member m{field, value.substr(0, space), value.substr(space + 1)};
      nodes.insert(m.node);
      (*members)[std::strtoull(field.c_str(), nullptr, 10)] = std::move(m);
    }
    // Which nodes are alive: one EXISTS each (their keys lie in different slots).
    auto dead = std::make_shared<std::set<std::string>>();
    auto waiting = std::make_shared<size_t>(nodes.size() + 1);
    auto finish = [this, alive, channel, done, members, dead, waiting] {
      if (--*waiting) return;
      if (alive.expired()) return done(nullptr);
      unsure_.erase(channel);  // this pass repairs what an unanswered HDEL left
      auto mine = local_.find(channel);
      // This node's own members come from local_, which knows them exactly (one just joined may
      // still wait for its HSET); the other nodes' from the hash. By id.
      std::map<uint64_t, const std::string*> listed;
      for (const auto& [id, m] : *members) {
        if (m.node == node_id_) {
          // One of this node's that left without a confirmed HDEL.
          if (mine == local_.end() || !mine->second.count(id))
            remove_member(channel, m.field, m.client);
          continue;
        }
        if (dead->count(m.node)) {
          remove_member(channel, m.field, m.client);
          continue;
        }
        listed[id] = &m.client;
      }
      if (mine != local_.end())
        for (const auto& [id, client] : mine->second) {
          listed[id] = &client;
          // This node's members the hash lacks (a HSET Redis did not answer) are written back.
          if (!members->count(id)) rejoin(channel, id, client);
        }
      std::string out = "[";
      for (const auto& [id, client] : listed) {
        if (out.size() > 1) out += ',';
        out += *client;
      }
      out += ']';
      done(&out);
    };
    for (const std::string& node : nodes) {
      if (node == node_id_) {
        finish();
        continue;
      }
      command_({"EXISTS", alive_key(node)}, [node, dead, finish](redisReply* e) {
        if (is_integer(e, 0)) dead->insert(node);  // no answer: taken for alive
        finish();
      });
    }
    finish();
  });
}

bool RedisPresence::on_payload(const std::string& channel, const std::string& payload) {
  if (payload.compare(0, kEventHead.size(), kEventHead) != 0) return false;
  // "!p join|leave <id> <client>"
  size_t op_end = payload.find(' ', kEventHead.size());
  if (op_end == std::string::npos) return true;
  size_t id_end = payload.find(' ', op_end + 1);
  if (id_end == std::string::npos) return true;
  std::string op = payload.substr(kEventHead.size(), op_end - kEventHead.size());
  if (op != "join" && op != "leave") return true;
  uint64_t id = std::strtoull(payload.c_str() + op_end + 1, nullptr, 10);
  tell_(channel, op == "join" ? "join" : "leave", id, payload.substr(id_end + 1));
  return true;
}

void RedisPresence::tick() {
  if (!liveness_known_) {
    confirm_liveness();
  } else {
    std::weak_ptr<bool> alive = alive_;
    // PEXPIRE answers 0 when the key is gone: this node was taken for dead (or Redis lost it).
    command_({"PEXPIRE", alive_key(node_id_), std::to_string(kLivenessTtlMs)},
             [this, alive](redisReply* r) {
               if (alive.expired() || (r && !is_integer(r, 0))) return;
               liveness_unknown();
               if (r) confirm_liveness();  // unanswered: the next tick sets it
             });
  }
  // Each channel with presence subscribers here, and each one left without a confirmed HDEL: the
  // repairs (dead nodes' members, this node's own entries) are made on the way. Channels nobody
  // here watches are not read each second: many subscribers cost no sweep.
  std::vector<std::string> channels;
  for (const auto& [channel, ids] : watching_) channels.push_back(channel);
  for (const std::string& channel : unsure_)
    if (!watching_.count(channel)) channels.push_back(channel);
  for (const std::string& channel : channels) clients(channel, [](const std::string*) {});
}

}  // namespace rthub
