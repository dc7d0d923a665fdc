#include "history/postgres/postgres_store.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "client/backoff.hpp"
#include "rthub/auth.hpp"

namespace rthub {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A bigint parameter: seqs above PostgreSQL's bigint range are clamped (no real seq gets there).
std::string bigint(uint64_t v) {
  return std::to_string(std::min<uint64_t>(v, INT64_MAX));
}

const char kSchema[] =
    "CREATE TABLE IF NOT EXISTS rthub_messages ("
    " channel text NOT NULL, epoch text NOT NULL, seq bigint NOT NULL, type text NOT NULL,"
    " data jsonb NOT NULL, ts timestamptz NOT NULL, key text NULL,"
    " PRIMARY KEY (channel, epoch, seq));"
    "CREATE INDEX IF NOT EXISTS rthub_messages_ts ON rthub_messages (ts);"
    "CREATE TABLE IF NOT EXISTS rthub_positions ("
    " channel text PRIMARY KEY, epoch text NOT NULL, seq bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS rthub_runs ("
    " id bigserial PRIMARY KEY, started_at timestamptz NOT NULL DEFAULT now(),"
    " clean_stop boolean NOT NULL DEFAULT false);";

// Rows deleted per retention statement: short transactions, no long lock on the table.
constexpr int kExpireRows = 5000;
constexpr int64_t kExpireEveryMs = 10'000;

}  // namespace

PostgresStore::PostgresStore(Settings settings) : settings_(std::move(settings)) {}

PostgresStore::~PostgresStore() {
  stop(0);
}

std::vector<std::pair<std::string, Position>> PostgresStore::start(int wait_ms) {
  worker_ = std::thread([this] { run(); });
  std::unique_lock<std::mutex> lock(lock_);
  started_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return started_; });
  if (!started_) {
    std::fprintf(stderr,
                 "rthub: PostgreSQL did not answer within %d ms: channels start new epochs\n",
                 wait_ms);
    started_ = true;  // a later first connection hands back no positions
    return {};
  }
  return continued_ ? std::move(positions_) : std::vector<std::pair<std::string, Position>>{};
}

void PostgresStore::stop(int drain_ms) {
  {
    std::lock_guard<std::mutex> lock(lock_);
    if (stopping_ || !worker_.joinable()) {
      stopping_ = true;
      return;
    }
    stopping_ = true;
    drain_deadline_ms_ = now_ms() + drain_ms;
  }
  wake_.notify_all();
  worker_.join();
}

bool PostgresStore::persists(const std::string& channel) const {
  return settings_.patterns.empty() || channel_allowed(settings_.patterns, channel);
}

void PostgresStore::append(const Message& message) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(lock_);
    wake = pending_.empty();
    pending_.push_back(Pending{message, next_ticket_++});
    enforce_bound();
  }
  if (wake) wake_.notify_one();
}

void PostgresStore::enforce_bound() {
  size_t over = pending_.size() > settings_.buffer ? pending_.size() - settings_.buffer : 0;
  if (!over) return;
  for (size_t i = 0; i < over; ++i) pending_.pop_front();
  dropped_ += over;
  if (!warned_drop_) {
    warned_drop_ = true;
    std::fprintf(
        stderr,
        "rthub: history buffer full (%zu messages waiting for PostgreSQL): dropping the oldest, "
        "counted in rthub_history_dropped_total\n",
        settings_.buffer);
  }
}

void PostgresStore::read(StoreRange range, std::function<void(StoreRead&)> done) {
  {
    std::lock_guard<std::mutex> lock(lock_);
    if (!stopping_ && up_) {
      reads_.push_back(Read{std::move(range), next_ticket_, std::move(done)});
      done = nullptr;
    }
  }
  if (done) {  // unreachable or stopping: answered at once, not after a reconnect
    StoreRead failed;
    return done(failed);
  }
  wake_.notify_one();
}

size_t PostgresStore::queue_depth() const {
  std::lock_guard<std::mutex> lock(lock_);
  return pending_.size() + in_flight_;
}

