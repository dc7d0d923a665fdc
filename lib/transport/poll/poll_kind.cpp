#include "transport/poll/poll_kind.hpp"

namespace rthub {
namespace {

class PollKind final : public TransportKind {
 public:
  PollKind() : TransportKind("poll") {}
  std::string frame(std::string_view json) const override { return std::string(json); }
  bool frame_is_json() const override { return true; }
  bool carries_errors() const override { return false; }
  bool heartbeats() const override { return false; }
};

}  // namespace

const TransportKind& poll_kind() {
  static const PollKind kind;
  return kind;
}

}  // namespace rthub
