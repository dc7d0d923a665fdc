// hub.cpp: the public Hub: assembles core, broker and server, owns the service thread and the
// queue through which other threads hand work to it.
#include "rthub/hub.hpp"

#include "rthub/rthub.h"

#include <atomic>
#include <future>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "broker/memory/memory_broker.hpp"
#include "broker/redis/redis_broker.hpp"
#include "broker/shared/shared_broker.hpp"
#include "core/channel_name.hpp"
#include "core/hub_core.hpp"
#include "core/json_scan.hpp"
#include "core/options_check.hpp"
#include "core/utf8.hpp"
#include "history/persisting_broker.hpp"
#include "history/postgres/postgres_store.hpp"
#include "transport/lws_server.hpp"

namespace rthub {
namespace {

// Many nodes as one hub, through one Redis or a Redis Cluster (RedisBroker).
bool uses_redis(const HubOptions& options) {
  return !options.redis_url.empty() || !options.redis_cluster.empty();
}

// Work handed to the service thread by other threads. Each run of the hub has its own queue,
// shared with whatever may post later (a host's completion), so that a post after the hub stopped,
// restarted or was freed finds a closed queue rather than freed memory.
class ServiceQueue {
 public:
  bool post(std::function<void()> task) {
    std::lock_guard<std::mutex> lock(lock_);
    if (!wake_) return false;
    tasks_.push_back(std::move(task));
    if (tasks_.size() == 1) wake_();
    return true;
  }
  void open(std::function<void()> wake) {
    std::lock_guard<std::mutex> lock(lock_);
    wake_ = std::move(wake);
  }
  std::vector<std::function<void()>> take() {
    std::vector<std::function<void()>> batch;
    std::lock_guard<std::mutex> lock(lock_);
    batch.swap(tasks_);
    return batch;
  }
  // Refuses further posts and drops what waits: their promises break, so waiting publishers
  // learn that the hub stopped. The tasks die outside the lock.
  void close() {
    std::vector<std::function<void()>> dropped;
    std::lock_guard<std::mutex> lock(lock_);
    wake_ = nullptr;
    dropped.swap(tasks_);
  }

 private:
  std::mutex lock_;
  std::function<void()> wake_;  // empty while closed
  std::vector<std::function<void()>> tasks_;
};

}  // namespace

namespace {

// What the thread serving one shard works with, for tasks posted to it.
struct ShardContext {
  HubCore* core;
  LwsServer* server;
  Broker* broker;
};
thread_local const void* t_serving_hub = nullptr;  // the Hub::Impl this thread serves, if any
thread_local ShardContext* t_shard = nullptr;

}  // namespace

// Hidden: a nested class of an exported one would otherwise be exported with it.
class __attribute__((visibility("hidden"))) Hub::Impl {
 public:
  explicit Impl(HubOptions options) : options_(std::move(options)) {}

  // Starts shard 0 on the asked port, then the others on the port it bound (SO_REUSEPORT).
  void start() {
    std::lock_guard<std::mutex> guard(lifecycle_);
    if (!threads_.empty()) throw Error(Errc::kState, "hub already started");
    size_t shards = static_cast<size_t>(options_.shards);  // 1 to 64: checked_hub_options
    metrics_.connections_limit.set(options_.max_connections);
    if (shards > 1 && !uses_redis(options_))
      shared_.reset(new SharedBroker(
          options_.history_size, options_.history_ttl_seconds, shards,
          [this] { metrics_.published.add(); }, options_.idempotency_window_seconds,
          options_.max_keys));
    restart_ = PostgresStore::Restart{};
    // Connection ids name one connection across nodes (presence lists them): with Redis, each
    // start numbers under a random 20-bit prefix, ids stay below 2^52 (exact in JavaScript).
    node_id_base_ =
        uses_redis(options_) ? (uint64_t{std::random_device{}() % 0xFFFFF} + 1) << 32 : 0;
    if (!options_.postgres_conninfo.empty()) {
      PostgresStore::Settings settings;
      settings.conninfo = options_.postgres_conninfo;
      settings.patterns = options_.persist_patterns;
      settings.ttl_seconds = options_.persist_ttl_seconds;
      settings.buffer = options_.persist_buffer;
      // With Redis the positions live in Redis; a single node continues its own from the table.
      settings.track_runs = !uses_redis(options_);
      // With Redis the keys live in Redis too (written with the seq, they survive a node's
      // restart).
      settings.keep_keys = settings.track_runs;
      store_.reset(new PostgresStore(std::move(settings)));
      // Hub::start may wait (it is the host's thread, never a service thread): a restarted node
      // must know where its channels stood before it takes its first publish.
      restart_ = store_->start(kStoreStartWaitMs);
      if (shared_) {
        for (const auto& [channel, position] : restart_.positions) shared_->seed(channel, position);
        for (auto& keyed : restart_.keys)
          shared_->seed_keys(keyed.channel, keyed.at, std::move(keyed.items));
      }
    }
    {
      std::lock_guard<std::mutex> lock(queue_lock_);
      queues_.assign(shards, nullptr);
    }
    try {
      for (size_t i = 0; i < shards; ++i) start_shard(i, i == 0 ? options_.port : port_.load());
    } catch (...) {
      stop_shards();
      throw;
    }
  }

