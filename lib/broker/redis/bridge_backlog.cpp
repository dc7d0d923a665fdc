#include "broker/redis/bridge_backlog.hpp"

namespace rthub {

std::string BridgeBacklog::hash(std::string_view payload) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : payload) {
    h ^= c;
    h *= 1099511628211ull;
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<size_t>(i)] = kHex[h & 15];
  return out;
}

void BridgeBacklog::add(std::string payload, int64_t now_ms) {
  std::string h = hash(payload);
  entries_.push_back(Entry{std::move(h), std::move(payload), now_ms});
  while (entries_.size() > max_entries_ ||
         (!entries_.empty() && now_ms - entries_.front().at_ms > keep_ms_))
    entries_.pop_front();
}

std::vector<std::string> BridgeBacklog::after(const std::vector<std::string>& recorded) const {
  size_t start = 0;
  if (!recorded.empty()) {
    // Newest first: the newest entry whose hash is the last recorded one and whose predecessors
    // agree with the rest of the recorded list, as far as both go.
    for (size_t i = entries_.size(); i-- > 0;) {
      if (entries_[i].hash != recorded[0]) continue;
      bool fits = true;
      for (size_t j = 1; j < recorded.size() && j <= i && fits; ++j)
        fits = entries_[i - j].hash == recorded[j];
      if (fits) {
        start = i + 1;
        break;
      }
    }
  }
  std::vector<std::string> out;
  for (size_t i = start; i < entries_.size(); ++i) out.push_back(entries_[i].payload);
  return out;
}

}  // namespace rthub
