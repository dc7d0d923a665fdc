// bridge_backlog.hpp: the recent payloads of one bridged Redis channel, as every node saw them,
// so that a node taking over the ingest lease continues exactly after the last payload ingested.
//
// Redis delivers a channel's PUBLISHes to every subscriber in the same order, so every node holds
// the same sequence (from the moment it subscribed). The ingester records in Redis, in the script
// that publishes each ingested payload, that payload's hash (newest first, a short list); the
// taker-over finds where that recorded run ends in its own backlog and ingests what follows.
// Limit: a run of identical payloads longer than the recorded list is ambiguous (the match takes
// the newest position that fits).
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace rthub {

class BridgeBacklog {
 public:
  BridgeBacklog(size_t max_entries, int64_t keep_ms)
      : max_entries_(max_entries), keep_ms_(keep_ms) {}

  // FNV-1a 64 of the payload, as 16 hex digits: the same on every node.
  static std::string hash(std::string_view payload);

  void add(std::string payload, int64_t now_ms);
  void clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }

  // The payloads after the newest run matching `recorded` (hashes, newest first), oldest first.
  // When nothing matches (nothing recorded yet, or the last recorded payload was published
  // before this node subscribed), everything held.
  std::vector<std::string> after(const std::vector<std::string>& recorded) const;

 private:
  struct Entry {
    std::string hash, payload;
    int64_t at_ms;
  };
  size_t max_entries_;
  int64_t keep_ms_;
  std::deque<Entry> entries_;
};

}  // namespace rthub
