#include "rthub/auth.hpp"

namespace rthub {

bool channel_allowed(const std::vector<std::string>& patterns, const std::string& channel) {
  for (const auto& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (channel.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0) return true;
    } else if (p == channel) {
      return true;
    }
  }
  return false;
}

}  // namespace rthub
