// redis_url.hpp: reads redis://[[user]:password@]host[:port][/db].
#pragma once

#include <string>

namespace rthub {

struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user, password;
  int db = 0;
};

// Throws Error(kInvalid) with the reason when `url` is not a redis:// URL.
RedisAddress parse_redis_url(const std::string& url);

}  // namespace rthub
