// hub_metrics.hpp: the hub's own view of a run, read from its GET /metrics (Prometheus text):
// the per-message fan-out breakdown (publish -> every copy queued -> first socket write -> last
// socket write) and the event loop's busy time per iteration. rthub-bench samples the histograms
// before and after a step and reports the difference. Servers without these metrics (nchan, the
// floors) give empty samples, and nothing is reported for them.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

// One Prometheus histogram: cumulative counts by upper bound (seconds), count and sum.
struct PromHistogram {
  std::vector<double> le;
  std::vector<uint64_t> cumulative;
  uint64_t count = 0;
  double sum = 0;
};

using HubSample = std::map<std::string, PromHistogram>;

// The histograms named in `names` from one GET /metrics; empty when the server has none (or
// does not answer within 2 s).
inline HubSample scrape_hub(const sockaddr_in& dst, const std::string& host_port,
                            const std::vector<std::string>& names) {
  HubSample out;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string text;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) == 0) {
    std::string req =
        "GET /metrics HTTP/1.1\r\nHost: " + host_port + "\r\nConnection: close\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[16384];
      for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;)
        text.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  if (text.compare(0, 12, "HTTP/1.1 200") != 0) return out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    for (const auto& name : names) {
      if (line.compare(0, name.size(), name) != 0) continue;
      std::string_view rest = line.substr(name.size());
      size_t space = rest.rfind(' ');
      if (space == std::string_view::npos) continue;
      std::string value(rest.substr(space + 1));
      PromHistogram& h = out[name];
      if (rest.compare(0, 12, "_bucket{le=\"") == 0) {
        std::string le(rest.substr(12, rest.find('"', 12) - 12));
        h.le.push_back(le == "+Inf" ? 1e300 : std::strtod(le.c_str(), nullptr));
        h.cumulative.push_back(std::strtoull(value.c_str(), nullptr, 10));
      } else if (rest.compare(0, 7, "_count ") == 0) {
        h.count = std::strtoull(value.c_str(), nullptr, 10);
      } else if (rest.compare(0, 5, "_sum ") == 0) {
        h.sum = std::strtod(value.c_str(), nullptr);
      }
    }
  }
  return out;
}

// What a histogram gained between two samples: observations, mean, and quantiles given as the
// upper bound of the bucket they fall in (all a Prometheus histogram knows), in milliseconds.
struct HubDelta {
  uint64_t n = 0;
  double mean_ms = 0, p50_ms = 0, p99_ms = 0, max_ms = 0;  // max: the highest bucket reached
};

inline HubDelta hub_delta(const PromHistogram& a, const PromHistogram& b) {
  HubDelta d;
  if (b.count < a.count || b.le.size() != b.cumulative.size()) return d;
  d.n = b.count - a.count;
  if (d.n == 0) return d;
  d.mean_ms = (b.sum - a.sum) * 1e3 / static_cast<double>(d.n);
  auto before = [&](size_t i) { return i < a.cumulative.size() ? a.cumulative[i] : 0; };
  auto bound_ms = [&](size_t i) { return b.le[i] >= 1e300 ? -1.0 : b.le[i] * 1e3; };  // -1: +Inf
  bool have50 = false, have99 = false;
  for (size_t i = 0; i < b.le.size(); ++i) {
    uint64_t c = b.cumulative[i] - before(i);
    if (!have50 && c * 100 >= d.n * 50) d.p50_ms = bound_ms(i), have50 = true;
    if (!have99 && c * 100 >= d.n * 99) d.p99_ms = bound_ms(i), have99 = true;
    uint64_t below = i ? b.cumulative[i - 1] - before(i - 1) : 0;
    if (c > below) d.max_ms = bound_ms(i);
  }
  return d;
}

// The histograms rthub-bench reports, with their labels in its table.
inline const std::vector<std::pair<std::string, std::string>>& hub_breakdown_names() {
  static const std::vector<std::pair<std::string, std::string>> names = {
      {"rthub_fanout_queued_seconds", "publish -> all queued"},
      {"rthub_fanout_first_write_seconds", "publish -> first write"},
      {"rthub_fanout_last_write_seconds", "publish -> last write"},
      {"rthub_loop_busy_seconds", "loop iteration busy"},
      {"rthub_loop_cpu_seconds", "loop iteration CPU"},
  };
  return names;
}

}  // namespace bench