  void stop() {
    std::lock_guard<std::mutex> guard(lifecycle_);
    stop_shards();
  }

  int port() const { return port_; }

  void publish_async(const std::string& channel, const std::string& type, const std::string& data,
                     PublishDone done, const PublishOptions& options) {
    Message m = checked(channel, type, data);
    // check_publish_options (Hub::publish_async) has checked the key.
    m.idempotency_key = options.idempotency_key;
    m.key = options.key;
    m.deleted = options.delete_key;
    // One channel's messages go through one shard, so that a host's publishes keep their order.
    size_t shard = shard_count_ > 1 ? std::hash<std::string>{}(m.channel) % shard_count_ : 0;
    bool queued = post(shard, [m = std::move(m), done = std::move(done)]() mutable {
      t_shard->core->publish(std::move(m), [done = std::move(done)](const PublishOutcome& outcome) {
        if (!done) return;
        done(outcome.error == BrokerError::kOk               ? Errc::kOk
             : outcome.error == BrokerError::kUnknownOutcome ? Errc::kUnknownOutcome
             : outcome.error == BrokerError::kTooManyKeys    ? Errc::kInvalid
             : outcome.error == BrokerError::kUnsupported    ? Errc::kInvalid
                                                             : Errc::kUnavailable,
             outcome.position);
      });
    });
    if (!queued) throw Error(Errc::kState, "hub is not running");
  }

  Position publish(const std::string& channel, const std::string& type, const std::string& data,
                   const PublishOptions& options) {
    if (t_serving_hub == this)
      throw Error(Errc::kState, "publish would wait on its own service thread; use publish_async");
    // Only the task holds the promise: if the hub stops before the task runs, dropping the task
    // breaks the promise and this wait ends.
    auto result = std::make_shared<std::promise<std::pair<Errc, Position>>>();
    auto future = result->get_future();
    publish_async(
        channel, type, data,
        [result = std::move(result)](Errc code, const Position& p) {
          result->set_value({code, p});
        },
        options);
    std::pair<Errc, Position> outcome;
    try {
      outcome = future.get();
    } catch (const std::future_error&) {  // the hub stopped before the message was taken
      throw Error(Errc::kState, "hub stopped");
    }
    if (outcome.first == Errc::kUnknownOutcome)
      throw Error(outcome.first,
                  "publish outcome unknown (broker timeout): retry with the same idempotency key");
    if (outcome.first == Errc::kInvalid)
      throw Error(outcome.first, options.key.empty()
                                     ? "refused"
                                     : "keyed publish refused: the channel has max_keys keys, "
                                       "or the broker keeps no keys (Redis)");
    if (outcome.first != Errc::kOk) throw Error(outcome.first, "broker unavailable");
    return outcome.second;
  }

  HubStats stats() const {
    HubStats s = metrics_.snapshot();
    // The fields older hosts read, from the by-name counts.
    if (const TransportStats* ws = s.transport("ws")) {
      s.connections_ws = ws->connections;
      s.accepted_ws = ws->accepted;
    }
    if (const TransportStats* sse = s.transport("sse")) {
      s.connections_sse = sse->connections;
      s.accepted_sse = sse->accepted;
      s.sse_fallbacks = sse->fallbacks;
    }
    return s;
  }

