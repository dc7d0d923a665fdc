#include "support/http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace rthub_test {

HttpAnswer http_request(int port, const std::string& method, const std::string& path,
                        const std::string& body) {
  HttpAnswer answer;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return answer;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return answer;
  }
  std::string request = method + " " + path +
                        " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST")
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      close(fd);
      return answer;
    }
    sent += static_cast<size_t>(n);
  }
  std::string response;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  char buffer[8192];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    response.append(buffer, static_cast<size_t>(n));
    // Done when the head says how long the body is and all of it is here.
    size_t head_end = response.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      std::string head = response.substr(0, head_end);
      for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t cl = head.find("content-length:");
      if (cl != std::string::npos) {
        size_t length = std::stoul(head.substr(cl + 15));
        if (response.size() >= head_end + 4 + length) break;
      }
    }
  }
  close(fd);
  if (response.compare(0, 5, "HTTP/") != 0) return answer;
  answer.status = std::atoi(response.c_str() + response.find(' ') + 1);
  size_t head_end = response.find("\r\n\r\n");
  if (head_end != std::string::npos) answer.body = response.substr(head_end + 4);
  return answer;
}

int publish(int port, const std::string& channel, const std::string& data) {
  return http_request(port, "POST", "/publish",
                      "{\"channel\":\"" + channel + "\",\"type\":\"test\",\"data\":" + data + "}")
      .status;
}

double metric(int port, const std::string& name) {
  HttpAnswer answer = http_request(port, "GET", "/metrics");
  std::istringstream lines(answer.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.compare(0, name.size() + 1, name + " ") == 0)
      return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

namespace {

// The start of the kernel's ephemeral port range (where outgoing connections take their ports).
int ephemeral_start() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  return range >> low && low > 11000 ? low : 32768;
}

bool can_listen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && listen(fd, 1) == 0;
  close(fd);
  return ok;
}

}  // namespace

// Below the ephemeral range: a port bound with 0 comes from it, where an outgoing connection of
// a test running beside may take it before the server the caller starts binds it.
int free_port() {
  thread_local std::mt19937 random{std::random_device{}()};
  int end = ephemeral_start();
  std::uniform_int_distribution<int> pick(10000, end - 1);
  for (int attempt = 0; attempt < 200; ++attempt) {
    int port = pick(random);
    if (can_listen(port)) return port;
  }
  return -1;
}

}  // namespace rthub_test
