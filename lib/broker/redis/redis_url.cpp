#include "broker/redis/redis_url.hpp"

#include <cstdlib>

#include "rthub/hub.hpp"

namespace rthub {
namespace {

int number(const std::string& text, int min, int max, const char* what) {
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end || v < min || v > max)
    throw Error(Errc::kInvalid, std::string("redis URL: bad ") + what);
  return static_cast<int>(v);
}

}  // namespace

RedisAddress parse_redis_url(const std::string& url) {
  const std::string scheme = "redis://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    throw Error(Errc::kInvalid, "redis URL must start with redis://");
  RedisAddress a;
  std::string rest = url.substr(scheme.size());
  size_t at = rest.rfind('@');
  if (at != std::string::npos) {
    std::string credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = credentials.find(':');
    if (colon == std::string::npos) {
      a.password = credentials;
    } else {
      a.user = credentials.substr(0, colon);
      a.password = credentials.substr(colon + 1);
    }
  }
  size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    std::string db = rest.substr(slash + 1);
    if (!db.empty()) a.db = number(db, 0, 1 << 20, "database number");
    rest = rest.substr(0, slash);
  }
  size_t colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']') == std::string::npos) {
    a.port = number(rest.substr(colon + 1), 1, 65535, "port");
    rest = rest.substr(0, colon);
  }
  if (!rest.empty()) a.host = rest;
  return a;
}

}  // namespace rthub
