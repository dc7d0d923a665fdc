// The host's auth hooks through the public C++ API: a real Hub on a free port, asked over plain
// HTTP for SSE streams, whose status line says what the hooks decided.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "rthub/hub.hpp"

namespace {

// The status line of GET `path` on 127.0.0.1:port ("HTTP/1.1 200 OK"), or "" on failure.
std::string status_of(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
      char buffer[1024];
      ssize_t n;
      while (response.find("\r\n") == std::string::npos &&
             (n = recv(fd, buffer, sizeof buffer, 0)) > 0)
        response.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  return response.substr(0, response.find("\r\n"));
}

}  // namespace

TEST_CASE("C++ auth hooks refuse connections and subscriptions, synchronously and later",
          "[auth]") {
  rthub::HubOptions options;
  options.port = 0;
  rthub::Hub hub(options);
  std::atomic<int> checks{0};
  rthub::AuthHooks hooks;
  hooks.on_connect = [](const rthub::ConnectRequest& r) {
    rthub::ConnectDecision d;
    if (r.token == "bad") {
      d.verdict = rthub::ConnectDecision::Verdict::kRefuse;
      d.status = 403;
    } else if (r.token == "reader") {
      d.verdict = rthub::ConnectDecision::Verdict::kAccept;
      d.rights.identity = "reader";
      d.rights.subscribe = {"public:*"};
    }
    return d;
  };
  hooks.on_channel = [&checks](const rthub::ChannelRequest& r, rthub::ChannelCompletion done) {
    ++checks;
    if (r.channel == "public:slow") {  // answered from another thread, later
      std::thread([done] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        done(true);
      }).detach();
      return;
    }
    done(r.allowed_by_rules && r.channel != "public:vetoed");
  };
  hub.set_auth_hooks(hooks);
  hub.start();
  REQUIRE_THROWS_AS(hub.set_auth_hooks(hooks), rthub::Error);  // only before start
  int port = hub.port();

  CHECK(status_of(port, "/events?channel=public:a&token=bad").rfind("HTTP/1.1 403", 0) == 0);
  CHECK(status_of(port, "/events?channel=public:a&token=reader").rfind("HTTP/1.1 200", 0) == 0);
  CHECK(status_of(port, "/events?channel=private&token=reader").rfind("HTTP/1.1 403", 0) == 0);
  CHECK(status_of(port, "/events?channel=public:vetoed&token=reader").rfind("HTTP/1.1 403", 0) ==
        0);
  CHECK(status_of(port, "/events?channel=public:slow&token=reader").rfind("HTTP/1.1 200", 0) == 0);
  CHECK(status_of(port, "/events?channel=anything").rfind("HTTP/1.1 200", 0) == 0);  // anonymous
  CHECK(checks.load() >= 5);
  hub.stop();
}
