#include "broker/redis/cluster/redirect.hpp"

#include "broker/redis/cluster/key_slot.hpp"

namespace rthub::cluster {

std::optional<Redirect> parse_redirect(std::string_view text) {
  Redirect::Kind kind;
  if (text.substr(0, 6) == "MOVED ") {
    kind = Redirect::Kind::kMoved;
    text.remove_prefix(6);
  } else if (text.substr(0, 4) == "ASK ") {
    kind = Redirect::Kind::kAsk;
    text.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  size_t space = text.find(' ');
  if (space == 0 || space == std::string_view::npos || space > 5) return std::nullopt;
  unsigned slot = 0;
  for (char c : text.substr(0, space)) {
    if (c < '0' || c > '9') return std::nullopt;
    slot = slot * 10 + static_cast<unsigned>(c - '0');
  }
  if (slot >= kSlotCount) return std::nullopt;
  auto target = parse_node_address(text.substr(space + 1));
  if (!target) return std::nullopt;
  return Redirect{kind, static_cast<uint16_t>(slot), *target};
}

}  // namespace rthub::cluster
