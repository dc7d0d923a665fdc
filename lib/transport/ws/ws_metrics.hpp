// ws_metrics.hpp: WebSocket's own counters in /metrics: the RFC 6455 violations the hub fails a
// connection (or refuses an upgrade) for, and the frame guard losing track of a connection.
#pragma once

#include <array>
#include <string>

#include "core/metrics.hpp"

namespace rthub {

enum class WsProtocolError { kUnmasked, kBadLength, kTooBig, kVersion, kCount };

struct WsMetrics final : MetricsExtension {
  std::array<Counter, static_cast<size_t>(WsProtocolError::kCount)> protocol_errors;
  Counter frame_guard_lost;  // ws:// connections whose frame headers the guard lost track of

  void count(WsProtocolError e) { protocol_errors[static_cast<size_t>(e)].add(); }
  void render(std::string& out) const override;
};

}  // namespace rthub
