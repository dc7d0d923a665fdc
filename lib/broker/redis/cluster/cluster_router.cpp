#include "broker/redis/cluster/cluster_router.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include <chrono>

#include "broker/redis/cluster/key_slot.hpp"
#include "broker/redis/uv_attach.hpp"

namespace rthub::cluster {
namespace {

constexpr int kTickMs = 50;  // granularity of every timeout below

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string error_text(const redisReply* r) {
  return std::string(r->str, r->len);
}

bool starts_with(const std::string& text, const char* prefix) {
  return text.rfind(prefix, 0) == 0;
}

}  // namespace

struct ClusterRouter::Link {
  ClusterRouter* owner;
  NodeAddress node;
  redisAsyncContext* ctx = nullptr;
  bool connected = false;
  // Shared with the commands sent on this link: whether it ever connected, so whether a command
  // whose connection was lost may have been written (and run).
  std::shared_ptr<bool> ever_connected = std::make_shared<bool>(false);
  int64_t connecting_since_ms = 0;
  std::deque<int64_t> sent_ms;  // send time of each command awaiting its reply, oldest first
};

struct ClusterRouter::Pending {
  ClusterRouter* router;
  std::vector<std::string> args;
  Done done;
  std::optional<NodeAddress> fixed_node;  // command_at: first sent there
  uint16_t slot = 0;
  int redirects = 0;
  NodeAddress node;                      // where it was sent last
  std::shared_ptr<bool> link_connected;  // the link it was sent on had connected
  bool discovery = false;  // CLUSTER SLOTS of a discovery, answered to the router itself
};

ClusterRouter::ClusterRouter(uv_loop_t* loop, RouterOptions options)
    : loop_(loop), options_(std::move(options)) {
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  uv_timer_start(
      timer_, [](uv_timer_t* t) { static_cast<ClusterRouter*>(t->data)->on_tick(); }, kTickMs,
      kTickMs);
  soon_ = new uv_timer_t;
  uv_timer_init(loop_, soon_);
  soon_->data = this;
  discover();
}

ClusterRouter::~ClusterRouter() {
  stop();
}

void ClusterRouter::command(std::string_view key, std::vector<std::string> args, Done done) {
  auto pending = std::make_unique<Pending>();
  pending->router = this;
  pending->args = std::move(args);
  pending->done = std::move(done);
  pending->slot = key_slot(key);
  route(std::move(pending));
}

void ClusterRouter::command_at(const NodeAddress& node, std::vector<std::string> args, Done done) {
  auto pending = std::make_unique<Pending>();
  pending->router = this;
  pending->args = std::move(args);
  pending->done = std::move(done);
  pending->fixed_node = node;
  route(std::move(pending));
}

void ClusterRouter::route(std::unique_ptr<Pending> pending) {
  if (stopping_)
    return finish(std::move(pending),
                  {CommandResult::Status::kStopped, nullptr, "router stopped", {}});
  if (pending->args.empty())
    return finish_later(
        std::move(pending),
        {CommandResult::Status::kInvalid, nullptr, "a command needs arguments", {}});
  if (pending->fixed_node) {
    NodeAddress node = *pending->fixed_node;
    return send(std::move(pending), node, false);
  }
  if (!map_) {
    waiting_.push_back(std::move(pending));
    return;
  }
  const Shard* shard = map_->shard_of(pending->slot);
  if (!shard) {
    refresh();
    return finish_later(std::move(pending),
                        {CommandResult::Status::kUnavailable,
                         nullptr,
                         "no master serves slot " + std::to_string(pending->slot),
                         {}});
  }
  NodeAddress master = shard->master;
  send(std::move(pending), master, false);
}

ClusterRouter::Link* ClusterRouter::link_to(const NodeAddress& node) {
  std::string name = node.text();
  auto found = links_.find(name);
  if (found != links_.end()) return found->second.get();
  redisAsyncContext* ctx = redisAsyncConnect(node.host.c_str(), node.port);
  if (!ctx || ctx->err) {
    if (ctx) redisAsyncFree(ctx);
    down_since_ms_.emplace(name, now_ms());
    return nullptr;
  }
  auto link = std::make_unique<Link>();
  link->owner = this;
  link->node = node;
  link->ctx = ctx;
  link->connecting_since_ms = now_ms();
  if (!attach_to_loop(ctx, loop_)) {
    redisAsyncFree(ctx);
    down_since_ms_.emplace(name, now_ms());
    return nullptr;
  }
  ctx->data = link.get();
  redisAsyncSetConnectCallback(ctx, [](const redisAsyncContext* c, int status) {
    auto* l = static_cast<Link*>(c->data);
    if (!l) return;
    if (status != REDIS_OK)
      return l->owner->drop_link(l, "connect failed");  // hiredis frees c after this
    l->connected = true;
    *l->ever_connected = true;
    l->owner->down_since_ms_.erase(l->node.text());
  });
  redisAsyncSetDisconnectCallback(ctx, [](const redisAsyncContext* c, int) {
    auto* l = static_cast<Link*>(c->data);
    if (l) l->owner->drop_link(l, "disconnected");
  });
  if (!options_.password.empty()) {
    // Sent ahead of any command on this connection; a refusal shows in the commands' replies.
    if (options_.user.empty())
      redisAsyncCommand(ctx, nullptr, nullptr, "AUTH %b", options_.password.data(),
                        options_.password.size());
    else
      redisAsyncCommand(ctx, nullptr, nullptr, "AUTH %b %b", options_.user.data(),
                        options_.user.size(), options_.password.data(), options_.password.size());
  }
  Link* raw = link.get();
  links_.emplace(name, std::move(link));
  return raw;
}

// Forgets a link whose context hiredis is freeing (or that we free): the context no longer points
// back to it, so the callbacks hiredis still runs for it (null replies) touch only their command.
void ClusterRouter::drop_link(Link* link, const char*) {
  if (link->ctx) link->ctx->data = nullptr;
  std::string name = link->node.text();
  if (stopping_) return;
  stats_.connection_losses++;
  down_since_ms_.emplace(name, now_ms());
  links_.erase(name);
  refresh();
}

void ClusterRouter::send(std::unique_ptr<Pending> pending, const NodeAddress& node, bool asking) {
  pending->node = node;
  Link* link = link_to(node);
  auto unavailable = [&](const char* why) {
    refresh();
    finish_later(std::move(pending),
                 {CommandResult::Status::kUnavailable, nullptr, node.text() + ": " + why, node});
  };
  if (!link) return unavailable("cannot connect");
  if (asking) redisAsyncCommand(link->ctx, nullptr, nullptr, "ASKING");
  pending->link_connected = link->ever_connected;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : pending->args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  Pending* raw = pending.release();
  auto on_reply = [](redisAsyncContext* c, void* reply, void* privdata) {
    std::unique_ptr<Pending> p(static_cast<Pending*>(privdata));
    auto* l = static_cast<Link*>(c->data);
    p->router->on_reply(l, static_cast<redisReply*>(reply), std::move(p));
  };
  if (redisAsyncCommandArgv(link->ctx, on_reply, raw, static_cast<int>(argv.size()), argv.data(),
                            lens.data()) != REDIS_OK) {
    pending.reset(raw);  // hiredis refused it (the context is closing): no callback will come
    return unavailable("connection closing");
  }
  link->sent_ms.push_back(now_ms());
}

void ClusterRouter::on_reply(Link* link, redisReply* reply, std::unique_ptr<Pending> pending) {
  if (link && !link->sent_ms.empty()) link->sent_ms.pop_front();
  NodeAddress node = pending->node;
  if (stopping_)
    return finish(std::move(pending),
                  {CommandResult::Status::kStopped, nullptr, "router stopped", node});
  if (!reply) {
    // The connection went away with the command on it: it may have run, so it is not resent.
    refresh();
    bool maybe_ran = pending->link_connected && *pending->link_connected;
    CommandResult lost{CommandResult::Status::kUnavailable, nullptr,
                       node.text() + (maybe_ran ? ": connection lost" : ": never connected"), node};
    lost.maybe_ran = maybe_ran;
    return finish(std::move(pending), std::move(lost));
  }
  if (reply->type == REDIS_REPLY_ERROR && !pending->discovery) {
    std::string text = error_text(reply);
    if (auto redirect = parse_redirect(text)) {
      if (redirect->target.host.empty()) redirect->target.host = node.host;
      if (++pending->redirects > options_.max_redirects)
        return finish(std::move(pending), {CommandResult::Status::kRedirectLoop, nullptr,
                                           "more than " + std::to_string(options_.max_redirects) +
                                               " redirections, last: " + text,
                                           node});
      bool ask = redirect->kind == Redirect::Kind::kAsk;
      if (ask)
        stats_.asked++;
      else
        stats_.moved++;
      apply_redirect(*redirect);
      pending->fixed_node.reset();
      return send(std::move(pending), redirect->target, ask);
    }
    if (starts_with(text, "CLUSTERDOWN")) {
      refresh();
      return finish(std::move(pending), {CommandResult::Status::kUnavailable, nullptr,
                                         node.text() + ": " + text, node});
    }
  }
  finish(std::move(pending), {CommandResult::Status::kReply, reply, {}, node});
}

void ClusterRouter::finish(std::unique_ptr<Pending> pending, CommandResult result) {
  if (pending->discovery) {
    std::string why;
    std::optional<SlotMap> map;
    if (result.status == CommandResult::Status::kReply)
      map = SlotMap::from_cluster_slots(result.reply, pending->node.host, &why);
    if (stopping_) return;
    if (map && map->covered_slots() > 0) return on_discovered(std::move(*map));
    candidate_++;
    return try_discovery_candidate();
  }
  if (pending->done) pending->done(result);
}

void ClusterRouter::finish_later(std::unique_ptr<Pending> pending, CommandResult result) {
  if (stopping_) return finish(std::move(pending), std::move(result));
  deferred_.emplace_back(std::move(pending), std::move(result));
  uv_timer_start(
      soon_,
      [](uv_timer_t* t) {
        auto* self = static_cast<ClusterRouter*>(t->data);
        auto deferred = std::move(self->deferred_);
        self->deferred_.clear();
        for (auto& entry : deferred) self->finish(std::move(entry.first), std::move(entry.second));
      },
      0, 0);
}

void ClusterRouter::apply_redirect(const Redirect& redirect) {
  if (redirect.kind == Redirect::Kind::kMoved && map_ && !redirect.target.host.empty())
    map_->move_slot(redirect.slot, redirect.target);
  refresh();
}

void ClusterRouter::refresh() {
  if (stopping_) return;
  int64_t earliest = std::max(now_ms(), last_discovery_ms_ + kMinDiscoveryGapMs);
  if (discovery_due_ms_ == 0 || discovery_due_ms_ > earliest) discovery_due_ms_ = earliest;
}

bool ClusterRouter::unreachable(const NodeAddress& node) const {
  return down_since_ms_.count(node.text()) > 0;
}

void ClusterRouter::discover() {
  if (discovering_ || stopping_) return;
  discovering_ = true;
  discovery_due_ms_ = 0;
  last_discovery_ms_ = now_ms();
  stats_.discoveries++;
  // Masters first (they know the newest map), then replicas, then the seeds; nodes that failed
  // lately go last, so a dead master does not cost a connect timeout on every discovery.
  std::vector<NodeAddress> order;
  auto add = [&](const NodeAddress& n) {
    for (const auto& known : order)
      if (known == n) return;
    order.push_back(n);
  };
  if (map_) {
    for (const auto& shard : map_->shards()) add(shard.master);
    for (const auto& shard : map_->shards())
      for (const auto& replica : shard.replicas) add(replica);
  }
  for (const auto& seed : options_.seeds) add(seed);
  candidates_.clear();
  for (const auto& n : order)
    if (!unreachable(n)) candidates_.push_back(n);
  for (const auto& n : order)
    if (unreachable(n)) candidates_.push_back(n);
  candidate_ = 0;
  try_discovery_candidate();
}

void ClusterRouter::try_discovery_candidate() {
  if (candidate_ >= candidates_.size()) {
    discovering_ = false;
    stats_.failed_discoveries++;
    // Nobody answered: commands waiting for a first map fail, and discovery starts over later.
    std::deque<std::unique_ptr<Pending>> waiting;
    waiting.swap(waiting_);
    for (auto& p : waiting)
      finish(std::move(p), {CommandResult::Status::kUnavailable,
                            nullptr,
                            "no cluster node answered CLUSTER SLOTS",
                            {}});
    discovery_due_ms_ = now_ms() + kFailoverPollMs;
    return;
  }
  auto pending = std::make_unique<Pending>();
  pending->router = this;
  pending->args = {"CLUSTER", "SLOTS"};
  pending->discovery = true;
  send(std::move(pending), candidates_[candidate_], false);
}

void ClusterRouter::on_discovered(SlotMap map) {
  discovering_ = false;
  bool changed = !map_ || !map_->same_masters(map);
  map_ = std::move(map);
  if (changed) stats_.map_changes++;
  // A master of the map that we cannot reach, or slots without a master: a failover or a
  // resharding is under way, so look again soon rather than at the next periodic refresh.
  bool settling = map_->covered_slots() < kSlotCountCovered;
  for (const auto& shard : map_->shards()) settling = settling || unreachable(shard.master);
  if (settling) discovery_due_ms_ = now_ms() + kFailoverPollMs;
  // Probe masters that failed lately: a connect that succeeds clears them, so a master that was
  // only briefly out of reach does not keep discovery polling.
  for (const auto& shard : map_->shards())
    if (unreachable(shard.master)) link_to(shard.master);
  std::deque<std::unique_ptr<Pending>> waiting;
  waiting.swap(waiting_);
  for (auto& p : waiting) route(std::move(p));
  if (changed) {
    auto listeners = map_listeners_;  // a listener may add or remove listeners
    for (auto& entry : listeners) entry.second();
  }
}

void ClusterRouter::on_tick() {
  int64_t now = now_ms();
  std::vector<Link*> hung;
  for (auto& entry : links_) {
    Link* link = entry.second.get();
    if (!link->connected && now - link->connecting_since_ms > options_.connect_timeout_ms)
      hung.push_back(link);
    else if (link->connected && !link->sent_ms.empty() &&
             now - link->sent_ms.front() > options_.reply_timeout_ms)
      hung.push_back(link);
  }
  for (Link* link : hung) {
    // Freeing runs the commands' callbacks with no reply (kUnavailable) and, for a connected
    // context, the disconnect callback; drop_link first so neither finds this link.
    redisAsyncContext* ctx = link->ctx;
    drop_link(link, "timed out");
    redisAsyncFree(ctx);
  }
  if (!discovering_ && map_ && now - last_discovery_ms_ >= options_.refresh_interval_ms) refresh();
  if (!discovering_ && discovery_due_ms_ != 0 && now >= discovery_due_ms_) discover();
}

void ClusterRouter::stop() {
  if (stopping_) return;
  stopping_ = true;
  uv_timer_stop(timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  uv_timer_stop(soon_);
  uv_close(reinterpret_cast<uv_handle_t*>(soon_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  auto deferred = std::move(deferred_);
  deferred_.clear();
  for (auto& entry : deferred) {
    entry.second = {CommandResult::Status::kStopped, nullptr, "router stopped", entry.second.node};
    finish(std::move(entry.first), std::move(entry.second));
  }
  auto links = std::move(links_);
  links_.clear();
  for (auto& entry : links) {
    entry.second->ctx->data = nullptr;
    redisAsyncFree(entry.second->ctx);  // commands in flight complete with kStopped
  }
  std::deque<std::unique_ptr<Pending>> waiting;
  waiting.swap(waiting_);
  for (auto& p : waiting)
    finish(std::move(p), {CommandResult::Status::kStopped, nullptr, "router stopped", {}});
}

}  // namespace rthub::cluster
