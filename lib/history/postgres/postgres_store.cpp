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
    " clean_stop boolean NOT NULL DEFAULT false);"
    // A message's own key (the keyed state's, not the idempotency key in `key`): tables made
    // before keyed messages were stored get the columns (checked first: no lock when present).
    "DO $$ BEGIN"
    " IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'rthub_messages'::regclass"
    "  AND attname = 'item_key' AND NOT attisdropped) THEN"
    "  ALTER TABLE rthub_messages ADD COLUMN IF NOT EXISTS item_key text NULL,"
    "   ADD COLUMN IF NOT EXISTS deleted boolean NOT NULL DEFAULT false;"
    " END IF; END $$;"
    "CREATE TABLE IF NOT EXISTS rthub_keys ("
    " channel text NOT NULL, key text NOT NULL, epoch text NOT NULL, seq bigint NOT NULL,"
    " type text NOT NULL, data jsonb NOT NULL, ts timestamptz NOT NULL,"
    " PRIMARY KEY (channel, key));";

// Rows deleted per retention statement: short transactions, no long lock on the table.
constexpr int kExpireRows = 5000;
constexpr int64_t kExpireEveryMs = 10'000;

}  // namespace

PostgresStore::PostgresStore(Settings settings) : settings_(std::move(settings)) {}

PostgresStore::~PostgresStore() {
  stop(0);
}

PostgresStore::Restart PostgresStore::start(int wait_ms) {
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
  Restart restart = std::move(restart_);
  if (!continued_) restart.positions.clear();
  return restart;
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
    Restart restart;
    std::vector<std::pair<std::string, Position>>& positions = restart.positions;
    if (first && settings_.keep_keys && !read_keys(previous_clean, restart.keys)) {
      disconnect();
      return false;
    }
    // This run began without the keys (PostgreSQL answered too late): its keyed state is what its
    // publishes make, so the table must not bring back the older keys at the next restart.
    if (!first && settings_.keep_keys && !exec("DELETE FROM rthub_keys")) {
      disconnect();
      return false;
    }
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
      restart_ = std::move(restart);
    }
  }
  if (warned_unreachable_) std::fprintf(stderr, "rthub: PostgreSQL reachable again\n");
  warned_unreachable_ = false;
  up_ = true;
  return true;
}

bool PostgresStore::read_keys(bool continued, std::vector<KeyedChannel>& keys) {
  // Seq order within a channel holds across epochs too: a new epoch goes on from the last seq.
  PGresult* r = PQexec(conn_,
                       "SELECT k.channel, k.key, k.epoch, k.seq, k.type, k.data::text,"
                       " round(extract(epoch FROM k.ts) * 1000)::bigint, p.epoch, p.seq"
                       " FROM rthub_keys k LEFT JOIN rthub_positions p ON p.channel = k.channel"
                       " ORDER BY k.channel, k.seq");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    PQclear(r);
    return false;
  }
  for (int i = 0; i < PQntuples(r); ++i) {
    std::string channel = PQgetvalue(r, i, 0);
    if (keys.empty() || keys.back().channel != channel) {
      KeyedChannel state;
      state.channel = channel;
      if (!PQgetisnull(r, i, 7)) {
        state.at.seq = std::strtoull(PQgetvalue(r, i, 8), nullptr, 10);
        if (continued) state.at.epoch = PQgetvalue(r, i, 7);
      }
      keys.push_back(std::move(state));
    }
    KeyedChannel& state = keys.back();
    Message m;
    m.channel = std::move(channel);
    m.key = PQgetvalue(r, i, 1);
    m.position = Position{PQgetvalue(r, i, 2), std::strtoull(PQgetvalue(r, i, 3), nullptr, 10)};
    m.type = PQgetvalue(r, i, 4);
    m.data = PQgetvalue(r, i, 5);
    m.ts_ms = std::strtoll(PQgetvalue(r, i, 6), nullptr, 10);
    // The position row and the key rows are written together; a channel's seq is never behind
    // its keys (the max also covers a position row removed by hand).
    if (m.position.seq > state.at.seq) {
      state.at.seq = m.position.seq;
      if (continued) state.at.epoch = m.position.epoch;
    }
    state.items.push_back(std::move(m));
  }
  PQclear(r);
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
  // One statement: the messages, their keys' latest state, and each channel's last position among
  // them (for a restart). `texts` never reallocates: `params` points into it.
  constexpr int kColumns = 9;
  std::vector<std::string> texts;
  std::vector<const char*> params;
  texts.reserve(3 * count + 3 * count + 2 * count);
  params.reserve(count * kColumns + 7 * count + 3 * count);
  std::string sql =
      "WITH written AS (INSERT INTO rthub_messages"
      " (channel, epoch, seq, type, data, ts, key, item_key, deleted) VALUES ";
  for (size_t i = 0; i < count; ++i) {
    const Message& m = rows[from + i].message;
    size_t n = params.size();
    if (i) sql += ',';
    sql += "($" + std::to_string(n + 1) + ",$" + std::to_string(n + 2) + ",$" +
           std::to_string(n + 3) + "::bigint,$" + std::to_string(n + 4) + ",$" +
           std::to_string(n + 5) + "::jsonb,to_timestamp($" + std::to_string(n + 6) +
           "::bigint / 1000.0),$" + std::to_string(n + 7) + ",$" + std::to_string(n + 8) + ",$" +
           std::to_string(n + 9) + "::boolean)";
    params.push_back(m.channel.c_str());
    params.push_back(m.position.epoch.c_str());
    texts.push_back(bigint(m.position.seq));
    params.push_back(texts.back().c_str());
    params.push_back(m.type.c_str());
    params.push_back(m.data.c_str());
    texts.push_back(std::to_string(m.ts_ms));
    params.push_back(texts.back().c_str());
    params.push_back(m.idempotency_key.empty() ? nullptr : m.idempotency_key.c_str());
    params.push_back(m.key.empty() ? nullptr : m.key.c_str());
    params.push_back(m.deleted ? "true" : "false");
  }
  sql += " ON CONFLICT DO NOTHING)";
  if (settings_.keep_keys) add_key_writes(rows, from, count, sql, texts, params);
  sql += " INSERT INTO rthub_positions (channel, epoch, seq) VALUES ";
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

