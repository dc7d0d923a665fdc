#include "transport/ws/ws_metrics.hpp"

namespace rthub {

void WsMetrics::render(std::string& out) const {
  using metrics_text::head;
  using metrics_text::line;
  head(out, "rthub_ws_protocol_errors_total", "counter",
       "WebSocket connections failed (or upgrades refused) for breaking RFC 6455, by reason.");
  static const char* const kViolations[] = {"unmasked", "bad_length", "too_big", "version"};
  for (size_t i = 0; i < protocol_errors.size(); ++i)
    line(out, "rthub_ws_protocol_errors_total",
         (std::string("{reason=\"") + kViolations[i] + "\"}").c_str(), protocol_errors[i].get());
  head(out, "rthub_ws_frame_guard_lost_total", "counter",
       "ws:// connections whose frame headers the guard lost track of (lws judges them alone).");
  line(out, "rthub_ws_frame_guard_lost_total", "", frame_guard_lost.get());
}

}  // namespace rthub
