// metrics.hpp: the hub's counters, written by the service threads (one per shard) and read from
// any thread. Relaxed atomic increments: shards share one set, so /metrics on any shard shows the
// whole hub; an uncontended locked add costs nothing next to the send() a delivery makes.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/codec.hpp"
#include "rthub/hub.hpp"

namespace rthub {

class Counter {
 public:
  void add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  void sub(uint64_t n = 1) { v_.fetch_sub(n, std::memory_order_relaxed); }
  void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// What one service thread wrote since it last reported: plain counters, added to the shared
// Metrics in one go (Metrics::add).
struct WriteTally {
  static constexpr std::array<double, 12> kBoundsMs = {0.5, 1,   2.5, 5,   10,   25,
                                                       50,  100, 250, 500, 1000, 5000};
  uint64_t bytes = 0, deliveries = 0, latency_sum_us = 0;
  std::array<uint64_t, kBoundsMs.size() + 1> latency_buckets{};
  void observe_latency_us(int64_t us);
  bool empty() const { return bytes == 0; }
};

// Publish-to-write latency, in cumulative Prometheus buckets (milliseconds).
class LatencyHistogram {
 public:
  static constexpr auto kBoundsMs = WriteTally::kBoundsMs;
  void observe_us(int64_t us);
  void add(const WriteTally& tally);
  void render(std::string& out, const char* name) const;
  uint64_t count() const { return count_.get(); }

 private:
  std::array<Counter, kBoundsMs.size() + 1> buckets_;
  Counter count_, sum_us_;
};

// kFdExhausted: answered 503 by the listener because the process ran out of file descriptors.
enum class Refusal { kMaxConnections, kMaxPerIp, kConnectRate, kOrigin, kFdExhausted, kCount };
// Why a token or a host hook refused a connection.
enum class AuthFailure {
  kMissing,
  kMalformed,
  kBadAlgorithm,
  kBadSignature,
  kExpired,
  kNotYetValid,
  kHook,
  kCount
};

// Counters a transport keeps of its own (its protocol's failures): shared by the shards like the
// rest, rendered after the hub's own. A transport finds its set with Metrics::extension<T>().
class MetricsExtension {
 public:
  virtual ~MetricsExtension() = default;
  virtual void render(std::string& out) const = 0;
};

// Prometheus text helpers for renderers: a family's HELP and TYPE lines, and one sample.
namespace metrics_text {
void head(std::string& out, const char* name, const char* type, const char* help);
void line(std::string& out, const char* name, const char* labels, uint64_t v);
}  // namespace metrics_text

// The counters kept per transport (TransportKind::index()).
struct TransportCounters {
  Counter open, accepted;
  Counter reconnects;  // connections that came back with a resume position
  Counter fallbacks;   // connections a client marked as a fallback from another transport
};

struct Metrics {
  std::array<TransportCounters, kMaxTransports> transports;
  TransportCounters& of(const TransportKind& kind) { return transports[kind.index()]; }
  uint64_t open_total() const;
  Counter subscriptions, channels;
  Counter published, deliveries, bytes_sent;
  Counter resumes_recovered, resumes_lost;
  Counter slow_consumers, heartbeats_sent, heartbeat_timeouts;
  std::array<Counter, codec::kErrorCodeCount> errors;
  std::array<Counter, static_cast<size_t>(Refusal::kCount)> refused;
  std::array<Counter, static_cast<size_t>(AuthFailure::kCount)> auth_failures;
  Counter forbidden;          // subscribes and publishes refused by rights
  Counter connections_limit;  // the max_connections in force (0: none)
  Counter fd_shortages;       // episodes of accept failing with EMFILE/ENFILE
  Counter snapshots_sent;     // keyed snapshots queued to subscribers
  Counter history_bytes;
  // POST /publish requests by the parser that read them: the hub's own (publish connections) or
  // libwebsockets'; and connections the hub's parser handed to libwebsockets for another request.
  Counter http_publishes_hub, http_publishes_lws, http_handovers;
  // The flush pass's writes on plain-text connections, by how they reached the kernel
  // (socket_batch.hpp).
  Counter flush_sends_io_uring, flush_sends_plain;
  LatencyHistogram latency;
  // How long each event-loop iteration kept the service thread busy (time blocked waiting for
  // events excluded): a long one delays every connection of the shard.
  LatencyHistogram loop_busy;
  // The CPU time the service thread used in each iteration: beside loop_busy, it tells an
  // iteration that worked long from one whose thread was not running (another process, the host).
  LatencyHistogram loop_cpu;
  // One message's fan-out on one shard, from its publish: every subscriber's copy queued, the
  // first copy written to a socket, the last copy written.
  LatencyHistogram fanout_queued, fanout_first_write, fanout_last_write;

  void count_error(codec::ErrorCode code) { errors[static_cast<size_t>(code)].add(); }
  HubStats snapshot() const;
  // Adds what a service thread wrote since it last reported.
  void add(const WriteTally& tally);
  // Prometheus text exposition format 0.0.4.
  std::string render() const;

  // The extension of type T, made on first use (any thread); it lives as long as the Metrics.
  template <typename T>
  T& extension() {
    std::lock_guard<std::mutex> guard(extensions_lock_);
    for (auto& e : extensions_)
      if (auto* found = dynamic_cast<T*>(e.get())) return *found;
    extensions_.push_back(std::make_unique<T>());
    return static_cast<T&>(*extensions_.back());
  }

 private:
  mutable std::mutex extensions_lock_;
  std::vector<std::unique_ptr<MetricsExtension>> extensions_;
};

}  // namespace rthub
