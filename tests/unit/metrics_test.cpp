// Metrics: the Prometheus exposition and the stats snapshot.
#include <catch2/catch.hpp>

#include <string>

#include "core/metrics.hpp"
#include "transport/sse/sse_kind.hpp"
#include "transport/ws/ws_kind.hpp"

using namespace rthub;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST_CASE("Metrics::render names every rthub_ metric with HELP and TYPE", "[metrics]") {
  Metrics m;
  std::string text = m.render();
  REQUIRE_FALSE(text.empty());
  CHECK(text.back() == '\n');
  struct Family {
    const char* name;
    const char* type;
  };
  for (const Family& f :
       {Family{"rthub_connections", "gauge"}, Family{"rthub_connections_accepted_total", "counter"},
        Family{"rthub_connections_refused_total", "counter"},
        Family{"rthub_subscriptions", "gauge"}, Family{"rthub_channels", "gauge"},
        Family{"rthub_messages_published_total", "counter"},
        Family{"rthub_deliveries_total", "counter"}, Family{"rthub_bytes_sent_total", "counter"},
        Family{"rthub_resumes_total", "counter"},
        Family{"rthub_slow_consumers_dropped_total", "counter"},
        Family{"rthub_heartbeats_sent_total", "counter"}, Family{"rthub_errors_total", "counter"},
        Family{"rthub_history_bytes", "gauge"},
        Family{"rthub_delivery_latency_seconds", "histogram"}}) {
    INFO(f.name);
    CHECK(text.find(std::string("# HELP ") + f.name + " ") != std::string::npos);
    CHECK(has_line(text, std::string("# TYPE ") + f.name + " " + f.type));
  }
}

TEST_CASE("Metrics::render writes the current values with their labels", "[metrics]") {
  Metrics m;
  m.of(websocket_kind()).open.add(2);
  m.of(event_stream_kind()).open.add();
  m.of(websocket_kind()).accepted.add(5);
  m.published.add(3);
  m.deliveries.add(7);
  m.resumes_recovered.add();
  m.resumes_lost.add(2);
  m.slow_consumers.add();
  m.subscriptions.add(4);
  m.subscriptions.sub();
  m.channels.set(9);
  m.history_bytes.set(1234);
  m.count_error(codec::ErrorCode::kNotFound);
  m.count_error(codec::ErrorCode::kNotFound);
  m.count_error(codec::ErrorCode::kBadRequest);
  m.refused[static_cast<size_t>(Refusal::kMaxPerIp)].add();
  std::string text = m.render();
  CHECK(has_line(text, "rthub_connections{transport=\"ws\"} 2"));
  CHECK(has_line(text, "rthub_connections{transport=\"sse\"} 1"));
  CHECK(has_line(text, "rthub_connections_accepted_total{transport=\"ws\"} 5"));
  CHECK(has_line(text, "rthub_connections_accepted_total{transport=\"sse\"} 0"));
  CHECK(has_line(text, "rthub_connections_refused_total{reason=\"max_connections\"} 0"));
  CHECK(has_line(text, "rthub_connections_refused_total{reason=\"max_connections_per_ip\"} 1"));
  CHECK(has_line(text, "rthub_subscriptions 3"));
  CHECK(has_line(text, "rthub_channels 9"));
  CHECK(has_line(text, "rthub_messages_published_total 3"));
  CHECK(has_line(text, "rthub_deliveries_total 7"));
  CHECK(has_line(text, "rthub_resumes_total{recovered=\"true\"} 1"));
  CHECK(has_line(text, "rthub_resumes_total{recovered=\"false\"} 2"));
  CHECK(has_line(text, "rthub_slow_consumers_dropped_total 1"));
  CHECK(has_line(text, "rthub_errors_total{code=\"not_found\"} 2"));
  CHECK(has_line(text, "rthub_errors_total{code=\"bad_request\"} 1"));
  CHECK(has_line(text, "rthub_errors_total{code=\"internal\"} 0"));
  CHECK(has_line(text, "rthub_history_bytes 1234"));
}

