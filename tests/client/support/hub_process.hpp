// hub_process.hpp: a real rthub-server process for the client tests, on a loopback port.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace rthub_test {

class HubProcess {
 public:
  // Starts `rthub-server --listen 127.0.0.1:<port> <args>` (port 0: a free one) and waits until
  // it says where it listens. Throws std::runtime_error when it does not start.
  explicit HubProcess(std::vector<std::string> args = {}, int port = 0);
  ~HubProcess();  // kills the process (even when frozen) and removes its log
  HubProcess(const HubProcess&) = delete;
  HubProcess& operator=(const HubProcess&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string log() const;

  void kill();       // SIGKILL and reap: a crash
  void terminate();  // SIGTERM and reap: a clean shutdown (WebSocket close 1001)
  void freeze();     // SIGSTOP: the process holds its sockets but answers nothing
  void thaw();       // SIGCONT
  void restart();    // starts again with the same arguments on the same port

 private:
  void launch();
  void reap(int signal);

  std::vector<std::string> args_;
  int port_;
  pid_t pid_ = -1;
  std::string log_path_;
};

// The path of a program found at configure time (RTHUB_SERVER, RTHUB_LISTEN, ...).
std::string server_path();

}  // namespace rthub_test
