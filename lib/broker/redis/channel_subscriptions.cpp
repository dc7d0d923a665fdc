#include "broker/redis/channel_subscriptions.hpp"

namespace rthub {

bool ChannelSubscriptions::want(const std::string& channel) {
  Entry& e = entries_[channel];
  if (e.wanted) return false;
  e.wanted = true;
  dirty_.insert(channel);
  return true;
}

bool ChannelSubscriptions::unwant(const std::string& channel) {
  auto it = entries_.find(channel);
  if (it == entries_.end() || !it->second.wanted) return false;
  it->second.wanted = false;
  dirty_.insert(channel);
  return true;
}

ChannelSubscriptions::Batch ChannelSubscriptions::take_batch() {
  Batch batch;
  for (const auto& channel : dirty_) {
    auto it = entries_.find(channel);
    if (it == entries_.end()) continue;
    Entry& e = it->second;
    if (e.wanted && e.state == State::kNone) {
      e.state = State::kSubscribing;
      batch.subscribe.push_back(channel);
    } else if (!e.wanted && e.state == State::kActive) {
      e.state = State::kUnsubscribing;
      batch.unsubscribe.push_back(channel);
    } else if (!e.wanted && e.state == State::kNone) {
      entries_.erase(it);
    }  // in flight: settled when Redis confirms
  }
  dirty_.clear();
  return batch;
}

bool ChannelSubscriptions::on_subscribed(const std::string& channel) {
  auto it = entries_.find(channel);
  if (it == entries_.end() || it->second.state != State::kSubscribing) return false;
  it->second.state = State::kActive;
  if (!it->second.wanted) dirty_.insert(channel);
  return it->second.wanted;
}

void ChannelSubscriptions::on_unsubscribed(const std::string& channel) {
  auto it = entries_.find(channel);
  if (it == entries_.end() || it->second.state != State::kUnsubscribing) return;
  it->second.state = State::kNone;
  if (it->second.wanted)
    dirty_.insert(channel);
  else
    entries_.erase(it);
}

void ChannelSubscriptions::on_interrupted(const std::string& channel) {
  auto it = entries_.find(channel);
  if (it != entries_.end() && it->second.state == State::kActive)
    it->second.state = State::kSubscribing;
}

void ChannelSubscriptions::reset() {
  dirty_.clear();
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!it->second.wanted) {
      it = entries_.erase(it);
      continue;
    }
    it->second.state = State::kNone;
    dirty_.insert(it->first);
    ++it;
  }
}

bool ChannelSubscriptions::active(const std::string& channel) const {
  auto it = entries_.find(channel);
  return it != entries_.end() && it->second.wanted && it->second.state == State::kActive;
}

bool ChannelSubscriptions::wanted(const std::string& channel) const {
  auto it = entries_.find(channel);
  return it != entries_.end() && it->second.wanted;
}

size_t ChannelSubscriptions::active_count() const {
  size_t n = 0;
  for (const auto& [channel, e] : entries_)
    if (e.state == State::kActive) ++n;
  return n;
}

}  // namespace rthub