TEST_CASE("Metrics::render writes cumulative latency buckets in seconds", "[metrics]") {
  Metrics m;
  m.latency.observe_us(300);         // 0.3 ms
  m.latency.observe_us(2000);        // 2 ms
  m.latency.observe_us(-5);          // a clock step: counted as 0
  m.latency.observe_us(10'000'000);  // 10 s, past the last bound
  std::string text = m.render();
  CHECK(has_line(text, "rthub_delivery_latency_seconds_bucket{le=\"0.0005\"} 2"));
  CHECK(has_line(text, "rthub_delivery_latency_seconds_bucket{le=\"0.001\"} 2"));
  CHECK(has_line(text, "rthub_delivery_latency_seconds_bucket{le=\"0.0025\"} 3"));
  CHECK(has_line(text, "rthub_delivery_latency_seconds_bucket{le=\"5\"} 3"));
  CHECK(has_line(text, "rthub_delivery_latency_seconds_bucket{le=\"+Inf\"} 4"));
  CHECK(has_line(text, "rthub_delivery_latency_seconds_count 4"));
  CHECK(text.find("rthub_delivery_latency_seconds_sum 10.0023") != std::string::npos);
}

TEST_CASE("Metrics::snapshot gives the same numbers as render", "[metrics]") {
  Metrics m;
  m.of(websocket_kind()).open.add(2);
  m.of(event_stream_kind()).accepted.add(3);
  m.published.add(11);
  m.bytes_sent.add(100);
  m.count_error(codec::ErrorCode::kForbidden);
  m.count_error(codec::ErrorCode::kTooLarge);
  m.history_bytes.set(77);
  HubStats s = m.snapshot();
  REQUIRE(s.transport("ws"));
  CHECK(s.transport("ws")->connections == 2);
  CHECK(s.transport("sse")->accepted == 3);
  CHECK(s.messages_published == 11);
  CHECK(s.bytes_sent == 100);
  CHECK(s.errors == 2);
  CHECK(s.history_bytes == 77);
  CHECK(s.slow_consumers_dropped == 0);
}

TEST_CASE("Metrics::render writes the loop-busy and fan-out breakdown histograms apart",
          "[metrics]") {
  Metrics m;
  m.loop_busy.observe_us(3000);          // 3 ms
  m.loop_cpu.observe_us(1000);           // 1 ms of it on the CPU
  m.fanout_queued.observe_us(200);       // 0.2 ms
  m.fanout_first_write.observe_us(400);  // 0.4 ms
  m.fanout_last_write.observe_us(40'000);
  std::string text = m.render();
  for (const char* name :
       {"rthub_loop_busy_seconds", "rthub_loop_cpu_seconds", "rthub_fanout_queued_seconds",
        "rthub_fanout_first_write_seconds", "rthub_fanout_last_write_seconds"}) {
    INFO(name);
    CHECK(has_line(text, std::string("# TYPE ") + name + " histogram"));
    CHECK(has_line(text, std::string(name) + "_count 1"));
  }
  CHECK(has_line(text, "rthub_loop_busy_seconds_bucket{le=\"0.0025\"} 0"));
  CHECK(has_line(text, "rthub_loop_busy_seconds_bucket{le=\"0.005\"} 1"));
  CHECK(has_line(text, "rthub_loop_cpu_seconds_bucket{le=\"0.0005\"} 0"));
  CHECK(has_line(text, "rthub_loop_cpu_seconds_bucket{le=\"0.001\"} 1"));
  CHECK(has_line(text, "rthub_fanout_last_write_seconds_bucket{le=\"0.025\"} 0"));
  CHECK(has_line(text, "rthub_fanout_last_write_seconds_bucket{le=\"0.05\"} 1"));
  CHECK(has_line(text, "rthub_fanout_queued_seconds_bucket{le=\"0.0005\"} 1"));
  // Each histogram holds only its own observation.
  CHECK(has_line(text, "rthub_delivery_latency_seconds_count 0"));
}
