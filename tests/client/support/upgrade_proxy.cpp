#include "support/upgrade_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>

namespace rthub_test {

UpgradeProxy::UpgradeProxy(int target_port, Mode mode) : target_port_(target_port), mode_(mode) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 64) != 0)
    throw std::runtime_error("proxy cannot listen");
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  if (pipe2(wake_pipe_, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  acceptor_ = std::thread([this] { accept_loop(); });
}

UpgradeProxy::~UpgradeProxy() {
  stopping_ = true;
  char byte = 1;
  (void)!write(wake_pipe_[1], &byte, 1);
  acceptor_.join();
  drop_all();
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> guard(lock_);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.join();
  close(listen_fd_);
  close(wake_pipe_[0]);
  close(wake_pipe_[1]);
}

void UpgradeProxy::track(int fd) {
  std::lock_guard<std::mutex> guard(lock_);
  open_fds_.push_back(fd);
}

void UpgradeProxy::untrack(int fd) {
  std::lock_guard<std::mutex> guard(lock_);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
}

void UpgradeProxy::drop_all() {
  std::lock_guard<std::mutex> guard(lock_);
  for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
}

void UpgradeProxy::accept_loop() {
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) <= 0) continue;
    if (fds[1].revents) break;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    track(fd);
    std::lock_guard<std::mutex> guard(lock_);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void UpgradeProxy::serve(int client_fd) {
  // Read the request head.
  std::string head;
  char buffer[16384];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
    pollfd p{client_fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) {
      if (stopping_) break;
      continue;
    }
    ssize_t n = recv(client_fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    head.append(buffer, static_cast<size_t>(n));
  }
  std::string lower = head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool upgrade = lower.find("\r\nupgrade: websocket") != std::string::npos;
  if (upgrade) upgrades_seen_++;
  while (mode_ == Mode::kHold && !stopping_) usleep(10 * 1000);  // until the test releases it
  Mode mode = mode_;
  bool stream = lower.compare(0, 12, "get /events?") == 0;
  if ((upgrade && mode == Mode::kRefuseUpgrade) ||
      ((upgrade || stream) && mode == Mode::kRefuseStreams)) {
    static const char kAnswer[] =
        "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 18\r\nConnection: "
        "close\r\n\r\n"
        "no upgrades here\r\n";
    send(client_fd, kAnswer, sizeof kAnswer - 1, MSG_NOSIGNAL);
  } else if (upgrade && mode == Mode::kSwallowUpgrade) {
    while (!stopping_) {  // until the client gives up or the proxy is cut
      pollfd p{client_fd, POLLIN, 0};
      if (poll(&p, 1, 200) > 0 && recv(client_fd, buffer, sizeof buffer, 0) <= 0) break;
    }
  } else if (head.find("\r\n\r\n") != std::string::npos) {
    int target = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(target_port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(target, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        send(target, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size())) {
      track(target);
      bool open = true;
      while (open && !stopping_) {
        pollfd fds[2] = {{client_fd, POLLIN, 0}, {target, POLLIN, 0}};
        if (poll(fds, 2, 200) <= 0) continue;
        for (int i = 0; i < 2 && open; ++i) {
          if (!fds[i].revents) continue;
          int from = i == 0 ? client_fd : target, to = i == 0 ? target : client_fd;
          ssize_t n = recv(from, buffer, sizeof buffer, 0);
          if (n <= 0 || send(to, buffer, static_cast<size_t>(n), MSG_NOSIGNAL) != n) open = false;
        }
      }
      untrack(target);
    }
    close(target);
  }
  untrack(client_fd);
  close(client_fd);
}

}  // namespace rthub_test
