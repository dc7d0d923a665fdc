#include "transport/bind_address.hpp"

#include <sys/socket.h>
#include <unistd.h>

namespace rthub {

bool try_bind_addresses(const std::string& host, int port,
                        const std::function<bool(const struct addrinfo&)>& attempt) {
  struct addrinfo hints {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  struct addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  bool any = host.empty() || host == "*" || host == "0.0.0.0";
  if (getaddrinfo(any ? "0.0.0.0" : host.c_str(), service.c_str(), &hints, &found) != 0)
    return false;
  bool done = false;
  for (auto* a = found; a && !done; a = a->ai_next) done = attempt(*a);
  freeaddrinfo(found);
  return done;
}

bool can_bind(const std::string& host, int port) {
  if (port == 0) return true;
  return try_bind_addresses(host, port, [](const struct addrinfo& a) {
    int fd = socket(a.ai_family, a.ai_socktype, a.ai_protocol);
    if (fd < 0) return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = bind(fd, a.ai_addr, a.ai_addrlen) == 0;
    close(fd);
    return ok;
  });
}

}  // namespace rthub
