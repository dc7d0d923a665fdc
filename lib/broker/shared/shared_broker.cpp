#include "broker/shared/shared_broker.hpp"

#include "broker/memory/memory_broker.hpp"

namespace rthub {
namespace {

// A shard's own copy of a message: same text and position, frames not yet encoded.
EnvelopePtr copy_for_shard(const Envelope& original) {
  auto copy = std::make_shared<Envelope>();
  copy->message = original.message;
  copy->published_us = original.published_us;
  return copy;
}

}  // namespace

// The inner broker's listener: hands each message to the shards that want it. Always called with
// the SharedBroker's lock held (from inside the inner broker).
class SharedBroker::FanOut final : public BrokerListener {
 public:
  explicit FanOut(SharedBroker& owner) : owner_(owner) {}

  void on_broker_message(const EnvelopePtr& message) override {
    if (owner_.published_) owner_.published_();
    auto it = owner_.interest_.find(message->message.channel);
    if (it == owner_.interest_.end()) return;
    for (size_t i = 0; i < owner_.members_.size(); ++i) {
      const Member& member = owner_.members_[i];
      if (!(it->second >> i & 1) || !member.post) continue;
      BrokerListener* core = member.listener;
      member.post([core, copy = copy_for_shard(*message)] { core->on_broker_message(copy); });
    }
  }

  bool has_subscribers(const std::string& channel) const override {
    auto it = owner_.interest_.find(channel);
    return it != owner_.interest_.end() && it->second != 0;
  }

 private:
  SharedBroker& owner_;
};

// What one shard's core sees: the shared broker, entered under its lock. Completions run on the
// calling (service) thread after the lock is released, since they may call into the host.
class SharedBroker::ShardBroker final : public Broker {
 public:
  ShardBroker(SharedBroker& owner, size_t index, Post post)
      : owner_(owner), index_(index), post_(std::move(post)) {}

  ~ShardBroker() override {
    std::lock_guard<std::mutex> lock(owner_.lock_);
    owner_.members_[index_] = Member{};
    for (auto it = owner_.presence_.begin(); it != owner_.presence_.end();) {
      auto& members = it->second;
      for (auto m = members.begin(); m != members.end();)
        m = m->second.shard == index_ ? members.erase(m) : std::next(m);
      it = members.empty() ? owner_.presence_.erase(it) : std::next(it);
    }
    for (auto it = owner_.interest_.begin(); it != owner_.interest_.end();) {
      it->second &= ~bit();
      it = it->second ? std::next(it) : owner_.interest_.erase(it);
    }
  }

  void attach(BrokerListener& listener) override {
    std::lock_guard<std::mutex> lock(owner_.lock_);
    owner_.members_[index_] = Member{post_, &listener};
  }

  void publish(Message message, std::function<void(const PublishOutcome&)> done) override {
    PublishOutcome outcome;
    {
      std::lock_guard<std::mutex> lock(owner_.lock_);
      owner_.inner_->publish(std::move(message),
                             [&outcome](const PublishOutcome& o) { outcome = o; });
    }
    if (done) done(outcome);
  }

  void history(const std::string& channel, const std::optional<Position>& since,
               std::function<void(HistoryOutcome&)> done) override {
    HistoryOutcome outcome;
    {
      std::lock_guard<std::mutex> lock(owner_.lock_);
      // From here on, this shard is handed every new message of the channel; history covers
      // what came before, and the core drops the overlap by seq.
      owner_.interest_[channel] |= bit();
      owner_.inner_->history(channel, since,
                             [&outcome](HistoryOutcome& h) { outcome = std::move(h); });
    }
    for (EnvelopePtr& message : outcome.messages) message = copy_for_shard(*message);
    done(outcome);
  }

  bool keeps_keys() const override { return true; }

  void history_with_snapshot(const std::string& channel, const std::optional<Position>& since,
                             std::function<void(HistoryOutcome&)> done) override {
    HistoryOutcome outcome;
    {
      std::lock_guard<std::mutex> lock(owner_.lock_);
      owner_.interest_[channel] |= bit();  // as in history()
      owner_.inner_->history_with_snapshot(
          channel, since, [&outcome](HistoryOutcome& h) { outcome = std::move(h); });
    }
    for (EnvelopePtr& message : outcome.messages) message = copy_for_shard(*message);
    for (EnvelopePtr& message : outcome.snapshot) message = copy_for_shard(*message);
    done(outcome);
  }

