#include "core/metrics.hpp"

namespace rthub {
namespace metrics_text {

void line(std::string& out, const char* name, const char* labels, uint64_t v) {
  out += name;
  out += labels;
  out.push_back(' ');
  out += std::to_string(v);
  out.push_back('\n');
}

void head(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out.push_back(' ');
  out += help;
  out += "\n# TYPE ";
  out += name;
  out.push_back(' ');
  out += type;
  out.push_back('\n');
}

}  // namespace metrics_text

using metrics_text::head;
using metrics_text::line;

namespace {

size_t bucket_of(int64_t us) {
  double ms = static_cast<double>(us) / 1000.0;
  size_t i = 0;
  while (i < WriteTally::kBoundsMs.size() && ms > WriteTally::kBoundsMs[i]) ++i;
  return i;
}

}  // namespace

void WriteTally::observe_latency_us(int64_t us) {
  if (us < 0) us = 0;
  latency_buckets[bucket_of(us)]++;
  latency_sum_us += static_cast<uint64_t>(us);
}

void LatencyHistogram::observe_us(int64_t us) {
  if (us < 0) us = 0;
  buckets_[bucket_of(us)].add();
  count_.add();
  sum_us_.add(static_cast<uint64_t>(us));
}

void LatencyHistogram::add(const WriteTally& tally) {
  uint64_t count = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    if (tally.latency_buckets[i]) buckets_[i].add(tally.latency_buckets[i]);
    count += tally.latency_buckets[i];
  }
  count_.add(count);
  sum_us_.add(tally.latency_sum_us);
}

void Metrics::add(const WriteTally& tally) {
  bytes_sent.add(tally.bytes);
  deliveries.add(tally.deliveries);
  latency.add(tally);
}

void LatencyHistogram::render(std::string& out, const char* name) const {
  uint64_t cumulative = 0;
  std::string bucket = std::string(name) + "_bucket";
  for (size_t i = 0; i <= kBoundsMs.size(); ++i) {
    cumulative += buckets_[i].get();
    std::string le = i < kBoundsMs.size() ? std::to_string(kBoundsMs[i] / 1000.0) : "+Inf";
    if (i < kBoundsMs.size()) {
      while (le.size() > 1 && le.back() == '0') le.pop_back();
      if (le.back() == '.') le.pop_back();
    }
    line(out, bucket.c_str(), ("{le=\"" + le + "\"}").c_str(), cumulative);
  }
  out +=
      std::string(name) + "_sum " + std::to_string(static_cast<double>(sum_us_.get()) / 1e6) + "\n";
  line(out, (std::string(name) + "_count").c_str(), "", count_.get());
}

HubStats Metrics::snapshot() const {
  HubStats s;
  for (size_t i = 0; i < TransportKind::registered_count(); ++i) {
    const TransportCounters& c = transports[i];
    s.transports.push_back(TransportStats{TransportKind::registered(i)->name(), c.open.get(),
                                          c.accepted.get(), c.reconnects.get(), c.fallbacks.get()});
    s.reconnects += c.reconnects.get();
  }
  s.subscriptions = subscriptions.get();
  s.channels = channels.get();
  s.messages_published = published.get();
  s.deliveries = deliveries.get();
  s.bytes_sent = bytes_sent.get();
  s.resumes_recovered = resumes_recovered.get();
  s.resumes_lost = resumes_lost.get();
  s.slow_consumers_dropped = slow_consumers.get();
  for (const auto& e : errors) s.errors += e.get();
  s.history_bytes = history_bytes.get();
  for (const auto& a : auth_failures) s.auth_failures += a.get();
  return s;
}

uint64_t Metrics::open_total() const {
  uint64_t n = 0;
  for (const auto& c : transports) n += c.open.get();
  return n;
}

namespace {

// One line per registered transport, labelled with its name.
void per_transport(std::string& out, const char* name,
                   const std::array<TransportCounters, kMaxTransports>& transports,
                   Counter TransportCounters::*field) {
  for (size_t i = 0; i < TransportKind::registered_count(); ++i) {
    std::string labels = "{transport=\"" + TransportKind::registered(i)->name() + "\"}";
    line(out, name, labels.c_str(), (transports[i].*field).get());
  }
}

}  // namespace

