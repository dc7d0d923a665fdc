#include "transport/sse/sse_kind.hpp"

namespace rthub {
namespace {

class EventStreamKind final : public TransportKind {
 public:
  EventStreamKind() : TransportKind("sse") {}
  std::string frame(std::string_view json) const override { return event_stream_frame(json); }
  bool carries_errors() const override { return false; }
};

}  // namespace

const TransportKind& event_stream_kind() {
  static const EventStreamKind kind;
  return kind;
}

std::string event_stream_frame(std::string_view json) {
  std::string out;
  out.reserve(json.size() + 10);
  out += "data: ";
  for (size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < json.size() && json[i + 1] == '\n') ++i;
      out += "\ndata: ";
    } else {
      out.push_back(c);
    }
  }
  out += "\n\n";
  return out;
}

}  // namespace rthub
