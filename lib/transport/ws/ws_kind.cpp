#include "transport/ws/ws_kind.hpp"

#include <memory>

namespace rthub {
namespace {

constexpr unsigned char kText = 0x1;

class WebSocketKind final : public TransportKind {
 public:
  WebSocketKind() : TransportKind("ws") {}
  std::string frame(std::string_view json) const override { return websocket_frame(kText, json); }
  // A client bounds the messages it accepts like the hub does: a big snapshot goes in parts.
  bool splits_snapshots() const override { return true; }
  Frame probe_frame() const override {
    // FIN + ping with a one-byte payload: libwebsockets hides empty pongs from the application.
    static const Frame ping = std::make_shared<const std::string>("\x89\x01h", 3);
    return ping;
  }
};

}  // namespace

const TransportKind& websocket_kind() {
  static const WebSocketKind kind;
  return kind;
}

std::string websocket_frame(unsigned char opcode, std::string_view payload) {
  // RFC 6455 section 5.2: FIN + opcode, then the 7, 16 or 64 bit length; server frames are not
  // masked.
  size_t n = payload.size();
  std::string out;
  out.reserve(n + 10);
  out.push_back(static_cast<char>(0x80 | opcode));
  if (n < 126) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xff));
  } else {
    out.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((uint64_t(n) >> shift) & 0xff));
  }
  out.append(payload);
  return out;
}

}  // namespace rthub
