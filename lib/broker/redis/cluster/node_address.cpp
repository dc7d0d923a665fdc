#include "broker/redis/cluster/node_address.hpp"

namespace rthub::cluster {

std::optional<NodeAddress> parse_node_address(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size() || text.size() - colon - 1 > 5)
    return std::nullopt;
  int port = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return std::nullopt;
  return NodeAddress{std::string(text.substr(0, colon)), port};
}

std::optional<std::vector<NodeAddress>> parse_seed_list(std::string_view text, std::string* error) {
  std::vector<NodeAddress> seeds;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view entry = text.substr(0, comma);
    auto address = parse_node_address(entry);
    if (!address || address->host.empty()) {
      if (error) *error = "not a host:port seed: \"" + std::string(entry) + "\"";
      return std::nullopt;
    }
    seeds.push_back(*address);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    if (text.empty()) {
      if (error) *error = "empty seed after a comma";
      return std::nullopt;
    }
  }
  if (seeds.empty()) {
    if (error) *error = "no seed node given";
    return std::nullopt;
  }
  return seeds;
}

}  // namespace rthub::cluster
