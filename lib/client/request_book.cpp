#include "client/request_book.hpp"

namespace rthub::client {

void RequestBook::sent(uint64_t id, RequestKind kind, const std::string& channel) {
  pending_[id] = Pending{kind, channel};
  if (kind == RequestKind::kSubscribe) latest_subscribe_[channel] = id;
}

std::optional<RequestBook::Pending> RequestBook::take(std::optional<uint64_t> ref) {
  if (!ref) return std::nullopt;
  auto it = pending_.find(*ref);
  if (it == pending_.end()) return std::nullopt;
  Pending pending = std::move(it->second);
  pending_.erase(it);
  return pending;
}

bool RequestBook::take_latest_subscribe(const std::string& channel, uint64_t ref) {
  auto it = latest_subscribe_.find(channel);
  if (it == latest_subscribe_.end() || it->second != ref) return false;
  latest_subscribe_.erase(it);
  return true;
}

std::vector<std::pair<uint64_t, std::string>> RequestBook::connection_lost() {
  std::vector<std::pair<uint64_t, std::string>> unanswered;
  for (auto& [id, pending] : pending_)
    if (pending.kind == RequestKind::kPublish || pending.kind == RequestKind::kPresence)
      unanswered.emplace_back(id, pending.channel);
  pending_.clear();
  latest_subscribe_.clear();
  return unanswered;
}

bool RequestBook::wait(PublishRequest request) {
  if (waiting_.size() >= kMaxWaitingPublishes) return false;
  waiting_.push_back(std::move(request));
  return true;
}

std::deque<PublishRequest> RequestBook::take_waiting() {
  std::deque<PublishRequest> out;
  out.swap(waiting_);
  return out;
}

}  // namespace rthub::client
