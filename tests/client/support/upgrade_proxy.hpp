// upgrade_proxy.hpp: a loopback TCP proxy in front of a hub that can play the old proxy that
// WebSocket cannot pass (refusing or swallowing upgrade requests), the one that passes no
// streaming at all, and the network that cuts every connection at once (and, held, lets none
// back in for a while). Plain HTTP (publish,
// long-polling) always passes.
#pragma once

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace rthub_test {

class UpgradeProxy {
 public:
  enum class Mode {
    kPass,            // forward everything
    kRefuseUpgrade,   // answer an upgrade request with 502 and close
    kSwallowUpgrade,  // take an upgrade request and never answer
    kRefuseStreams,   // answer upgrades and event streams (GET /events) with 502: only
                      // long-polling and plain requests pass
    kHold,            // read each new request and forward it only once the mode changes: a
                      // client kept away (its reconnect waiting) while the test changes things
  };

  UpgradeProxy(int target_port, Mode mode);
  ~UpgradeProxy();
  UpgradeProxy(const UpgradeProxy&) = delete;
  UpgradeProxy& operator=(const UpgradeProxy&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void set_mode(Mode mode) { mode_ = mode; }
  // Cuts every open connection (both sides see a reset/EOF), as a network outage would.
  void drop_all();
  int upgrades_seen() const { return upgrades_seen_; }

 private:
  void accept_loop();
  void serve(int client_fd);
  void track(int fd);
  void untrack(int fd);

  int target_port_;
  std::atomic<Mode> mode_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::atomic<int> upgrades_seen_{0};
  std::thread acceptor_;
  std::mutex lock_;
  std::vector<std::thread> workers_;
  std::vector<int> open_fds_;
};

}  // namespace rthub_test