  HistoryPage history(const std::string& channel, const HistoryQuery& query) {
    if (!is_valid_channel_name(channel)) throw Error(Errc::kInvalid, bad_channel_name_text());
    if (query.limit < 1 || query.limit > kMaxHistoryLimit)
      throw Error(Errc::kInvalid, "history limit must be 1 to " + std::to_string(kMaxHistoryLimit));
    if (t_serving_hub == this)
      throw Error(Errc::kState, "history would wait on its own service thread");
    auto result = std::make_shared<std::promise<HistoryPage>>();
    auto future = result->get_future();
    size_t shard = shard_count_ > 1 ? std::hash<std::string>{}(channel) % shard_count_ : 0;
    bool queued = post(shard, [result, channel, query] {
      t_shard->broker->history_page(
          channel, query, [result](HistoryPage& page) { result->set_value(std::move(page)); });
    });
    if (!queued) throw Error(Errc::kState, "hub is not running");
    HistoryPage page;
    try {
      page = future.get();
    } catch (const std::future_error&) {
      throw Error(Errc::kState, "hub stopped");
    }
    if (page.status == HistoryStatus::kNotPersisted)
      throw Error(Errc::kInvalid,
                  "channel " + channel + " is not persisted (postgres_conninfo, persist_patterns)");
    if (page.status == HistoryStatus::kUnavailable)
      throw Error(Errc::kUnavailable, "history store unavailable");
    return page;
  }

  void set_auth_hooks(AuthHooks hooks) {
    std::lock_guard<std::mutex> guard(lifecycle_);
    if (!threads_.empty()) throw Error(Errc::kState, "auth hooks are set before start");
    options_.auth_hooks = std::move(hooks);
  }

 private:
  Message checked(const std::string& channel, const std::string& type,
                  const std::string& data) const {
    if (!is_valid_channel_name(channel)) throw Error(Errc::kInvalid, bad_channel_name_text());
    if (!is_valid_utf8(type)) throw Error(Errc::kInvalid, "type is not valid UTF-8");
    if (data.size() > options_.max_message_bytes)
      throw Error(Errc::kTooLarge, "data over max_message_bytes");
    if (!json::is_valid_json(data)) throw Error(Errc::kInvalid, "data is not one valid JSON value");
    Message m;
    m.channel = channel;
    m.type = type.empty() ? "message" : type;
    m.data = data;
    return m;
  }

  // Queues `task` for shard `index`'s service thread. False when that shard is not serving.
  bool post(size_t index, std::function<void()> task) {
    std::shared_ptr<ServiceQueue> queue;
    {
      std::lock_guard<std::mutex> lock(queue_lock_);
      if (index < queues_.size()) queue = queues_[index];
    }
    return queue && queue->post(std::move(task));
  }

  void start_shard(size_t index, int port) {
    std::promise<void> opened;
    auto ready = opened.get_future();
    threads_.emplace_back([this, index, port, &opened] { serve(index, port, opened); });
    try {
      ready.get();
    } catch (...) {
      threads_.back().join();
      threads_.pop_back();
      throw;
    }
    shard_count_ = index + 1;
  }

  // Caller holds lifecycle_.
  void stop_shards() {
    for (size_t i = 0; i < threads_.size(); ++i) {
      post(i, [] {
        t_shard->broker->stop();
        t_shard->server->begin_stop();
      });
    }
    for (auto& thread : threads_) thread.join();
    threads_.clear();
    shard_count_ = 0;
    shared_.reset();
    if (store_) store_->stop(kStoreDrainMs);  // no shard appends any more
    store_.reset();
    port_ = 0;
  }

