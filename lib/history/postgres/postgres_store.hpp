// postgres_store.hpp: the history store on PostgreSQL (libpq), on one worker thread.
//
// Service threads only queue: append() adds to a bounded buffer and read() to a list of reads, and
// both wake the worker. The worker owns the one connection and does, in order: the reads whose
// preceding appends are written, then batches of up to kBatchRows messages as one multi-row
// INSERT ... ON CONFLICT DO NOTHING (idempotent, in arrival and so seq order per channel), then the
// retention deletes. While PostgreSQL is away it reconnects with exponential backoff and full
// jitter; the buffer keeps the newest `buffer` messages, and the ones it drops are counted.
//
// Tables (created if missing): rthub_messages (the messages, primary key channel, epoch, seq),
// rthub_positions (each channel's last written position, for a restart), rthub_runs (whether the
// last run stopped with everything written: only then does a restart continue the numbering),
// rthub_keys (with keep_keys: the latest message of each key of a channel, for a restart). A
// message, its key row and its channel's position are one statement: all written or none.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "rthub/history.hpp"

typedef struct pg_conn PGconn;

namespace rthub {

class PostgresStore final : public HistoryStore {
 public:
  struct Settings {
    std::string conninfo;               // libpq connection string or URI
    std::vector<std::string> patterns;  // persisted channels; empty: all
    int ttl_seconds = 0;                // rows older than this are deleted; 0: kept
    size_t buffer = 100000;             // messages held while PostgreSQL is away
    bool track_runs = true;             // single node: record runs, hand back positions at start
    bool keep_keys =
        true;  // with track_runs: keep each key's latest message, hand it back at start
  };
  // A channel's keyed state as a restart finds it: the channel stands at `at` (an empty epoch: the
  // last run did not stop cleanly, draw a new one and go on from at.seq) with `items` as its keys.
  struct KeyedChannel {
    std::string channel;
    Position at;
    std::vector<Message> items;  // in seq order
  };
  // What a restarted single node continues from.
  struct Restart {
    std::vector<std::pair<std::string, Position>> positions;  // only after a clean stop
    std::vector<KeyedChannel> keys;                           // after any stop
  };
  static constexpr size_t kBatchRows = 500;

  explicit PostgresStore(Settings settings);
  ~PostgresStore() override;

  // Starts the worker and waits up to `wait_ms` for its first connection. Returns the position of
  // every channel to continue from: empty when PostgreSQL did not answer in time, when the last
  // run did not stop cleanly (its last messages may be unwritten), or without track_runs; and
  // (with keep_keys) the keyed state of every channel that has keys, empty only when PostgreSQL
  // did not answer in time (that run's first connection then clears the table: see connect()).
  Restart start(int wait_ms);
  // Writes what waits (for at most `drain_ms`, and only while connected), records a clean stop
  // when nothing of this run was lost, and ends the worker. Idempotent.
  void stop(int drain_ms);

  bool persists(const std::string& channel) const override;
  void append(const Message& message) override;
  void read(StoreRange range, std::function<void(StoreRead&)> done) override;
  void render_metrics(std::string& out) const override;

  bool up() const { return up_; }
  size_t queue_depth() const;

 private:
  struct Pending {
    Message message;
    uint64_t ticket;  // append order
  };
  struct Read {
    StoreRange range;
    uint64_t ticket;  // appends before it have smaller tickets
    std::function<void(StoreRead&)> done;
  };

  void run();
  // Connects, creates the tables, and on the first success records the run (and the positions).
  bool connect();
  // Reads rthub_keys (and each keyed channel's position) into `keys`; false: the query failed.
  bool read_keys(bool continued, std::vector<KeyedChannel>& keys);
  void disconnect();
  // Writes `batch`; the number of its rows consumed (written, or refused by PostgreSQL as bad
  // data). Fewer than batch.size(): the connection was lost.
  size_t write_batch(const std::vector<Pending>& batch);
  bool insert(const std::vector<Pending>& rows, size_t from, size_t count);
  // Appends to an insert() statement the writes of the keys of rows[from, from + count).
  void add_key_writes(const std::vector<Pending>& rows, size_t from, size_t count, std::string& sql,
                      std::vector<std::string>& texts, std::vector<const char*>& params) const;
  bool serve(Read& read);
  void expire();
  bool exec(const char* sql);
  bool connection_lost() const;
  // Drops the oldest waiting messages past the bound; caller holds lock_.
  void enforce_bound();
  void fail_reads(std::unique_lock<std::mutex>& lock);

  const Settings settings_;
  mutable std::mutex lock_;
  std::condition_variable wake_;
  std::condition_variable started_cv_;
  std::deque<Pending> pending_;
  std::deque<Read> reads_;
  uint64_t next_ticket_ = 1;
  bool stopping_ = false;
  int64_t drain_deadline_ms_ = 0;
  bool started_ = false;    // the first connection attempt is over
  bool continued_ = false;  // the last run stopped cleanly: positions_ hold its numbering
  Restart restart_;
  bool warned_drop_ = false;
  bool warned_reject_ = false;
  std::atomic<bool> up_{false};
  std::atomic<uint64_t> written_{0}, dropped_{0}, rejected_{0}, in_flight_{0};
  std::thread worker_;
  // Worker thread only.
  PGconn* conn_ = nullptr;
  int64_t run_id_ = 0;
  bool warned_unreachable_ = false;
};

}  // namespace rthub