std::string Metrics::render() const {
  std::string out;
  out.reserve(4096);
  head(out, "rthub_connections", "gauge", "Open connections by transport.");
  per_transport(out, "rthub_connections", transports, &TransportCounters::open);
  head(out, "rthub_connections_accepted_total", "counter", "Connections accepted by transport.");
  per_transport(out, "rthub_connections_accepted_total", transports, &TransportCounters::accepted);
  head(out, "rthub_connections_refused_total", "counter",
       "Connections refused before upgrade, by reason.");
  line(out, "rthub_connections_refused_total", "{reason=\"max_connections\"}",
       refused[static_cast<size_t>(Refusal::kMaxConnections)].get());
  line(out, "rthub_connections_refused_total", "{reason=\"max_connections_per_ip\"}",
       refused[static_cast<size_t>(Refusal::kMaxPerIp)].get());
  line(out, "rthub_connections_refused_total", "{reason=\"connect_rate\"}",
       refused[static_cast<size_t>(Refusal::kConnectRate)].get());
  line(out, "rthub_connections_refused_total", "{reason=\"origin\"}",
       refused[static_cast<size_t>(Refusal::kOrigin)].get());
  line(out, "rthub_connections_refused_total", "{reason=\"fd_exhausted\"}",
       refused[static_cast<size_t>(Refusal::kFdExhausted)].get());
  head(out, "rthub_connections_limit", "gauge", "The max_connections in force (0: no limit).");
  line(out, "rthub_connections_limit", "", connections_limit.get());
  head(out, "rthub_fd_exhaustion_episodes_total", "counter",
       "Times accepting connections ran out of file descriptors (EMFILE/ENFILE).");
  line(out, "rthub_fd_exhaustion_episodes_total", "", fd_shortages.get());
  head(out, "rthub_http_publishes_total", "counter",
       "POST /publish requests, by the HTTP parser that read them.");
  line(out, "rthub_http_publishes_total", "{parser=\"hub\"}", http_publishes_hub.get());
  line(out, "rthub_http_publishes_total", "{parser=\"libwebsockets\"}", http_publishes_lws.get());
  head(out, "rthub_http_handovers_total", "counter",
       "Publish connections handed to libwebsockets for a request other than POST /publish.");
  line(out, "rthub_http_handovers_total", "", http_handovers.get());
  head(out, "rthub_flush_sends_total", "counter",
       "Writes of the flush pass on plain-text connections, by how they reached the kernel.");
  line(out, "rthub_flush_sends_total", "{via=\"io_uring\"}", flush_sends_io_uring.get());
  line(out, "rthub_flush_sends_total", "{via=\"send\"}", flush_sends_plain.get());
  head(out, "rthub_auth_failures_total", "counter",
       "Connections refused for their token or by the host's hook, by reason.");
  static const char* const kAuth[] = {"missing", "malformed",     "bad_algorithm", "bad_signature",
                                      "expired", "not_yet_valid", "hook"};
  for (size_t i = 0; i < auth_failures.size(); ++i)
    line(out, "rthub_auth_failures_total", (std::string("{reason=\"") + kAuth[i] + "\"}").c_str(),
         auth_failures[i].get());
  head(out, "rthub_forbidden_total", "counter",
       "Subscribes and client publishes refused by the connection's rights.");
  line(out, "rthub_forbidden_total", "", forbidden.get());
  head(out, "rthub_subscriptions", "gauge", "Channel subscriptions held by open connections.");
  line(out, "rthub_subscriptions", "", subscriptions.get());
  head(out, "rthub_channels", "gauge", "Channels with subscribers or retained history.");
  line(out, "rthub_channels", "", channels.get());
  head(out, "rthub_messages_published_total", "counter",
       "Messages published (positions assigned).");
  line(out, "rthub_messages_published_total", "", published.get());
  head(out, "rthub_deliveries_total", "counter", "Messages written to subscribers.");
  line(out, "rthub_deliveries_total", "", deliveries.get());
  head(out, "rthub_bytes_sent_total", "counter", "Bytes of frames written to clients.");
  line(out, "rthub_bytes_sent_total", "", bytes_sent.get());
  head(out, "rthub_resumes_total", "counter", "Subscriptions that asked to resume, by outcome.");
  line(out, "rthub_resumes_total", "{recovered=\"true\"}", resumes_recovered.get());
  line(out, "rthub_resumes_total", "{recovered=\"false\"}", resumes_lost.get());
  head(out, "rthub_snapshots_sent_total", "counter",
       "Keyed snapshots sent to subscribers that asked for one.");
  line(out, "rthub_snapshots_sent_total", "", snapshots_sent.get());
  head(out, "rthub_reconnects_total", "counter",
       "Connections that came back asking to resume, by transport.");
  per_transport(out, "rthub_reconnects_total", transports, &TransportCounters::reconnects);
  head(out, "rthub_fallbacks_total", "counter",
       "Connections a client opened as a fallback from another transport (?fallback=1).");
  per_transport(out, "rthub_fallbacks_total", transports, &TransportCounters::fallbacks);
  // The same counts under the older per-transport names (rthub_<transport>_fallbacks_total),
  // which dashboards may still read.
  for (size_t i = 0; i < TransportKind::registered_count(); ++i) {
    std::string name = "rthub_" + TransportKind::registered(i)->name() + "_fallbacks_total";
    head(out, name.c_str(), "counter", "Deprecated: rthub_fallbacks_total by transport.");
    line(out, name.c_str(), "", transports[i].fallbacks.get());
  }
  head(out, "rthub_slow_consumers_dropped_total", "counter",
       "Sessions dropped because their queue passed its bound.");
  line(out, "rthub_slow_consumers_dropped_total", "", slow_consumers.get());
  head(out, "rthub_heartbeats_sent_total", "counter", "Ping objects sent on idle streams.");
  line(out, "rthub_heartbeats_sent_total", "", heartbeats_sent.get());
  head(out, "rthub_heartbeat_timeouts_total", "counter",
       "Connections dropped after three heartbeats without an answer (transports that probe).");
  line(out, "rthub_heartbeat_timeouts_total", "", heartbeat_timeouts.get());
  head(out, "rthub_errors_total", "counter", "Error objects and error statuses sent, by code.");
  for (size_t i = 0; i < errors.size(); ++i) {
    std::string labels =
        std::string("{code=\"") + codec::error_code_name(static_cast<codec::ErrorCode>(i)) + "\"}";
    line(out, "rthub_errors_total", labels.c_str(), errors[i].get());
  }
  head(out, "rthub_history_bytes", "gauge", "Bytes held by retained history.");
  line(out, "rthub_history_bytes", "", history_bytes.get());
  head(out, "rthub_delivery_latency_seconds", "histogram",
       "Time from publish to the write of a message to a subscriber's socket.");
  latency.render(out, "rthub_delivery_latency_seconds");
  head(out, "rthub_loop_busy_seconds", "histogram",
       "Time each event-loop iteration kept a service thread busy (waiting for events excluded).");
  loop_busy.render(out, "rthub_loop_busy_seconds");
  head(out, "rthub_loop_cpu_seconds", "histogram",
       "CPU time each event-loop iteration used on its service thread (time not scheduled "
       "excluded).");
  loop_cpu.render(out, "rthub_loop_cpu_seconds");
  head(out, "rthub_fanout_queued_seconds", "histogram",
       "Per message and shard: time from publish until every subscriber's copy was queued.");
  fanout_queued.render(out, "rthub_fanout_queued_seconds");
  head(out, "rthub_fanout_first_write_seconds", "histogram",
       "Per message and shard: time from publish to the first subscriber's socket write.");
  fanout_first_write.render(out, "rthub_fanout_first_write_seconds");
  head(out, "rthub_fanout_last_write_seconds", "histogram",
       "Per message and shard: time from publish to the last subscriber's socket write.");
  fanout_last_write.render(out, "rthub_fanout_last_write_seconds");
  std::lock_guard<std::mutex> guard(extensions_lock_);
  for (const auto& e : extensions_) e->render(out);
  return out;
}

}  // namespace rthub