void PostgresStore::add_key_writes(const std::vector<Pending>& rows, size_t from, size_t count,
                                   std::string& sql, std::vector<std::string>& texts,
                                   std::vector<const char*>& params) const {
  // A statement may touch a row once: only the last message of each (channel, key) of the batch
  // counts, and it replaces (or removes) the stored one only if it is newer: a batch written
  // again after a lost answer changes nothing.
  std::unordered_map<std::string, size_t> last;  // channel + '\0' + key -> its last row here
  std::vector<size_t> order;
  for (size_t i = 0; i < count; ++i) {
    const Message& m = rows[from + i].message;
    if (m.key.empty()) continue;
    auto [it, fresh] = last.emplace(m.channel + '\0' + m.key, i);
    if (fresh)
      order.push_back(i);
    else
      it->second = i;
  }
  std::string kept, removed;
  for (size_t head : order) {
    const Message& h = rows[from + head].message;
    const Message& m = rows[from + last[h.channel + '\0' + h.key]].message;
    auto param = [&](const char* value) {
      params.push_back(value);
      return "$" + std::to_string(params.size());
    };
    std::string channel = param(m.channel.c_str()), key = param(m.key.c_str()),
                epoch = param(m.position.epoch.c_str());
    texts.push_back(bigint(m.position.seq));
    std::string seq = param(texts.back().c_str());
    if (m.deleted) {
      removed += std::string(removed.empty() ? "" : ",") + "(" + channel + "," + key + "," + epoch +
                 "," + seq + "::bigint)";
      continue;
    }
    std::string type = param(m.type.c_str()), data = param(m.data.c_str());
    texts.push_back(std::to_string(m.ts_ms));
    std::string ts = param(texts.back().c_str());
    kept += std::string(kept.empty() ? "" : ",") + "(" + channel + "," + key + "," + epoch + "," +
            seq + "::bigint," + type + "," + data + "::jsonb,to_timestamp(" + ts +
            "::bigint / 1000.0))";
  }
  if (!kept.empty())
    sql += ", kept AS (INSERT INTO rthub_keys (channel, key, epoch, seq, type, data, ts) VALUES " +
           kept +
           " ON CONFLICT (channel, key) DO UPDATE SET epoch = EXCLUDED.epoch, seq = EXCLUDED.seq,"
           " type = EXCLUDED.type, data = EXCLUDED.data, ts = EXCLUDED.ts"
           " WHERE rthub_keys.epoch <> EXCLUDED.epoch OR rthub_keys.seq < EXCLUDED.seq)";
  if (!removed.empty())
    sql += ", removed AS (DELETE FROM rthub_keys k USING (VALUES " + removed +
           ") AS d (channel, key, epoch, seq) WHERE k.channel = d.channel AND k.key = d.key"
           " AND (k.epoch <> d.epoch OR k.seq < d.seq))";
}

bool PostgresStore::serve(Read& read) {
  const StoreRange& q = read.range;
  std::string after = bigint(q.after), before = bigint(q.before), limit = std::to_string(q.limit);
  const char* values[] = {q.channel.c_str(), q.epoch.c_str(), after.c_str(), before.c_str(),
                          limit.c_str()};
  std::string sql =
      "SELECT seq, type, data::text, round(extract(epoch FROM ts) * 1000)::bigint, key, item_key,"
      " deleted FROM rthub_messages"
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
      if (!PQgetisnull(r, i, 5)) m.key = PQgetvalue(r, i, 5);
      m.deleted = PQgetvalue(r, i, 6)[0] == 't';
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