void PostgresStore::render_metrics(std::string& out) const {
  out +=
      "# HELP rthub_history_store_up 1 while the history store (PostgreSQL) is connected.\n"
      "# TYPE rthub_history_store_up gauge\n"
      "rthub_history_store_up " +
      std::string(up_ ? "1" : "0") +
      "\n"
      "# HELP rthub_history_queue_depth Messages waiting to be written to the history store.\n"
      "# TYPE rthub_history_queue_depth gauge\n"
      "rthub_history_queue_depth " +
      std::to_string(queue_depth()) +
      "\n"
      "# HELP rthub_history_written_total Messages written to the history store.\n"
      "# TYPE rthub_history_written_total counter\n"
      "rthub_history_written_total " +
      std::to_string(written_) +
      "\n"
      "# HELP rthub_history_dropped_total Messages dropped unwritten: the buffer was full while "
      "the store was away.\n"
      "# TYPE rthub_history_dropped_total counter\n"
      "rthub_history_dropped_total " +
      std::to_string(dropped_) +
      "\n"
      "# HELP rthub_history_rejected_total Messages PostgreSQL refused to store (data not valid as "
      "jsonb).\n"
      "# TYPE rthub_history_rejected_total counter\n"
      "rthub_history_rejected_total " +
      std::to_string(rejected_) + "\n";
}

void PostgresStore::fail_reads(std::unique_lock<std::mutex>& lock) {
  std::deque<Read> failed;
  failed.swap(reads_);
  lock.unlock();
  for (auto& r : failed) {
    StoreRead nothing;
    r.done(nothing);
  }
  lock.lock();
}

void PostgresStore::run() {
  client::Backoff backoff(client::BackoffPolicy{250, 10000, 0}, client::system_uniform_source());
  int64_t next_expire_ms = 0;
  std::unique_lock<std::mutex> lock(lock_);
  for (;;) {
    if (!conn_) {
      if (stopping_) break;  // nothing can be written: do not wait for PostgreSQL to return
      lock.unlock();
      bool ok = connect();
      lock.lock();
      if (!started_) {
        started_ = true;
        started_cv_.notify_all();
      }
      if (!ok) {
        fail_reads(lock);
        if (stopping_) break;
        uint64_t delay = *backoff.next();
        wake_.wait_for(lock, std::chrono::milliseconds(delay), [this] { return stopping_; });
        continue;
      }
      backoff.reset();
      warned_drop_ = false;
    }
    if (!reads_.empty() && (pending_.empty() || pending_.front().ticket >= reads_.front().ticket)) {
      Read r = std::move(reads_.front());
      reads_.pop_front();
      lock.unlock();
      bool ok = serve(r);
      lock.lock();
      if (!ok) disconnect();
      continue;
    }
    if (!pending_.empty()) {
      if (stopping_ && now_ms() > drain_deadline_ms_) break;
      size_t n = std::min(pending_.size(), kBatchRows);
      std::vector<Pending> batch(
          std::make_move_iterator(pending_.begin()),
          std::make_move_iterator(pending_.begin() + static_cast<ptrdiff_t>(n)));
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(n));
      in_flight_ = n;
      lock.unlock();
      size_t consumed = write_batch(batch);
      lock.lock();
      in_flight_ = 0;
      if (consumed < batch.size()) {
        // Back at the head, oldest first, then the bound again: nothing of it is lost unless
        // the buffer overflows meanwhile.
        pending_.insert(pending_.begin(),
                        std::make_move_iterator(batch.begin() + static_cast<ptrdiff_t>(consumed)),
                        std::make_move_iterator(batch.end()));
        enforce_bound();
        disconnect();
      }
      continue;
    }
    if (stopping_) break;
    if (settings_.ttl_seconds > 0 && now_ms() >= next_expire_ms) {
      lock.unlock();
      expire();
      lock.lock();
      next_expire_ms = now_ms() + kExpireEveryMs;
      continue;
    }
    wake_.wait_for(lock, std::chrono::milliseconds(1000),
                   [this] { return stopping_ || !pending_.empty() || !reads_.empty(); });
  }
  // Stopping. A clean stop (everything of this run written) lets the next run continue the
  // numbering; otherwise the next run starts new epochs, so that no (epoch, seq) is reused.
  bool clean = conn_ && pending_.empty() && dropped_ == 0 && rejected_ == 0 && run_id_ > 0;
  fail_reads(lock);
  lock.unlock();
  if (clean) {
    std::string id = std::to_string(run_id_);
    const char* values[] = {id.c_str()};
    PGresult* r = PQexecParams(conn_, "UPDATE rthub_runs SET clean_stop = true WHERE id = $1", 1,
                               nullptr, values, nullptr, nullptr, 0);
    PQclear(r);
  }
  disconnect();
}

