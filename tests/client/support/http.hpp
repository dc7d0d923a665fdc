// http.hpp: the few plain HTTP requests the tests make to a hub (publish, metrics).
#pragma once

#include <string>

namespace rthub_test {

struct HttpAnswer {
  int status = 0;  // 0: no answer
  std::string body;
};

// One request on its own connection (Connection: close), waiting up to 5 s for the answer.
HttpAnswer http_request(int port, const std::string& method, const std::string& path,
                        const std::string& body = {});

// POST /publish {"channel":..,"type":"test","data":data}; the answer's status.
int publish(int port, const std::string& channel, const std::string& data);

// A counter of GET /metrics, or -1.
double metric(int port, const std::string& name);

// A free loopback TCP port (bound once, then released).
int free_port();

}  // namespace rthub_test
