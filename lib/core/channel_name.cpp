#include "core/channel_name.hpp"

#include "rthub/error.hpp"
#include "rthub/message.hpp"

namespace rthub {
namespace {

constexpr const char kRule[] = "1-255 bytes of [A-Za-z0-9_.:@/-]";

}  // namespace

bool is_valid_channel_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '@' || c == '/' || c == '-';
    if (!ok) return false;
  }
  return true;
}

const char* bad_channel_name_text() noexcept {
  static const std::string text = std::string("bad channel name: ") + kRule;
  return text.c_str();
}

std::string bad_channel_name_text(std::string_view name) {
  return "bad channel name '" + std::string(name) + "': " + kRule;
}

void check_channel_name(std::string_view name) {
  if (!is_valid_channel_name(name)) throw Error(Errc::kInvalid, bad_channel_name_text(name));
}

}  // namespace rthub