bool PostgresStore::connect() {
  // Ours first: what the host's conninfo says wins (libpq takes the last value of a keyword).
  // A query stuck on a dead peer ends after tcp_user_timeout instead of blocking the worker.
  const char* keys[] = {"connect_timeout",  "application_name", "keepalives_idle",
                        "tcp_user_timeout", "dbname",           nullptr};
  const char* values[] = {"5", "rthub", "10", "15000", settings_.conninfo.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    if (up_.exchange(false) || !warned_unreachable_) {  // once per outage
      warned_unreachable_ = true;
      std::string why = conn_ ? PQerrorMessage(conn_) : "out of memory";
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      std::fprintf(stderr, "rthub: PostgreSQL unreachable (%s); retrying with backoff\n",
                   why.c_str());
    }
    disconnect();
    return false;
  }
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);  // "already exists, skipping"
  if (!exec(kSchema) && !exec(kSchema)) {  // a second node creating the tables at once: try again
    std::fprintf(stderr, "rthub: PostgreSQL: cannot create the history tables: %s",
                 PQerrorMessage(conn_));
    disconnect();
    return false;
  }
  if (settings_.track_runs && run_id_ == 0) {
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(lock_);
      first = !started_;
    }
    bool previous_clean = true;
    PGresult* r = PQexec(conn_, "SELECT clean_stop FROM rthub_runs ORDER BY id DESC LIMIT 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      PQclear(r);
      disconnect();
      return false;
    }
    if (PQntuples(r) == 1) previous_clean = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    std::vector<std::pair<std::string, Position>> positions;
    if (first && previous_clean) {
      r = PQexec(conn_, "SELECT channel, epoch, seq FROM rthub_positions");
      if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        disconnect();
        return false;
      }
      for (int i = 0; i < PQntuples(r); ++i)
        positions.emplace_back(
            PQgetvalue(r, i, 0),
            Position{PQgetvalue(r, i, 1), std::strtoull(PQgetvalue(r, i, 2), nullptr, 10)});
      PQclear(r);
    }
    if (first && !previous_clean)
      std::fprintf(stderr, "rthub: the last run did not stop cleanly: channels start new epochs\n");
    r = PQexec(conn_, "INSERT INTO rthub_runs DEFAULT VALUES RETURNING id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      PQclear(r);
      disconnect();
      return false;
    }
    run_id_ = std::strtoll(PQgetvalue(r, 0, 0), nullptr, 10);
    PQclear(r);
    std::lock_guard<std::mutex> lock(lock_);
    if (!started_) {
      continued_ = previous_clean;
      positions_ = std::move(positions);
    }
  }
  if (warned_unreachable_) std::fprintf(stderr, "rthub: PostgreSQL reachable again\n");
  warned_unreachable_ = false;
  up_ = true;
  return true;
}

void PostgresStore::disconnect() {
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
  up_ = false;
}

bool PostgresStore::exec(const char* sql) {
  PGresult* r = PQexec(conn_, sql);
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  PQclear(r);
  return ok;
}

bool PostgresStore::connection_lost() const {
  return !conn_ || PQstatus(conn_) != CONNECTION_OK;
}

size_t PostgresStore::write_batch(const std::vector<Pending>& batch) {
  if (insert(batch, 0, batch.size())) return batch.size();
  if (connection_lost()) return 0;
  // PostgreSQL refused the statement itself: some row is not storable (jsonb takes no \u0000).
  // Row by row, skipping the refused ones, so that one bad message does not stop the rest.
  for (size_t i = 0; i < batch.size(); ++i) {
    if (insert(batch, i, 1)) continue;
    if (connection_lost()) return i;
    rejected_++;
    if (!warned_reject_) {
      warned_reject_ = true;
      std::fprintf(
          stderr,
          "rthub: PostgreSQL refused a message of %s (counted in rthub_history_rejected_total): %s",
          batch[i].message.channel.c_str(), PQerrorMessage(conn_));
    }
  }
  return batch.size();
}

