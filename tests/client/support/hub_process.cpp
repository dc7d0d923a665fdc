#include "support/hub_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/event_log.hpp"

namespace rthub_test {

std::string server_path() {
  return RTHUB_SERVER;
}

HubProcess::HubProcess(std::vector<std::string> args, int port)
    : args_(std::move(args)), port_(port) {
  char path[] = "/tmp/rthub-client-test-hub-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  close(fd);
  log_path_ = path;
  launch();
}

HubProcess::~HubProcess() {
  if (pid_ > 0) reap(SIGKILL);
  unlink(log_path_.c_str());
}

std::string HubProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void HubProcess::launch() {
  for (int attempt = 0; attempt < 50; ++attempt) {  // a port just freed may take a moment
    int log_fd = open(log_path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (log_fd < 0) throw std::runtime_error("cannot open the hub log");
    std::vector<std::string> argv_text = {server_path(), "--listen",
                                          "127.0.0.1:" + std::to_string(port_)};
    argv_text.insert(argv_text.end(), args_.begin(), args_.end());
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      dup2(log_fd, 2);
      int null_fd = open("/dev/null", O_RDWR);
      dup2(null_fd, 0);
      dup2(null_fd, 1);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(log_fd);
    pid_ = pid;
    // Starting is an event: a hang detector (support/event_log.hpp), not a latency bound.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kHangMs);
    while (std::chrono::steady_clock::now() < deadline) {
      // "rthub-server listening on http(s)://127.0.0.1:PORT"
      std::string text = log();
      size_t at = text.find("listening on http");
      size_t host = at == std::string::npos ? at : text.find("127.0.0.1:", at);
      if (host != std::string::npos && text.find('\n', host) != std::string::npos) {
        port_ = std::atoi(text.c_str() + host + 10);
        return;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ > 0) reap(SIGKILL);
    if (port_ == 0) break;  // nothing to wait for
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("rthub-server did not start: " + log());
}

void HubProcess::reap(int signal) {
  if (pid_ <= 0) return;
  ::kill(pid_, signal);
  if (signal != SIGKILL) ::kill(pid_, SIGCONT);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kHangMs);
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
}

void HubProcess::kill() {
  reap(SIGKILL);
}
void HubProcess::terminate() {
  reap(SIGTERM);
}
void HubProcess::freeze() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}
void HubProcess::thaw() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}
void HubProcess::restart() {
  if (pid_ > 0) reap(SIGKILL);
  launch();
}

}  // namespace rthub_test