  void release(const std::string& channel) override {
    std::lock_guard<std::mutex> lock(owner_.lock_);
    auto it = owner_.interest_.find(channel);
    if (it != owner_.interest_.end() && !(it->second &= ~bit())) owner_.interest_.erase(it);
    owner_.inner_->release(channel);
  }

  void tick(int64_t now_ms) override {
    if (index_ != 0) return;  // the shared history expires once, not once per shard
    std::lock_guard<std::mutex> lock(owner_.lock_);
    owner_.inner_->tick(now_ms);
  }

  size_t history_bytes() const override {
    std::lock_guard<std::mutex> lock(owner_.lock_);
    return owner_.inner_->history_bytes();
  }

  size_t channel_count() const override {
    std::lock_guard<std::mutex> lock(owner_.lock_);
    return owner_.inner_->channel_count();
  }

  void render_metrics(std::string& out) const override {
    std::lock_guard<std::mutex> lock(owner_.lock_);
    owner_.inner_->render_metrics(out);
  }

  bool shares_presence() const override { return true; }

  void presence_join(const std::string& channel, uint64_t id, const std::string& client,
                     bool) override {
    std::lock_guard<std::mutex> lock(owner_.lock_);
    owner_.presence_[channel][id] = PresenceMember{client, index_};
    owner_.announce_presence(channel, "join", id, client);
  }

  void presence_leave(const std::string& channel, uint64_t id, const std::string& client) override {
    std::lock_guard<std::mutex> lock(owner_.lock_);
    auto it = owner_.presence_.find(channel);
    if (it == owner_.presence_.end() || !it->second.erase(id)) return;
    if (it->second.empty()) owner_.presence_.erase(it);
    owner_.announce_presence(channel, "leave", id, client);
  }

  void presence_clients(const std::string& channel,
                        std::function<void(const std::string*)> done) override {
    std::string out = "[";
    {
      std::lock_guard<std::mutex> lock(owner_.lock_);
      auto it = owner_.presence_.find(channel);
      if (it != owner_.presence_.end())
        for (const auto& [id, member] : it->second) {
          if (out.size() > 1) out += ',';
          out += member.client;
        }
    }
    out += ']';
    done(&out);
  }

 private:
  uint64_t bit() const { return uint64_t{1} << index_; }

  SharedBroker& owner_;
  size_t index_;
  Post post_;
};

SharedBroker::SharedBroker(size_t history_size, int history_ttl_seconds, size_t shards,
                           std::function<void()> published, int idempotency_window_seconds,
                           size_t max_keys)
    : inner_(new MemoryBroker(history_size, history_ttl_seconds, idempotency_window_seconds,
                              max_keys)),
      fan_out_(new FanOut(*this)),
      published_(std::move(published)),
      members_(shards) {
  inner_->attach(*fan_out_);
}

SharedBroker::~SharedBroker() = default;

void SharedBroker::announce_presence(const std::string& channel, const char* op, uint64_t id,
                                     const std::string& client) {
  auto it = interest_.find(channel);
  if (it == interest_.end()) return;
  for (size_t i = 0; i < members_.size(); ++i) {
    const Member& member = members_[i];
    if (!(it->second >> i & 1) || !member.post) continue;
    BrokerListener* core = member.listener;
    // Posted under the lock, so every shard hears a channel's joins and leaves in one order.
    member.post([core, channel, op, id, client] { core->on_presence(channel, op, id, client); });
  }
}

void SharedBroker::seed(const std::string& channel, const Position& position) {
  std::lock_guard<std::mutex> lock(lock_);
  static_cast<MemoryBroker&>(*inner_).seed(channel,
                                           position);  // inner_ is a MemoryBroker (constructor)
}

void SharedBroker::seed_keys(const std::string& channel, const Position& at,
                             std::vector<Message> items) {
  std::lock_guard<std::mutex> lock(lock_);
  static_cast<MemoryBroker&>(*inner_).seed_keys(channel, at, std::move(items));
}

std::unique_ptr<Broker> SharedBroker::shard(size_t index, Post post) {
  return std::unique_ptr<Broker>(new ShardBroker(*this, index, std::move(post)));
}

}  // namespace rthub