bool PostgresStore::insert(const std::vector<Pending>& rows, size_t from, size_t count) {
  // One statement: the messages, and each channel's last position among them (for a restart).
  constexpr int kColumns = 7;
  std::vector<std::string> texts;
  std::vector<const char*> params;
  texts.reserve(count * (kColumns - 1) + 3 * count);
  params.reserve(count * kColumns + 3 * count);
  std::string sql =
      "WITH written AS (INSERT INTO rthub_messages (channel, epoch, seq, type, data, ts, key) "
      "VALUES ";
  for (size_t i = 0; i < count; ++i) {
    const Message& m = rows[from + i].message;
    size_t n = params.size();
    if (i) sql += ',';
    sql += "($" + std::to_string(n + 1) + ",$" + std::to_string(n + 2) + ",$" +
           std::to_string(n + 3) + "::bigint,$" + std::to_string(n + 4) + ",$" +
           std::to_string(n + 5) + "::jsonb,to_timestamp($" + std::to_string(n + 6) +
           "::bigint / 1000.0),$" + std::to_string(n + 7) + ")";
    params.push_back(m.channel.c_str());
    params.push_back(m.position.epoch.c_str());
    texts.push_back(bigint(m.position.seq));
    params.push_back(texts.back().c_str());
    params.push_back(m.type.c_str());
    params.push_back(m.data.c_str());
    texts.push_back(std::to_string(m.ts_ms));
    params.push_back(texts.back().c_str());
    params.push_back(m.idempotency_key.empty() ? nullptr : m.idempotency_key.c_str());
  }
  sql += " ON CONFLICT DO NOTHING) INSERT INTO rthub_positions (channel, epoch, seq) VALUES ";
  std::unordered_map<std::string, size_t> last;  // channel -> its last row in this batch
  std::vector<size_t> order;
  for (size_t i = 0; i < count; ++i) {
    auto [it, fresh] = last.emplace(rows[from + i].message.channel, i);
    if (fresh)
      order.push_back(i);
    else
      it->second = i;
  }
  bool first = true;
  for (size_t head : order) {
    const Message& m = rows[from + last[rows[from + head].message.channel]].message;
    size_t n = params.size();
    if (!first) sql += ',';
    first = false;
    sql += "($" + std::to_string(n + 1) + ",$" + std::to_string(n + 2) + ",$" +
           std::to_string(n + 3) + "::bigint)";
    params.push_back(m.channel.c_str());
    params.push_back(m.position.epoch.c_str());
    texts.push_back(bigint(m.position.seq));
    params.push_back(texts.back().c_str());
  }
  sql +=
      " ON CONFLICT (channel) DO UPDATE SET epoch = EXCLUDED.epoch, seq = EXCLUDED.seq"
      " WHERE rthub_positions.epoch <> EXCLUDED.epoch OR rthub_positions.seq < EXCLUDED.seq";
  PGresult* r = PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                             params.data(), nullptr, nullptr, 0);
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (ok) written_ += count;
  return ok;
}

bool PostgresStore::serve(Read& read) {
  const StoreRange& q = read.range;
  std::string after = bigint(q.after), before = bigint(q.before), limit = std::to_string(q.limit);
  const char* values[] = {q.channel.c_str(), q.epoch.c_str(), after.c_str(), before.c_str(),
                          limit.c_str()};
  std::string sql =
      "SELECT seq, type, data::text, round(extract(epoch FROM ts) * 1000)::bigint, key FROM "
      "rthub_messages"
      " WHERE channel = $1 AND epoch = $2 AND seq > $3::bigint AND seq < $4::bigint ORDER BY seq";
  sql += q.newest_first ? " DESC LIMIT $5::bigint" : " LIMIT $5::bigint";
  PGresult* r = PQexecParams(conn_, sql.c_str(), 5, nullptr, values, nullptr, nullptr, 0);
  StoreRead result;
  result.ok = PQresultStatus(r) == PGRES_TUPLES_OK;
  if (result.ok) {
    int n = PQntuples(r);
    result.messages.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      Message& m =
          result.messages[q.newest_first ? static_cast<size_t>(n - 1 - i) : static_cast<size_t>(i)];
      m.channel = q.channel;
      m.position = Position{q.epoch, std::strtoull(PQgetvalue(r, i, 0), nullptr, 10)};
      m.type = PQgetvalue(r, i, 1);
      m.data = PQgetvalue(r, i, 2);
      m.ts_ms = std::strtoll(PQgetvalue(r, i, 3), nullptr, 10);
      if (!PQgetisnull(r, i, 4)) m.idempotency_key = PQgetvalue(r, i, 4);
    }
  }
  PQclear(r);
  bool lost = !result.ok && connection_lost();
  read.done(result);
  return !lost;
}

void PostgresStore::expire() {
  std::string ttl = std::to_string(settings_.ttl_seconds);
  const char* values[] = {ttl.c_str()};
  std::string sql =
      "DELETE FROM rthub_messages WHERE ctid IN (SELECT ctid FROM rthub_messages WHERE ts < now() "
      "- make_interval("
      "secs => $1::bigint) LIMIT " +
      std::to_string(kExpireRows) + ")";
  for (;;) {  // in batches, until a batch finds fewer than its size
    PGresult* r = PQexecParams(conn_, sql.c_str(), 1, nullptr, values, nullptr, nullptr, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    long deleted = ok ? std::strtol(PQcmdTuples(r), nullptr, 10) : 0;
    PQclear(r);
    if (!ok || deleted < kExpireRows) return;
    std::lock_guard<std::mutex> lock(lock_);
    if (stopping_ || !pending_.empty() || !reads_.empty())
      return;  // writes first; the rest next time
  }
}

}  // namespace rthub
