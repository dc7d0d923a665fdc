// history.hpp: the seam of a history store, where published messages outlive the broker's live
// window (memory or a Redis stream), and the page queries of the history API.
//
// A store takes each persisted message once (from the node that published it), writes it without
// ever blocking the caller, and answers range reads. The PostgreSQL store (lib/history/postgres)
// is the one implementation; the hub reaches it through a broker decorator
// (lib/history/persisting_broker.hpp), so the core knows nothing of it.
//
// Threads: append() and read() may be called from any service thread and never block; a read's
// `done` runs on the store's own thread: the caller hands the result to its service thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rthub/message.hpp"

namespace rthub {

// Which page of a channel's history: its latest messages, those before a seq, or those after.
enum class HistoryDirection { kLatest = 0, kBefore = 1, kAfter = 2 };

struct HistoryQuery {
  HistoryDirection direction = HistoryDirection::kLatest;
  uint64_t seq = 0;    // with kBefore and kAfter
  size_t limit = 100;  // 1 to kMaxHistoryLimit
};
constexpr size_t kMaxHistoryLimit = 1000;

enum class HistoryStatus {
  kOk = 0,
  kUnavailable,   // the store cannot answer now (PostgreSQL unreachable)
  kNotPersisted,  // no store, or the channel is not among the persisted ones
};

// A page of a channel's history, in ascending seq, all of the channel's current epoch.
struct HistoryPage {
  HistoryStatus status = HistoryStatus::kOk;
  std::string channel;
  std::string epoch;
  std::vector<Message> messages;
};

// A range read of the store: the messages of (channel, epoch) with after < seq < before,
// the `limit` lowest (ascending) or highest (`newest_first`, still returned ascending).
struct StoreRange {
  std::string channel;
  std::string epoch;
  uint64_t after = 0;
  uint64_t before = UINT64_MAX;
  size_t limit = kMaxHistoryLimit;
  bool newest_first = false;
};

struct StoreRead {
  bool ok = false;  // false: the store is unreachable (or stopping); `messages` is empty
  std::vector<Message> messages;
};

class HistoryStore {
 public:
  virtual ~HistoryStore() = default;
  // Whether `channel` is persisted (the persist patterns).
  virtual bool persists(const std::string& channel) const = 0;
  // Queues a message with its position for writing. Never blocks; past the buffer bound the
  // oldest waiting messages are dropped and counted.
  virtual void append(const Message& message) = 0;
  // Reads a range once every message appended before this call is written (or dropped), so a
  // read sees what was published before it. `done` runs once, on the store's thread.
  virtual void read(StoreRange range, std::function<void(StoreRead&)> done) = 0;
  // Appends the store's Prometheus metrics.
  virtual void render_metrics(std::string& out) const = 0;
};

}  // namespace rthub