  void serve(size_t index, int port, std::promise<void>& opened) {
    t_serving_hub = this;
    HubOptions options = options_;  // this shard's: the port it binds
    options.port = port;
    auto queue = std::make_shared<ServiceQueue>();
    HubCore core(options, metrics_);
    core.set_poster([queue](std::function<void()> task) { queue->post(std::move(task)); });
    core.number_sessions(node_id_base_ + index + 1, static_cast<uint64_t>(options_.shards));
    std::unique_ptr<Broker> broker;
    auto run_tasks = [queue] {
      for (auto& task : queue->take()) task();  // no library lock held: tasks may call the host
    };
    LwsServer server(
        options, core, metrics_,
        LwsServer::Hooks{run_tasks, [&broker] { return broker && broker->ready(); },
                         [&broker](std::string& out) { broker->render_metrics(out); }});
    try {
      server.open(index > 0);
      if (shared_)
        broker = shared_->shard(
            index, [queue](std::function<void()> task) { return queue->post(std::move(task)); });
      else if (!uses_redis(options)) {
        auto memory = new MemoryBroker(options.history_size, options.history_ttl_seconds,
                                       options.idempotency_window_seconds, options.max_keys);
        broker.reset(memory);
        for (const auto& [channel, position] : restart_.positions) memory->seed(channel, position);
        for (const auto& keyed : restart_.keys)
          memory->seed_keys(keyed.channel, keyed.at, keyed.items);
      } else {
        broker.reset(new RedisBroker(static_cast<uv_loop_t*>(server.loop()), options));
      }
      if (store_)
        broker.reset(new PersistingBroker(
            std::move(broker), *store_,
            [queue](std::function<void()> task) { return queue->post(std::move(task)); }));
    } catch (...) {
      t_serving_hub = nullptr;
      opened.set_exception(std::current_exception());
      return;  // ~LwsServer tears the loop down
    }
    core.use_broker(*broker);
    // Every shard sees each message: count it once (with Redis, shard 0 sees all of them).
    if (shared_ || index > 0) core.leave_published_count_to_broker();
    ShardContext context{&core, &server, broker.get()};
    t_shard = &context;
    if (index == 0) port_ = server.port();
    queue->open([&server] { server.wake(); });
    {
      std::lock_guard<std::mutex> lock(queue_lock_);
      queues_[index] = queue;
    }
    opened.set_value();
    server.run();
    queue->close();
    {
      std::lock_guard<std::mutex> lock(queue_lock_);
      queues_[index].reset();
    }
    t_shard = nullptr;
    t_serving_hub = nullptr;
  }

  // How long start() waits for PostgreSQL's positions, and stop() for the last writes.
  static constexpr int kStoreStartWaitMs = 5000;
  static constexpr int kStoreDrainMs = 10000;

  HubOptions options_;
  Metrics metrics_;
  std::mutex lifecycle_;
  std::unique_ptr<PostgresStore> store_;  // with postgres_conninfo, while started
  PostgresStore::Restart restart_;        // positions and keys a restart continues from
  std::vector<std::thread> threads_;      // one per shard serving
  std::atomic<size_t> shard_count_{0};
  uint64_t node_id_base_ = 0;             // added to every connection id (start())
  std::unique_ptr<SharedBroker> shared_;  // with shards and no Redis: their common broker
  std::mutex queue_lock_;
  std::vector<std::shared_ptr<ServiceQueue>> queues_;  // each serving shard's, else null
  std::atomic<int> port_{0};
};

Hub::Hub(HubOptions options) : impl_(new Impl(checked_hub_options(std::move(options)))) {}
Hub::~Hub() {
  impl_->stop();
}
void Hub::start() {
  impl_->start();
}
void Hub::stop() {
  impl_->stop();
}
int Hub::port() const {
  return impl_->port();
}
Position Hub::publish(const std::string& channel, const std::string& type, const std::string& data,
                      const PublishOptions& options) {
  check_publish_options(options);
  return impl_->publish(channel, type, data, options);
}
void Hub::publish_async(const std::string& channel, const std::string& type,
                        const std::string& data, PublishDone done, const PublishOptions& options) {
  check_publish_options(options);
  impl_->publish_async(channel, type, data, std::move(done), options);
}
HubStats Hub::stats() const {
  return impl_->stats();
}
HistoryPage Hub::history(const std::string& channel, const HistoryQuery& query) {
  return impl_->history(channel, query);
}
void Hub::set_auth_hooks(AuthHooks hooks) {
  impl_->set_auth_hooks(std::move(hooks));
}

const char* version() noexcept {
  return RTHUB_VERSION_STRING;
}

}  // namespace rthub
